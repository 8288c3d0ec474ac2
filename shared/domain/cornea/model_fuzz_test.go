package cornea_test

import (
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
)

// FuzzFit perturbs the heights of a coarse reference scan with arbitrary
// bytes (each a height change of up to 0.13 mm, or a dropped point) and
// requires Fit to give either an errs.Invalid error or a model whose
// numbers are finite, and whose sag queries never panic.
func FuzzFit(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{1, 2, 3, 250, 128, 127}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(2))
	f.Add([]byte("a cornea is not a conic"), uint8(3))
	f.Add(make([]byte, 400), uint8(4))
	base := topotest.Reference()
	base.StepMM = 0.4
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		s := base.Surface()
		for i, b := range data {
			k := (i * 7919) % len(s.Z)
			if b == 0x80 {
				s.Z[k] = math.NaN() // a hostile file: the fit must refuse it
				continue
			}
			s.Z[k] += float64(int8(b)) / 1000
		}
		opts := cornea.ModelOptions{FixedApex: mode&1 != 0, ZernikeOrder: int(mode>>1)%14 - 1}
		if opts.ZernikeOrder == 0 {
			opts.ZernikeOrder = -1
		}
		m, err := cornea.Fit(s, opts)
		if err != nil {
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("err = %v, want invalid", err)
			}
			return
		}
		for _, v := range []float64{m.FlatK().RadiusMM, m.SteepK().RadiusMM, m.FlatAxisDeg(), m.Mean.R0MM, m.Mean.P, m.ResidualRMSUM, m.Flat.P, m.Steep.P} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("non-finite model: %v", m)
			}
		}
		if a := m.FlatAxisDeg(); a < 0 || a >= 180 {
			t.Fatalf("axis %g", a)
		}
		for _, e := range []cornea.Extrapolation{cornea.ExtrapolateConic, cornea.ExtrapolateTangentLine} {
			mm := m.WithExtrapolation(e)
			for _, chord := range []float64{0, 8, 10, 12, 15} {
				for _, mer := range []float64{0, m.FlatAxisDeg(), 91, 271} {
					sag, _, err := mm.SagMM(mer, chord)
					if err == nil && (math.IsNaN(sag) || math.IsInf(sag, 0)) {
						t.Fatalf("sag %g at %g along %g", sag, chord, mer)
					}
					if err != nil && !errs.Is(errs.Invalid, err) {
						t.Fatalf("err = %v", err)
					}
					if _, err := mm.TangentAngleDeg(mer, chord/2); err != nil && !errs.Is(errs.Invalid, err) {
						t.Fatalf("err = %v", err)
					}
				}
			}
		}
	})
}
