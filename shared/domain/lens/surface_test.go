package lens_test

import (
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
)

func TestBackSurfaceToricInterpolation(t *testing.T) {
	d, err := lens.DesignScleral(lenstest.Toric(), lens.Clinical{HVIDMM: 11.8}, lens.DefaultScleralNomogram())
	if err != nil {
		t.Fatal(err)
	}
	b := &d.BackSurface
	flat, steep := &b.Profiles[0], &b.Profiles[1]
	for _, r := range []float64{0, 2, 5, 6.3, 7.5, 8.75} {
		zf, zs := flat.SagMM(r), steep.SagMM(r)
		for _, tt := range []struct{ m, want float64 }{
			{180, zf}, {0, zf}, {90, zs}, {270, zs},
			{135, (zf + zs) / 2}, {45, (zf + zs) / 2},
			{150, 0.75*zf + 0.25*zs},
		} {
			if got := b.SagMM(tt.m, r); !near(got, tt.want, 1e-12) {
				t.Errorf("SagMM(%g, %g) = %v, want %v", tt.m, r, got, tt.want)
			}
		}
		if got := b.Func(90)(r); got != zs {
			t.Errorf("Func(90)(%g) = %v, want %v", r, got, zs)
		}
		if got := b.SagMM(180, -r); got != zf {
			t.Errorf("negative r: %v", got)
		}
	}
}

// TestBlendIsSmooth checks that the scleral transition meets the optic
// zone and the haptic with the same slope: no ridge for the lathe to cut.
func TestBlendIsSmooth(t *testing.T) {
	d, err := lens.DesignScleral(lenstest.Toric(), lens.Clinical{HVIDMM: 11.8}, lens.DefaultScleralNomogram())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.BackSurface.Profiles {
		for _, z := range p.Zones {
			for _, r := range []float64{z.InnerMM, z.OuterMM} {
				if r == 0 || r == p.EdgeMM() {
					continue
				}
				const h = 1e-5
				left := (p.SagMM(r) - p.SagMM(r-h)) / h
				right := (p.SagMM(r+h) - p.SagMM(r)) / h
				if math.Abs(left-right) > 1e-4 {
					t.Errorf("meridian %v: slope jumps at %v (%v to %v)", p.MeridianDeg, r, left, right)
				}
			}
		}
	}
}

func TestSample(t *testing.T) {
	d, err := lens.DesignOrthoK(lenstest.Reference(), lens.Clinical{RefractionD: -2, HVIDMM: 11.8}, lens.DefaultOrthoKNomogram())
	if err != nil {
		t.Fatal(err)
	}
	s := d.BackSurface.Sample(0, 1060)
	if len(s.RMM) != 1061 || s.RMM[0] != 0 || s.RMM[1060] != d.TDMM/2 || s.SagMM[1060] != d.SagMM {
		t.Fatalf("samples %d from %v to %v, edge sag %v", len(s.RMM), s.RMM[0], s.RMM[1060], s.SagMM[1060])
	}
	// Linear interpolation between 0.005 mm samples reproduces the
	// surface to well under 0.1 micron, the lathe file's budget.
	f := d.BackSurface.Func(0)
	var worst float64
	for i := 1; i < len(s.RMM); i++ {
		mid := (s.RMM[i-1] + s.RMM[i]) / 2
		worst = max(worst, math.Abs(f(mid)-(s.SagMM[i-1]+s.SagMM[i])/2))
	}
	if worst > 1e-4 {
		t.Errorf("chordal error %v mm", worst)
	}
	var empty lens.BackSurface
	if !math.IsNaN(empty.SagMM(0, 1)) || empty.EdgeMM() != 0 {
		t.Error("an empty surface has a sag")
	}
}

func TestOptics(t *testing.T) {
	// Front radius for a few powers round-trips through the thick-lens
	// back vertex power.
	for _, p := range []float64{-10, -3, 0, 0.75, 5, 12} {
		r1 := lens.FrontRadiusMM(p, 7.8, 0.2, 1.43)
		if got := lens.BackVertexPowerD(r1, 7.8, 0.2, 1.43); !near(got, p, 1e-9) {
			t.Errorf("power %v: front %v gives %v", p, r1, got)
		}
	}
	// A plano lens of zero thickness has equal radii.
	if r1 := lens.FrontRadiusMM(0, 7.8, 0, 1.43); !near(r1, 7.8, 1e-12) {
		t.Errorf("thin plano front radius %v", r1)
	}
	// No convex front surface gives a hugely negative power.
	if r1 := lens.FrontRadiusMM(-80, 7.8, 0.2, 1.43); !math.IsNaN(r1) {
		t.Errorf("front radius for -80 D: %v", r1)
	}
}
