package lenstest_test

import (
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/errs"
)

func TestReferenceSags(t *testing.T) {
	wide := lenstest.Reference()
	wide.MeasuredRadiusMM = 6.5 // so the 12 mm chord is on the conic
	tests := []struct {
		name    string
		eye     lenstest.Biconic
		chordMM float64
		want    float64
		source  string
	}{
		{"6 mm", wide, 6, 0.5939, lenstest.SourceMeasured},
		{"8 mm", wide, 8, 1.0819, lenstest.SourceMeasured},
		{"10 mm", wide, 10, 1.7498, lenstest.SourceMeasured},
		{"12 mm", wide, 12, 2.6437, lenstest.SourceMeasured},
		{"tangent line at 15 mm", lenstest.Reference(), 15, 3.6765, lenstest.SourceTangentLine},
		{"tangent line at 16 mm", lenstest.Reference(), 16, 4.0618, lenstest.SourceTangentLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, m := range []float64{0, 45, 90, 137} {
				got, src, err := tt.eye.SagMM(m, tt.chordMM)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-tt.want) > 5e-5 || src != tt.source {
					t.Errorf("SagMM(%g, %g) = %.5f %q, want %.4f %q", m, tt.chordMM, got, src, tt.want, tt.source)
				}
			}
		})
	}
}

func TestTangentAngles(t *testing.T) {
	eye := lenstest.Reference()
	for _, tt := range []struct{ y, want float64 }{{4.0, 29.79}, {4.5, 33.66}, {5.0, 37.62}, {7.5, 37.62}} {
		got, err := eye.TangentAngleDeg(30, tt.y)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-tt.want) > 0.005 {
			t.Errorf("TangentAngleDeg(%g) = %.3f, want %.2f", tt.y, got, tt.want)
		}
	}
}

func TestToricMeridians(t *testing.T) {
	eye := lenstest.Toric()
	if r, a := eye.FlatK(); r != 7.80 || a != 180 {
		t.Errorf("FlatK = %g, %g", r, a)
	}
	if r, a := eye.SteepK(); r != 7.60 || a != 90 {
		t.Errorf("SteepK = %g, %g", r, a)
	}
	// Along a principal meridian the biconic is that meridian's conic.
	for _, tt := range []struct {
		m float64
		c cornea.Conic
	}{{180, eye.Flat}, {0, eye.Flat}, {90, eye.Steep}} {
		got, _, _ := eye.SagMM(tt.m, 8)
		want, _ := tt.c.Sag(8)
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("meridian %g: %g, want %g", tt.m, got, want)
		}
	}
	f, _, _ := eye.SagMM(180, 8)
	s, _, _ := eye.SagMM(90, 8)
	if d := 1000 * (s - f); math.Abs(d-31.9) > 0.05 {
		t.Errorf("sag difference at y = 4: %.2f microns, want 31.9", d)
	}
	// A tilted flat axis moves the meridians with it.
	tilted := eye
	tilted.FlatAxisDeg = 30
	if _, a := tilted.SteepK(); a != 120 {
		t.Errorf("steep axis = %g, want 120", a)
	}
	tilted.FlatAxisDeg = 170
	if _, a := tilted.SteepK(); a != 80 {
		t.Errorf("steep axis = %g, want 80", a)
	}
}

func TestErrors(t *testing.T) {
	eye := lenstest.Reference()
	for _, tt := range []struct {
		name string
		f    func() error
	}{
		{"negative chord", func() error { _, _, err := eye.SagMM(0, -1); return err }},
		{"NaN chord", func() error { _, _, err := eye.SagMM(0, math.NaN()); return err }},
		{"negative semi-chord", func() error { _, err := eye.TangentAngleDeg(0, -1); return err }},
		{"beyond the conic", func() error {
			e := eye
			e.MeasuredRadiusMM = 20
			_, _, err := e.SagMM(0, 40)
			return err
		}},
		{"no radius", func() error { _, _, err := (lenstest.Biconic{}).SagMM(0, 8); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f(); !errs.Is(errs.Invalid, err) {
				t.Errorf("err = %v, want an Invalid error", err)
			}
		})
	}
}
