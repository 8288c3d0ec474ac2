package cornea_test

import (
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/errs"
)

// reference is the handbook's reference cornea: R0 7.80 mm, e 0.5.
var reference = cornea.Conic{R0MM: 7.80, P: cornea.PFromE(0.5)}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestHandbookSags(t *testing.T) {
	sphere780 := cornea.Conic{R0MM: 7.80, P: 1}
	sphere840 := cornea.Conic{R0MM: 8.40, P: 1}
	tests := []struct {
		name    string
		c       cornea.Conic
		chordMM float64
		want    float64
		tol     float64
	}{
		{"reference 6", reference, 6, 0.5939, 5e-5},
		{"reference 8", reference, 8, 1.0819, 5e-5},
		{"reference 10", reference, 10, 1.7498, 5e-5},
		{"reference 12", reference, 12, 2.6437, 5e-5},
		{"sphere 7.80 at 8", sphere780, 8, 1.1037, 5e-5},
		{"sphere 7.80 at 10", sphere780, 10, 1.8133, 5e-5},
		{"sphere 8.40 at 8.0", sphere840, 8.0, 1.013526, 5e-7},
		{"sphere 8.40 at 9.5", sphere840, 9.5, 1.471977, 5e-7},
		{"apex", reference, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Sag(tt.chordMM)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got, tt.want, tt.tol) {
				t.Errorf("Sag(%g) = %.6f, want %.6f", tt.chordMM, got, tt.want)
			}
		})
	}
}

func TestHandbookTangentAngles(t *testing.T) {
	for _, tt := range []struct{ y, want float64 }{{4.0, 29.79}, {4.5, 33.66}, {5.0, 37.62}} {
		got, err := reference.TangentAngleDeg(tt.y)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, tt.want, 0.005) {
			t.Errorf("TangentAngleDeg(%g) = %.4f, want %.2f", tt.y, got, tt.want)
		}
		slope, _ := reference.SlopeAt(tt.y)
		if !near(math.Atan(slope)*180/math.Pi, got, 1e-9) {
			t.Errorf("SlopeAt(%g) = %g disagrees with the angle", tt.y, slope)
		}
	}
}

func TestKeratometry(t *testing.T) {
	for _, tt := range []struct{ r, want float64 }{{7.80, 43.27}, {8.40, 40.18}} {
		k := cornea.Conic{R0MM: tt.r, P: 0.75}.FlatK(cornea.StandardKeratometricIndex)
		if !near(k.Dioptres, tt.want, 0.005) || k.RadiusMM != tt.r || k.Index != 337.5 {
			t.Errorf("FlatK(%g) = %+v, want %.2f D", tt.r, k, tt.want)
		}
		if d := cornea.KeratometricDioptres(tt.r, 337.5); !near(d, tt.want, 0.005) {
			t.Errorf("KeratometricDioptres(%g) = %g", tt.r, d)
		}
		if r := cornea.KeratometricRadiusMM(cornea.KeratometricDioptres(tt.r, 337.0), 337.0); !near(r, tt.r, 1e-12) {
			t.Errorf("KeratometricRadiusMM does not invert: %g", r)
		}
	}
}

func TestShapeParameters(t *testing.T) {
	tests := []struct {
		name     string
		p        float64
		e, q     float64
		maxChord float64
	}{
		{"prolate", 0.75, 0.5, -0.25, 2 * 7.8 / math.Sqrt(0.75)},
		{"sphere", 1, 0, 0, 15.6},
		{"oblate", 1.25, -0.5, 0.25, 2 * 7.8 / math.Sqrt(1.25)},
		{"paraboloid", 0, 1, -1, math.Inf(1)},
		{"hyperboloid", -0.5, math.Sqrt(1.5), -1.5, math.Inf(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cornea.Conic{R0MM: 7.8, P: tt.p}
			if !near(c.E(), tt.e, 1e-12) || !near(c.Q(), tt.q, 1e-12) || !near(cornea.PFromE(c.E()), tt.p, 1e-12) {
				t.Errorf("E %g Q %g, want %g %g", c.E(), c.Q(), tt.e, tt.q)
			}
			if m := c.MaxChordMM(); m != tt.maxChord && !near(m, tt.maxChord, 1e-12) {
				t.Errorf("MaxChordMM = %g, want %g", m, tt.maxChord)
			}
		})
	}
}

func TestRadii(t *testing.T) {
	// Axial radius sqrt(R0^2 + e^2 y^2); tangential = axial^3 / R0^2.
	ax, _ := reference.AxialRadiusMM(4)
	if !near(ax, math.Sqrt(7.8*7.8+0.25*16), 1e-12) {
		t.Errorf("AxialRadiusMM(4) = %g", ax)
	}
	tg, _ := reference.TangentialRadiusMM(4)
	if !near(tg, ax*ax*ax/(7.8*7.8), 1e-12) {
		t.Errorf("TangentialRadiusMM(4) = %g", tg)
	}
	// The tangential radius is the inverse curvature of z(y): check numerically.
	h := 1e-4
	z := func(y float64) float64 { s, _ := reference.Sag(2 * y); return s }
	d1 := (z(4+h) - z(4-h)) / (2 * h)
	d2 := (z(4+h) - 2*z(4) + z(4-h)) / (h * h)
	if k := math.Pow(1+d1*d1, 1.5) / d2; !near(k, tg, 1e-4) {
		t.Errorf("numerical tangential radius %g, formula %g", k, tg)
	}
}

func TestConicDomainErrors(t *testing.T) {
	sphere := cornea.Conic{R0MM: 7.8, P: 1}
	if _, err := sphere.Sag(15.6); err != nil {
		t.Errorf("Sag at the widest chord: %v", err)
	}
	if a, err := sphere.TangentAngleDeg(7.8); err != nil || a != 90 {
		t.Errorf("TangentAngleDeg at the equator = %g, %v", a, err)
	}
	tests := []struct {
		name string
		f    func() error
		msg  string
	}{
		{"chord beyond the conic", func() error { _, err := sphere.Sag(16); return err }, "a 16.00 mm chord exceeds what this conic supports"},
		{"negative chord", func() error { _, err := sphere.Sag(-1); return err }, "non-negative"},
		{"NaN chord", func() error { _, err := sphere.Sag(math.NaN()); return err }, "non-negative"},
		{"angle beyond", func() error { _, err := reference.TangentAngleDeg(9.1); return err }, "exceeds"},
		{"zero conic", func() error { _, err := cornea.Conic{}.Sag(8); return err }, "positive finite R0"},
		{"axial beyond", func() error { _, err := sphere.AxialRadiusMM(8); return err }, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f()
			if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want invalid containing %q", err, tt.msg)
			}
		})
	}
}

func TestExtrapolates(t *testing.T) {
	c := cornea.Conic{R0MM: 7.8, P: 0.75, MaxRadiusMM: 4}
	if c.Extrapolates(8) || !c.Extrapolates(8.2) {
		t.Error("Extrapolates wrong around the measured chord")
	}
	if !reference.Extrapolates(1) {
		t.Error("a hand-made conic has no measured chord")
	}
}
