package lens_test

import (
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/errs"
)

func TestParseRefraction(t *testing.T) {
	rx := func(s, c, a float64) lens.Refraction { return lens.Refraction{SphereD: s, CylinderD: c, AxisDeg: a} }
	transposed := func(s, c, a float64) lens.Refraction {
		r := rx(s, c, a)
		r.Transposed = true
		return r
	}
	tests := []struct {
		in   string
		want lens.Refraction
		text string // String() of the result
	}{
		{"-3.00/-1.25x180", rx(-3, -1.25, 180), "-3.00 / -1.25 x 180"},
		{"-3.00 / -1.25 x 180", rx(-3, -1.25, 180), "-3.00 / -1.25 x 180"},
		{"-3.00/-1.25×180", rx(-3, -1.25, 180), "-3.00 / -1.25 x 180"},
		{"-3.00-1.25x180", rx(-3, -1.25, 180), "-3.00 / -1.25 x 180"},
		{"-3.00 -1.25 X 180", rx(-3, -1.25, 180), "-3.00 / -1.25 x 180"},
		{"+1.50/-0.75x90", rx(1.5, -0.75, 90), "+1.50 / -0.75 x 90"},
		{"pl/-1.00x90", rx(0, -1, 90), "plano / -1.00 x 90"},
		{"Plano / -1.00 x 90", rx(0, -1, 90), "plano / -1.00 x 90"},
		{"plano", rx(0, 0, 0), "plano"},
		{"PL", rx(0, 0, 0), "plano"},
		{"-3.00DS", rx(-3, 0, 0), "-3.00 DS"},
		{"-3.00 D", rx(-3, 0, 0), "-3.00 DS"},
		{"-2.5", rx(-2.5, 0, 0), "-2.50 DS"},
		{"  +4  ", rx(4, 0, 0), "+4.00 DS"},
		{"-3.00 DS / -1.25 DC x 180", rx(-3, -1.25, 180), "-3.00 / -1.25 x 180"},
		{"-3.00 sph -1.25 cyl axis 180", rx(-3, -1.25, 180), "-3.00 / -1.25 x 180"},
		{"-3.00/-1.25 @ 45°", rx(-3, -1.25, 45), "-3.00 / -1.25 x 45"},
		{"-3,00/-1,25x5", rx(-3, -1.25, 5), "-3.00 / -1.25 x 5"},
		{"−3.00/−1.25x180", rx(-3, -1.25, 180), "-3.00 / -1.25 x 180"},
		{"-3.125/-0.375x12.5", rx(-3.125, -0.375, 12.5), "-3.125 / -0.375 x 12.5"},
		// 0 and 180 are one meridian, written 180.
		{"-1.00/-0.50x0", rx(-1, -0.5, 180), "-1.00 / -0.50 x 180"},
		// A zero cylinder leaves a sphere.
		{"-3.00/-0.00x90", rx(-3, 0, 0), "-3.00 DS"},
		// Plus cylinder, transposed: sphere + cylinder, sign changed, axis turned 90.
		{"-3.00/+1.25x90", transposed(-1.75, -1.25, 180), "-1.75 / -1.25 x 180"},
		{"-1.75 / +1.25 x 180", transposed(-0.5, -1.25, 90), "-0.50 / -1.25 x 90"},
		{"pl/+2.00x45", transposed(2, -2, 135), "+2.00 / -2.00 x 135"},
		{"+29.00/+1.00x30", transposed(30, -1, 120), "+30.00 / -1.00 x 120"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := lens.ParseRefraction(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseRefraction(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.text {
				t.Errorf("String() = %q, want %q", s, tt.text)
			}
			again, err := lens.ParseRefraction(got.String())
			want := got
			want.Transposed = false
			if err != nil || again != want {
				t.Errorf("ParseRefraction(%q) = %+v, %v; want %+v", got.String(), again, err, want)
			}
		})
	}
}

func TestParseRefractionErrors(t *testing.T) {
	tests := []struct{ in, says string }{
		{"", "no refraction given"},
		{"   ", "no refraction given"},
		{"abc", "is not a refraction"},
		{"-3.00/-1.25", "cylinder has no axis: add it, e.g. -3.00 / -1.25 x 180"},
		{"-3.00 -1.25", "cylinder has no axis"},
		{"-3.00/-1.25x200", "axis 200 is not an axis: axes run from 0 to 180"},
		{"-3.00/-1.25x-10", "the axis must be a number of degrees"},
		{"-3.00/-1.25x", "the axis must be a number of degrees"},
		{"-3.00x180", "an axis belongs to a cylinder"},
		{"-3.00/1.25x180", "needs its sign"},
		{"-3.00 1.25x180", "is not a refraction"},
		{"-3.00/", `no cylinder after the "/"`},
		{"-3.00/-1.25x180 OU", "unexpected text after the axis"},
		{"-35.00", "sphere -35.00 D is beyond the ±30.00 D"},
		{"-3.00/-12.00x90", "cylinder -12.00 D is more than the 10.00 D"},
		{"+29.50/+1.00x90", "transposed to minus cylinder the sphere is +30.50 D"},
		{"1e3", "is not a refraction"},
		{"NaN", "is not a refraction"},
		{"--3.00", "is not a refraction"},
		{strings.Repeat("-3.00 ", 20), "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := lens.ParseRefraction(tt.in)
			if err == nil {
				t.Fatalf("no error; got %+v", r)
			}
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "rx" || !strings.Contains(errs.Message(err), tt.says) {
				t.Errorf("err = %v (field %q), want Invalid on rx saying %q", err, errs.FieldOf(err), tt.says)
			}
		})
	}
}

// FuzzParseRefraction: ParseRefraction never panics; it fails with an
// Invalid error on "rx", or gives a refraction in range, in minus-cylinder
// form, whose String parses back to it.
func FuzzParseRefraction(f *testing.F) {
	for _, s := range []string{"-3.00/-1.25x180", "+1.50/-0.75x90", "pl/-1.00x90", "plano", "-3.00DS", "-2.5",
		"-3.00/+1.25x90", "-3.00 / -1.25 × 180°", "-3,00-1,25@0", "x", "/", "-0.00/+0.00x0", "+30/+0.001x179.9999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := lens.ParseRefraction(s)
		if err != nil {
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "rx" {
				t.Fatalf("ParseRefraction(%q): %v is not an Invalid error on rx", s, err)
			}
			return
		}
		if !(r.SphereD >= -30 && r.SphereD <= 30 && r.CylinderD >= -10 && r.CylinderD <= 0 && r.VertexMM == 0) {
			t.Fatalf("ParseRefraction(%q) = %+v: out of range", s, r)
		}
		if (r.CylinderD == 0) != (r.AxisDeg == 0) || !(r.AxisDeg >= 0 && r.AxisDeg <= 180) {
			t.Fatalf("ParseRefraction(%q) = %+v: cylinder and axis disagree", s, r)
		}
		again, err := lens.ParseRefraction(r.String())
		r.Transposed = false
		if err != nil || again != r {
			t.Fatalf("ParseRefraction(%q) = %+v; its String %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}

func TestRefractionAtCornea(t *testing.T) {
	tests := []struct {
		name     string
		rx       lens.Refraction
		vertexMM float64
		want     lens.Refraction
	}{
		// Each principal meridian on its own: -6 at 12 mm is -5.60 (the
		// handbook's number) and -8 is -7.30, so the cylinder shrinks.
		{"minus cylinder", lens.Refraction{SphereD: -6, CylinderD: -2, AxisDeg: 180}, 12,
			lens.Refraction{SphereD: -6 / 1.072, CylinderD: -8/1.096 + 6/1.072, AxisDeg: 180}},
		{"plus sphere", lens.Refraction{SphereD: 5, CylinderD: -1, AxisDeg: 90}, 12,
			lens.Refraction{SphereD: 5 / 0.94, CylinderD: 4/0.952 - 5/0.94, AxisDeg: 90}},
		{"sphere", lens.Refraction{SphereD: -10}, 12, lens.Refraction{SphereD: -10 / 1.12}},
		{"its own vertex distance wins", lens.Refraction{SphereD: -6, CylinderD: -2, AxisDeg: 30, VertexMM: 10}, 12,
			lens.Refraction{SphereD: -6 / 1.06, CylinderD: -8/1.08 + 6/1.06, AxisDeg: 30}},
		{"at the cornea already", lens.Refraction{SphereD: -6, CylinderD: -2, AxisDeg: 30}, 0,
			lens.Refraction{SphereD: -6, CylinderD: -2, AxisDeg: 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.rx.AtCornea(tt.vertexMM)
			if !near(got.SphereD, tt.want.SphereD, 1e-12) || !near(got.CylinderD, tt.want.CylinderD, 1e-12) ||
				got.AxisDeg != tt.want.AxisDeg || got.VertexMM != 0 {
				t.Errorf("AtCornea = %+v, want %+v", got, tt.want)
			}
			// Along each principal meridian it is that meridian's power vertexed.
			for _, m := range []float64{tt.rx.AxisDeg, tt.rx.AxisDeg + 90} {
				v := tt.vertexMM
				if tt.rx.VertexMM != 0 {
					v = tt.rx.VertexMM
				}
				if want := lens.VertexD(tt.rx.MeridianPowerD(m), v); !near(got.MeridianPowerD(m), want, 1e-12) {
					t.Errorf("meridian %g: %v, want %v", m, got.MeridianPowerD(m), want)
				}
			}
		})
	}
	if got := (lens.Refraction{SphereD: -6, CylinderD: -2, AxisDeg: 180}).AtCornea(12); !near(got.SphereD, -5.60, 0.005) ||
		!near(got.SphereD+got.CylinderD, -7.30, 0.005) {
		t.Errorf("-6.00 / -2.00 x 180 at 12 mm: %+v, want -5.60 and -7.30 in the principal meridians", got)
	}
}

func TestResidualAstigmatism(t *testing.T) {
	k := func(r, axis float64) lens.KReading { return lens.KReading{RadiusMM: r, D: 337.5 / r, AxisDeg: axis} }
	// A cornea with cyl D of astigmatism, flat along flatAxis.
	cornea := func(cyl, flatAxis float64) (lens.KReading, lens.KReading) {
		f := k(7.80, flatAxis)
		s := k(337.5/(f.D+cyl), flatAxis+90)
		if s.AxisDeg > 180 {
			s.AxisDeg -= 180
		}
		return f, s
	}
	tests := []struct {
		name           string
		rx             lens.Refraction // at the cornea
		cyl, flatAxis  float64
		wantCyl, wantA float64
	}{
		{"refraction matches the cornea", lens.Refraction{SphereD: -2, CylinderD: -1, AxisDeg: 180}, 1, 180, 0, 0},
		{"more refractive cylinder, same axis", lens.Refraction{SphereD: -2, CylinderD: -1.5, AxisDeg: 180}, 0.5, 180, -1, 180},
		{"less refractive cylinder", lens.Refraction{SphereD: -2, CylinderD: -0.5, AxisDeg: 180}, 1.5, 180, -1, 90},
		{"spherical refraction, toric cornea", lens.Refraction{SphereD: -2}, 2, 180, -2, 90},
		{"toric refraction, spherical cornea", lens.Refraction{SphereD: -2, CylinderD: -0.75, AxisDeg: 20}, 0, 180, -0.75, 20},
		{"against the rule cornea, with the rule refraction", lens.Refraction{CylinderD: -1, AxisDeg: 180}, 1, 90, -2, 180},
		// Cylinders at 45 and 180 do not cancel: as power vectors the
		// refraction (J0 0, J45 0.5) less the cornea (J0 0.5, J45 0)
		// leaves J0 -0.5, J45 0.5: -1.41 x 67.5.
		{"oblique refraction on a with the rule cornea", lens.Refraction{CylinderD: -1, AxisDeg: 45}, 1, 180, -2 * 0.7071067811865476, 67.5},
		{"oblique both ways", lens.Refraction{CylinderD: -1, AxisDeg: 135}, 1, 45, -2, 135},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, s := cornea(tt.cyl, tt.flatAxis)
			c := lens.CornealAstigmatism(f, s)
			if !near(c.CylinderD, -tt.cyl, 1e-9) || (tt.cyl != 0 && !sameAxis(c.AxisDeg, tt.flatAxis)) {
				t.Errorf("corneal astigmatism %+v, want -%g x %g", c, tt.cyl, tt.flatAxis)
			}
			got := lens.ResidualAstigmatism(tt.rx, f, s)
			if !near(got.CylinderD, tt.wantCyl, 1e-9) || (tt.wantCyl != 0 && !sameAxis(got.AxisDeg, tt.wantA)) {
				t.Errorf("residual %+v, want %g x %g", got, tt.wantCyl, tt.wantA)
			}
			if want := tt.rx.PowerVector().Sub(lens.PowerVector{J0D: c.J0D, J45D: c.J45D}); !near(got.J0D, want.J0D, 1e-12) || !near(got.J45D, want.J45D, 1e-12) {
				t.Errorf("power vector %v, %v; want %v", got.J0D, got.J45D, want)
			}
		})
	}
}

func TestPowerVectorRoundTrip(t *testing.T) {
	for _, r := range []lens.Refraction{
		{SphereD: -3, CylinderD: -1.25, AxisDeg: 180}, {SphereD: 1.5, CylinderD: -0.75, AxisDeg: 90},
		{SphereD: -2, CylinderD: -3, AxisDeg: 45}, {SphereD: 0.25, CylinderD: -6, AxisDeg: 17}, {SphereD: -4},
	} {
		got := r.PowerVector().Refraction()
		if !near(got.SphereD, r.SphereD, 1e-12) || !near(got.CylinderD, r.CylinderD, 1e-12) || got.AxisDeg != r.AxisDeg {
			t.Errorf("%v -> %+v -> %+v", r, r.PowerVector(), got)
		}
		// A power vector gives the power along every meridian.
		p := r.PowerVector()
		for _, m := range []float64{0, 30, 45, 90, 123} {
			a := 2 * m * math.Pi / 180
			if want := p.MD + p.J0D*math.Cos(a) + p.J45D*math.Sin(a); !near(r.MeridianPowerD(m), want, 1e-12) {
				t.Errorf("%v along %g: %v, want %v", r, m, r.MeridianPowerD(m), want)
			}
		}
	}
}

func sameAxis(a, b float64) bool {
	d := math.Mod(math.Mod(a-b, 180)+180, 180)
	return d < 1e-6 || 180-d < 1e-6
}
