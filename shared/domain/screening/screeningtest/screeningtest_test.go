package screeningtest_test

import (
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/screening/screeningtest"
	"github.com/lensflow/lensflow/shared/errs"
)

// On a conic the axial radius at semi-chord y is sqrt(R0^2 + e^2 y^2)
// (handbook, "Surfaces"); on a biconic, along a principal meridian, that
// meridian's conic.
func TestAxialPowerOfConics(t *testing.T) {
	axial := func(r0, p, y float64) float64 { return 337.5 / math.Sqrt(r0*r0+(1-p)*y*y) }
	tests := []struct {
		name   string
		c      screeningtest.Cornea
		deg, h float64
		want   float64
	}{
		{"reference, apex limit", screeningtest.Reference(), 30, 1e-4, 337.5 / 7.80},
		{"reference at 1.5 mm", screeningtest.Reference(), 30, 1.5, axial(7.80, 0.75, 1.5)},
		{"reference at 3 mm", screeningtest.Reference(), 250, 3, axial(7.80, 0.75, 3)},
		{"toric, flat meridian", screeningtest.Toric(), 180, 2, axial(7.80, 0.75, 2)},
		{"toric, steep meridian", screeningtest.Toric(), 270, 2, axial(7.60, 0.75, 2)},
		{"oblate at 3 mm", screeningtest.Oblate(), 90, 3, axial(8.6, 1.5, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.AxialPowerD(tt.deg, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tt.want) > 1e-6 {
				t.Errorf("AxialPowerD(%g, %g) = %.6f, want %.6f", tt.deg, tt.h, got, tt.want)
			}
		})
	}
	// The handbook's K of 7.80 mm.
	if k, _ := screeningtest.Reference().AxialPowerD(0, 1e-6); math.Abs(k-43.27) > 0.005 {
		t.Errorf("apical power %.3f, want 43.27", k)
	}
}

// With bumps, the power follows the height's numerical derivative along
// the semi-meridian, and the centre stays the apex (zero slope).
func TestAxialPowerWithBumps(t *testing.T) {
	for _, c := range []screeningtest.Cornea{screeningtest.InferiorCone(60), screeningtest.Scarred()} {
		const e = 1e-5
		zx := (c.HeightMM(e, 0) - c.HeightMM(-e, 0)) / (2 * e)
		zy := (c.HeightMM(0, e) - c.HeightMM(0, -e)) / (2 * e)
		if math.Abs(zx) > 1e-9 || math.Abs(zy) > 1e-9 || math.Abs(c.HeightMM(0, 0)) > 1e-12 {
			t.Errorf("%+v: the centre is not the apex: z %g, slope (%g, %g)", c.Bumps, c.HeightMM(0, 0), zx, zy)
		}
		for _, deg := range []float64{0, 45, 100, 210, 251, 270, 330} {
			for _, h := range []float64{0.5, 1.5, 3} {
				th := deg * math.Pi / 180
				z := func(r float64) float64 { return c.HeightMM(r*math.Cos(th), r*math.Sin(th)) }
				s := (z(h+e) - z(h-e)) / (2 * e)
				want := 337.5 / (h * math.Sqrt(1+s*s) / s)
				got, err := c.AxialPowerD(deg, h)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-want) > 1e-4 {
					t.Errorf("%+v at %g deg, %g mm: %.5f D, numerical %.5f D", c.Bumps, deg, h, got, want)
				}
			}
		}
	}
	// A cone steepens the map below it.
	c := screeningtest.InferiorCone(60)
	inf, _ := c.AxialPowerD(250, 2)
	sup, _ := c.AxialPowerD(70, 2)
	if !(inf > sup+3) {
		t.Errorf("inferior %.2f D, superior %.2f D: the cone does not steepen the inferior map", inf, sup)
	}
}

func TestAxialPowerRefuses(t *testing.T) {
	lid := screeningtest.Reference()
	lid.SuperiorLidMM = 2.5
	tests := []struct {
		name   string
		c      screeningtest.Cornea
		deg, h float64
		kind   errs.Kind
	}{
		{"zero radius", screeningtest.Reference(), 0, 0, errs.Invalid},
		{"negative radius", screeningtest.Reference(), 0, -1, errs.Invalid},
		{"NaN angle", screeningtest.Reference(), math.NaN(), 1, errs.Invalid},
		{"beyond the edge", screeningtest.Reference(), 0, 10, errs.Invalid},
		{"above the lid", lid, 90, 3, errs.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.c.AxialPowerD(tt.deg, tt.h); errs.KindOf(err) != tt.kind {
				t.Errorf("err %v, want kind %v", err, tt.kind)
			}
		})
	}
	if _, err := lid.AxialPowerD(270, 3); err != nil {
		t.Errorf("below the lid: %v", err)
	}
}

// The fitted model of an analytic cornea without bumps is the cornea.
func TestFitInputs(t *testing.T) {
	in, m, err := screeningtest.Toric().FitInputs(cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := screeningtest.Toric().Inputs()
	// The fitted Sim-K is on the 3 mm ring; the analytic inputs' is apical.
	simK := func(r float64) float64 { return 337.5 / math.Sqrt(r*r+0.25*1.5*1.5) }
	if math.Abs(in.SimK.FlatD-simK(7.8)) > 1e-3 || math.Abs(in.SimK.SteepD-simK(7.6)) > 1e-3 ||
		math.Abs(in.SimK.FlatAxisDeg-180) > 1e-6 && math.Abs(in.SimK.FlatAxisDeg) > 1e-6 ||
		math.Abs(in.ApicalKD-want.ApicalKD) > 1e-6 || math.Abs(in.Q-want.Q) > 0.005 || in.ResidualRMSUM > 0.01 {
		t.Errorf("fitted %+v, analytic %+v", in, want)
	}
	if in.Map == nil || len(in.ZernikeUM) != cornea.ZernikeTerms(cornea.DefaultZernikeOrder) || in.ZernikeZoneMM != 8 || m == nil {
		t.Errorf("map %v, %d Zernike terms over %g mm", in.Map, len(in.ZernikeUM), in.ZernikeZoneMM)
	}
}
