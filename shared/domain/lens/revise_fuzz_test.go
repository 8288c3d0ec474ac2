package lens_test

import (
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/errs"
)

// FuzzRevise revises designs with arbitrary overrides: a revision fails
// with an Invalid error (naming the field when an override is out of range
// or does not apply), or gives a design whose key values
// are finite and whose Revision records it.
func FuzzRevise(f *testing.F) {
	f.Add(uint8(0), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, uint8(0))
	f.Add(uint8(1), 7.9, 0.0, 0.0, 0.75, 0.0, 0.62, 30.0, uint8(1))
	f.Add(uint8(2), 0.0, 10.0, 16.5, -3.0, 3.9, 0.0, 38.0, uint8(2))
	f.Add(uint8(2), 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 89.0, uint8(3))
	f.Add(uint8(0), 5.5, 8.5, 9.0, 30.0, 0.0, 0.0, 0.0, uint8(0))
	eye, in := lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	var ds [3]*lens.Design
	for i, typ := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
		d, err := lens.New(typ, eye, in, lens.DefaultNomograms())
		if err != nil {
			f.Fatal(err)
		}
		ds[i] = d
	}
	f.Fuzz(func(t *testing.T, which uint8, bozr, bozd, td, power, sag, rzd, angle float64, flags uint8) {
		o := lens.Overrides{BOZRMM: bozr, BOZDMM: bozd, TDMM: td, LensSagMM: sag, ReturnZoneDepthMM: rzd}
		if flags&1 != 0 {
			o.PowerD = &power
		}
		if flags&2 != 0 {
			o.LandingAngles = []lens.LandingAngle{{90, angle}}
		}
		if flags&4 != 0 {
			toric := flags&8 != 0
			o.Toric = &toric
		}
		r, err := lens.Revise(ds[int(which)%3], eye, in, o)
		if err != nil {
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("%v: not an Invalid error", err)
			}
			return
		}
		v := r.Values()
		for _, x := range []float64{v.BOZRMM, v.BOZDMM, v.TDMM, v.SagMM, v.PowerD, v.FrontRadiusMM, v.LensSagMM, v.CentralClearanceUM} {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Fatalf("non-finite value in %+v", v)
			}
		}
		if r.Revision == nil || r.Revision.Number != 1 {
			t.Fatalf("revision %+v", r.Revision)
		}
	})
}

func BenchmarkRevise(b *testing.B) {
	eye, in := lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	d, err := lens.DesignScleral(eye, in, lens.DefaultScleralNomogram())
	if err != nil {
		b.Fatal(err)
	}
	o := lens.Overrides{LensSagMM: d.Scleral.LensSagMM - 0.1, LandingAngles: []lens.LandingAngle{{180, 38}, {90, 39}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lens.Revise(d, eye, in, o); err != nil {
			b.Fatal(err)
		}
	}
}
