package lathe_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/errs"
)

// TestSampleTolerance proves the sampler's promise on a grid of 0.1 µm
// steps (tens of thousands of radii per profile, far denser than the
// points), plus the zone junctions and their immediate neighbours.
func TestSampleTolerance(t *testing.T) {
	rg, breaks := reverseGeometry()
	for _, tc := range []struct {
		name     string
		p        lathe.Profile
		rMax     float64
		sampler  lathe.Sampler
		kinks    []float64
		minCount int
		maxCount int
	}{
		{"sphere 7.8", sphere(7.8), 5.2, lathe.Sampler{}, nil, 1000, 1200},
		{"sphere 7.8, 0.01 µm", sphere(7.8), 5.2, lathe.Sampler{TolUM: 0.01}, nil, 1000, 1200},
		{"conic 7.8 e 0.5", conic(7.8, 0.75), 5.2, lathe.Sampler{}, nil, 1000, 1200},
		{"steep hyperbola", conic(6.5, -1.5), 5.5, lathe.Sampler{TolUM: 0.05}, nil, 1000, 1300},
		{"reverse geometry with breaks", rg, 5.2, lathe.Sampler{Breaks: breaks}, breaks, 1000, 1200},
		{"reverse geometry, kinks found", rg, 5.2, lathe.Sampler{}, breaks, 1000, 1300},
		{"reverse geometry, coarse steps, kinks found", rg, 5.2, lathe.Sampler{MaxStepMM: 0.3}, breaks, 20, 400},
		{"scleral density", sphere(9), 8.75, lathe.Sampler{MaxStepMM: 0.0028}, nil, 3100, 3200},
		{"coarse sphere: only the tolerance", sphere(7.8), 5.2, lathe.Sampler{MaxStepMM: 1}, nil, 30, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := tc.sampler.Sample(tc.p, tc.rMax)
			if err != nil {
				t.Fatal(err)
			}
			tol := tc.sampler.TolUM
			if tol == 0 {
				tol = lathe.DefaultTolUM
			}
			if n := len(pts); n < tc.minCount || n > tc.maxCount {
				t.Errorf("%d points, want %d to %d", n, tc.minCount, tc.maxCount)
			}
			if pts[0].XMM != tc.rMax || pts[len(pts)-1] != (lathe.Point{}) {
				t.Errorf("points run from %v to %v, want from the edge %v to the centre", pts[0], pts[len(pts)-1], tc.rMax)
			}
			if err := validMeridian(pts); err != nil {
				t.Fatal(err)
			}
			worst, at := maxDeviationUM(t, pts, tc.p, 1e-4, tc.kinks...)
			if worst >= tol {
				t.Errorf("interpolation off by %.4f µm at r = %.6f mm, tolerance %g µm", worst, at, tol)
			}
			t.Logf("%d points, worst %.5f µm at r = %.4f mm", len(pts), worst, at)
			if tc.sampler.Breaks != nil {
				for _, b := range tc.sampler.Breaks {
					if !slices.ContainsFunc(pts, func(p lathe.Point) bool { return p.XMM == b }) {
						t.Errorf("break %v is not a point", b)
					}
				}
			}
		})
	}
}

// validMeridian checks the points with Surface.Validate.
func validMeridian(pts []lathe.Point) error {
	s := lathe.Surface{
		Side: lathe.Back, Meridians: []lathe.Meridian{{Points: pts}},
		DiameterMM: 2 * pts[0].XMM, Parts: 1,
	}
	return s.Validate()
}

// TestSampleCheckIsSharp shows the dense check used above detects a
// sampling that misses the tolerance: uniform 0.1 mm steps that ignore the
// reverse geometry's kinks.
func TestSampleCheckIsSharp(t *testing.T) {
	rg, breaks := reverseGeometry()
	var pts []lathe.Point
	for i := 52; i >= 0; i-- {
		x := float64(i) * 0.1
		if i == 30 || i == 38 {
			x += 0.05 // step over the junctions
		}
		pts = append(pts, lathe.Point{XMM: x, ZMM: rg(x)})
	}
	if worst, _ := maxDeviationUM(t, pts, rg, 1e-4, breaks...); worst < 1 {
		t.Fatalf("worst %.4f µm: the check cannot see a missed kink", worst)
	}
}

func TestSampleWithBreaksPlacesJunctions(t *testing.T) {
	rg, breaks := reverseGeometry()
	// Coarse steps, so that the kinks need refinement unless given.
	sp := lathe.Sampler{MaxStepMM: 0.3, Breaks: append([]float64{-1, 0, 5.2, 9, breaks[1]}, breaks...)}
	with, err := sp.Sample(rg, 5.2)
	if err != nil {
		t.Fatal(err)
	}
	without, err := lathe.Sampler{MaxStepMM: 0.3}.Sample(rg, 5.2)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range breaks {
		if !slices.ContainsFunc(with, func(p lathe.Point) bool { return p.XMM == b }) {
			t.Errorf("junction %v is not a point", b)
		}
	}
	if len(with) >= len(without) {
		t.Errorf("%d points with the junctions given, %d without: hints should save refinement", len(with), len(without))
	}
}

func TestSampleErrors(t *testing.T) {
	jump := func(r float64) float64 {
		if r > 2 {
			return r*r/20 + 0.001
		}
		return r * r / 20
	}
	for _, tc := range []struct {
		name    string
		sampler lathe.Sampler
		p       lathe.Profile
		rMax    float64
		field   string
		msg     string
	}{
		{"zero rMax", lathe.Sampler{}, sphere(7.8), 0, "rMax", "not in"},
		{"NaN rMax", lathe.Sampler{}, sphere(7.8), math.NaN(), "rMax", "not in"},
		{"negative tolerance", lathe.Sampler{TolUM: -1}, sphere(7.8), 5, "tol", "tolerance"},
		{"tiny tolerance", lathe.Sampler{TolUM: 1e-6}, sphere(7.8), 5, "tol", "tolerance"},
		{"NaN tolerance", lathe.Sampler{TolUM: math.NaN()}, sphere(7.8), 5, "tol", "tolerance"},
		{"tiny step", lathe.Sampler{MaxStepMM: 1e-9}, sphere(7.8), 5, "maxStep", "step"},
		{"too many points", lathe.Sampler{MaxStepMM: 1e-5}, sphere(7.8), 5, "maxStep", "points"},
		{"NaN break", lathe.Sampler{Breaks: []float64{1, math.NaN()}}, sphere(7.8), 5, "breaks[1]", "finite"},
		{"undefined beyond 3 mm", lathe.Sampler{}, func(r float64) float64 {
			if r > 3 {
				return math.NaN()
			}
			return r * r / 16
		}, 5, "profile", "not finite"},
		{"vertical at the edge of a sphere", lathe.Sampler{}, sphere(4), 4, "profile", "vertical"},
		{"off-centre", lathe.Sampler{}, func(r float64) float64 { return 0.1 + r*r/16 }, 5, "profile", "centre"},
		{"jump", lathe.Sampler{}, jump, 5, "profile", "near r = 2.0000"},
		{"infinite", lathe.Sampler{}, func(r float64) float64 { return math.Inf(1) }, 5, "profile", "not finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sampler.Sample(tc.p, tc.rMax)
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("err = %v, want invalid", err)
			}
			if got := errs.FieldOf(err); got != tc.field {
				t.Errorf("field %q, want %q (%v)", got, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestSamplerMeridians(t *testing.T) {
	sag := toricSag(7.8, 7.4, -0.2, 30)
	ms, err := lathe.Sampler{TolUM: 0.05}.Meridians(sag, 4, 30, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if want := 30 + 90*float64(i); m.AngleDeg != want {
			t.Errorf("meridian %d at %v deg, want %v", i, m.AngleDeg, want)
		}
		p := func(r float64) float64 { return sag(m.AngleDeg, r) }
		if worst, at := maxDeviationUM(t, m.Points, p, 1e-4); worst >= 0.05 {
			t.Errorf("meridian %d off by %.4f µm at %.4f", i, worst, at)
		}
	}
	for _, tc := range []struct {
		name  string
		n     int
		first float64
		field string
	}{
		{"no meridians", 0, 0, "meridians"},
		{"too many", lathe.MaxMeridians + 1, 0, "meridians"},
		{"angle 360", 4, 360, "firstAngle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lathe.Sampler{}.Meridians(sag, tc.n, tc.first, 5)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field {
				t.Errorf("err = %v, want invalid %s", err, tc.field)
			}
		})
	}
	t.Run("profile error names the meridian", func(t *testing.T) {
		bad := func(deg, r float64) float64 {
			if deg == 180 {
				return math.NaN()
			}
			return r * r / 16
		}
		_, err := lathe.Sampler{}.Meridians(bad, 4, 0, 5)
		if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "meridians[2]" {
			t.Errorf("err = %v, want invalid meridians[2]", err)
		}
	})
}

func TestMeridianSagMM(t *testing.T) {
	m := lathe.Meridian{Points: []lathe.Point{{2, 0.4}, {1, 0.1}, {0, 0}}}
	for _, tc := range []struct {
		r    float64
		want float64
		ok   bool
	}{
		{2, 0.4, true}, {1.5, 0.25, true}, {1, 0.1, true}, {0.25, 0.025, true}, {0, 0, true},
		{2.0001, 0, false}, {-0.1, 0, false}, {math.NaN(), 0, false},
	} {
		z, ok := m.SagMM(tc.r)
		if ok != tc.ok || (ok && math.Abs(z-tc.want) > 1e-15) {
			t.Errorf("SagMM(%v) = %v, %v; want %v, %v", tc.r, z, ok, tc.want, tc.ok)
		}
	}
	if _, ok := (lathe.Meridian{}).SagMM(0); ok {
		t.Error("an empty meridian has a sag")
	}
}

func TestMeridianAngleDeg(t *testing.T) {
	for _, tc := range []struct {
		first float64
		i, n  int
		want  float64
	}{
		{0, 0, 1, 0}, {15, 1, 4, 105}, {300, 1, 4, 30}, {350, 3, 4, 260}, {0, 1, 2, 180}, {359.999999, 1, 1, 359.999999},
	} {
		if got := lathe.MeridianAngleDeg(tc.first, tc.i, tc.n); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("MeridianAngleDeg(%v, %d, %d) = %v, want %v", tc.first, tc.i, tc.n, got, tc.want)
		}
	}
}

// TestSampleFindsKinksAnywhere puts a slope change at many places within
// coarse steps, where nothing but the refinement can find it.
func TestSampleFindsKinksAnywhere(t *testing.T) {
	base := sphere(7.8)
	for i := 0; i < 200; i++ {
		rk := 0.05 + 4.9*float64(i)/199 + 1e-4*float64(i%7) // kinks at odd places within the steps
		ds := 0.02 + 0.3*float64(i%5)                       // slope jumps of up to 1.2
		p := func(r float64) float64 { return base(r) + ds*max(0, r-rk) }
		pts, err := lathe.Sampler{MaxStepMM: 0.25}.Sample(p, 5.2)
		if err != nil {
			t.Fatal(err)
		}
		if worst, at := maxDeviationUM(t, pts, p, 1e-3, rk); worst >= lathe.DefaultTolUM {
			t.Fatalf("kink %.2f at r = %.5f: off by %.4f µm at %.6f", ds, rk, worst, at)
		}
	}
}
