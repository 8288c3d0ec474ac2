package lens_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/errs"
)

// sphereLens is a back surface that is one sphere of radius bozr out to
// the semi-chord edge.
func sphereLens(bozr, edge float64) *lens.BackSurface {
	return &lens.BackSurface{Profiles: []lens.Profile{{MeridianDeg: 180, Zones: []lens.Zone{{Name: "optic", Shape: lens.ShapeSphere,
		InnerMM: 0, OuterMM: edge, OuterSagMM: lens.SphereSagMM(bozr, edge), RadiusMM: bozr}}}}}
}

// sphericalCornea is a true sphere (p = 1) of radius r, measured to 6 mm.
func sphericalCornea(r float64) lenstest.Biconic {
	c := cornea.Conic{R0MM: r, P: 1}
	return lenstest.Biconic{Flat: c, Steep: c, MeasuredRadiusMM: 6}
}

// TestTearLayerSphereOnFlatterSphere: a spherical lens 0.10 mm steeper
// than a spherical cornea touches at its edge and pools at the centre by
// exactly the difference of the two sags at the edge.
func TestTearLayerSphereOnFlatterSphere(t *testing.T) {
	const bozr, cornea, edge = 7.80, 7.90, 4.6
	tl, err := lens.TearLayerMap(sphericalCornea(cornea), sphereLens(bozr, edge), lens.Placement{})
	if err != nil {
		t.Fatal(err)
	}
	want := 1000 * (lens.SphereSagMM(bozr, edge) - lens.SphereSagMM(cornea, edge))
	if got := tl.At(0, 0); math.Abs(got-want) > 1 {
		t.Fatalf("central pooling %.2f microns, want the sag difference at the edge %.2f", got, want)
	}
	if tl.Rest.ApexClearanceUM != tl.At(0, 0) || math.Abs(math.Hypot(tl.Rest.TouchXMM, tl.Rest.TouchYMM)-edge) > 1e-9 {
		t.Fatalf("rest %+v: want the apex clearance at the centre and the touch at the edge", tl.Rest)
	}
	if tl.MinUM > 1e-9 || math.Abs(tl.MaxUM-want) > 1 || tl.MaxXMM != 0 || tl.MaxYMM != 0 {
		t.Fatalf("min %.3f at (%g, %g), max %.3f at (%g, %g)", tl.MinUM, tl.MinXMM, tl.MinYMM, tl.MaxUM, tl.MaxXMM, tl.MaxYMM)
	}
	if !math.IsNaN(tl.At(edge, edge)) {
		t.Fatal("a cell outside the lens has a film")
	}
	if n := len(tl.AxisMM); n != 93 || tl.PitchMM > 0.1 {
		t.Fatalf("grid %d cells a side at %g mm, want 93 at 0.1 mm", n, tl.PitchMM)
	}
}

// TestTearLayerRotationallySymmetric: a rotationally symmetric lens on a
// rotationally symmetric cornea gives a map that a quarter turn leaves as
// it is.
func TestTearLayerRotationallySymmetric(t *testing.T) {
	tl, err := lens.TearLayerMap(lenstest.Reference(), sphereLens(7.75, 4.6), lens.Placement{})
	if err != nil {
		t.Fatal(err)
	}
	n := len(tl.AxisMM)
	worst := 0.0
	for i := range n {
		for j := range n {
			a, b := tl.ThicknessUM[i*n+j], tl.ThicknessUM[j*n+(n-1-i)]
			if math.IsNaN(a) != math.IsNaN(b) {
				t.Fatalf("cell (%d, %d) inside the lens and its quarter turn not", i, j)
			}
			if !math.IsNaN(a) {
				worst = max(worst, math.Abs(a-b))
			}
		}
	}
	if worst > 1e-6 {
		t.Fatalf("a quarter turn changes the map by up to %g microns", worst)
	}
}

// TestTearLayerToricCornea: a spherical lens fitted on K of a
// with-the-rule toric cornea (flat along 180, steep along 90) bears in a
// band along the flat meridian and pools along the steep one.
func TestTearLayerToricCornea(t *testing.T) {
	tl, err := lens.TearLayerMap(lenstest.Toric(), sphereLens(7.80, 4.6), lens.Placement{})
	if err != nil {
		t.Fatal(err)
	}
	// The two meridians' sags differ by about r^2/2 (1/7.6 - 1/7.8): the
	// steep meridian pools that much more.
	for _, r := range []float64{2, 3, 4} {
		flat, steep := tl.At(r, 0), tl.At(0, r)
		want := 1000 * r * r / 2 * (1/7.6 - 1/7.8)
		if !(steep-flat > 0.8*want) {
			t.Errorf("at %g mm: %.1f microns along the steep meridian, %.1f along the flat; want about %.1f more along the steep", r, steep, flat, want)
		}
	}
	if math.Abs(tl.MinYMM) > 0.5 || math.Abs(tl.MinXMM) < 1 {
		t.Errorf("least film at (%g, %g): want it on the flat (horizontal) meridian", tl.MinXMM, tl.MinYMM)
	}
	m := lens.DefaultFluorescein()
	if m.Intensity(tl.At(3, 0)) >= m.Intensity(tl.At(0, 3)) {
		t.Error("the flat meridian's band is not darker than the steep meridian in the simulated pattern")
	}
}

// TestTearLayerDecentred: decentring the lens moves where it rests, and
// an impossible decentration is refused naming it.
func TestTearLayerDecentred(t *testing.T) {
	centred, err := lens.TearLayerMap(lenstest.Reference(), sphereLens(7.75, 4.6), lens.Placement{})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := lens.TearLayerMap(lenstest.Reference(), sphereLens(7.75, 4.6), lens.Placement{DecentrationYMM: -0.3})
	if err != nil {
		t.Fatal(err)
	}
	if moved.At(0, 0) == centred.At(0, 0) || moved.Rest.DecentrationYMM != -0.3 {
		t.Fatalf("decentred rest %+v is the centred one", moved.Rest)
	}
	if _, err := lens.TearLayerMap(lenstest.Reference(), sphereLens(7.75, 4.6), lens.Placement{DecentrationXMM: 3}); err == nil {
		t.Fatal("a decentration beyond half the lens was accepted")
	}
}

// TestTearLayerSettlingAndDesignedClearance: settling thins the film
// everywhere by the settling, and the lens bears (no film) where the film
// was thinner than that; a designed central clearance the rest does not
// reach is said so, with both numbers.
func TestTearLayerSettlingAndDesignedClearance(t *testing.T) {
	const bozr, cornea, edge = 7.80, 7.90, 4.6
	eye, surf := sphericalCornea(cornea), sphereLens(bozr, edge)
	landed, err := lens.TearLayerMap(eye, surf, lens.Placement{})
	if err != nil {
		t.Fatal(err)
	}
	settled, err := lens.TearLayerMap(eye, surf, lens.Placement{SettlingUM: 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []float64{0, 1, 2, 3, 4, 4.5} {
		want := max(0, landed.At(r, 0)-20)
		if got := settled.At(r, 0); math.Abs(got-want) > 1e-9 {
			t.Errorf("at %g mm: %.3f microns after settling 20, want %.3f", r, got, want)
		}
	}
	if settled.At(4.5, 0) != 0 || !strings.Contains(settled.Rest.Method, "settled 20 microns") || settled.Rest.SettlingUM != 20 {
		t.Errorf("settled rest %q (%g): want bearing at the edge and the settling named", settled.Rest.Method, settled.Rest.SettlingUM)
	}
	if _, err := lens.TearLayerMap(eye, surf, lens.Placement{SettlingUM: -5}); err == nil || !strings.Contains(err.Error(), "settling_um") {
		t.Errorf("a negative settling: %v", err)
	}
	centre := landed.At(0, 0)
	reached, _ := lens.TearLayerMap(eye, surf, lens.Placement{DesignedApexClearanceUM: centre})
	missed, _ := lens.TearLayerMap(eye, surf, lens.Placement{DesignedApexClearanceUM: centre + 10})
	if !strings.Contains(reached.Rest.Method, "leaves the designed central clearance") ||
		!strings.Contains(missed.Rest.Method, fmt.Sprintf("leaves %.0f microns at the centre instead of the designed %.0f", centre, centre+10)) {
		t.Errorf("rests %q and %q: want the designed clearance met, then missed", reached.Rest.Method, missed.Rest.Method)
	}
}

// TestTearLayerRocksOntoItsRest: a spherical lens decentred on a
// spherical cornea rocks about the cornea's centre of curvature, so it
// rests as it does centred: the same film at its centre and edge, tilted
// by the angle the decentration subtends there. A decentration that
// would need more tilt than the simulation models is refused, naming it.
func TestTearLayerRocksOntoItsRest(t *testing.T) {
	const bozr, cornea, edge = 7.80, 7.90, 4.6
	eye, surf := sphericalCornea(cornea), sphereLens(bozr, edge)
	centred, err := lens.TearLayerMap(eye, surf, lens.Placement{})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := lens.TearLayerMap(eye, surf, lens.Placement{DecentrationXMM: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	if d := moved.Rest.ApexClearanceUM - centred.Rest.ApexClearanceUM; math.Abs(d) > 3 {
		t.Errorf("decentred 0.3 mm: %.1f microns at the centre, centred %.1f", moved.Rest.ApexClearanceUM, centred.Rest.ApexClearanceUM)
	}
	// Turned about the centre of curvature the lens would tilt by the
	// angle the decentration subtends there; the first-order rest shears
	// it instead and tilts it by the cornea's mean slope under it, a
	// little more.
	want := math.Atan(0.3/cornea) * 180 / math.Pi
	if got := moved.Rest.TiltDeg; got < want || got > 1.3*want || math.Abs(moved.Rest.TiltTowardsDeg) > 1 || len(moved.Rest.RestsOnMM) < 2 {
		t.Errorf("rest %+v: want a tilt of %.2f to %.2f degrees, its edge down on the side it moved to (0 degrees)", moved.Rest, want, 1.3*want)
	}
	if !strings.Contains(moved.Rest.Method, "rocked") {
		t.Errorf("method %q does not say the lens rocked", moved.Rest.Method)
	}
	_, err = lens.TearLayerMap(eye, surf, lens.Placement{DecentrationXMM: 1})
	if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "decentration") || !strings.Contains(err.Error(), "would rock") {
		t.Errorf("decentred 1 mm: %v, want a refusal naming the decentration and the tilt", err)
	}
}

func TestFluoresceinModel(t *testing.T) {
	m := lens.DefaultFluorescein()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m.Intensity(10) != 0 || m.Intensity(15) != 0 || m.Intensity(math.NaN()) != 0 {
		t.Error("a film under 15 microns is not dark")
	}
	if v := m.Intensity(90); v < 0.95-1e-9 || v >= 1 {
		t.Errorf("at 90 microns %g, want 0.95", v)
	}
	prev := 0.0
	for th := 16.0; th < 300; th++ {
		v := m.Intensity(th)
		if !(v > prev) || v >= 1 {
			t.Fatalf("intensity not rising below 1 at %g microns: %g", th, v)
		}
		prev = v
	}
	for _, bad := range []lens.FluoresceinModel{{}, {Version: "x", DarkBelowUM: 20, SaturationUM: 10}, {Version: "x", DarkBelowUM: -1, SaturationUM: 90}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// BenchmarkTearLayerMap is the map of one 9.2 mm RGP on the reference
// cornea (6,600 cells).
func BenchmarkTearLayerMap(b *testing.B) {
	eye, surf := lenstest.Reference(), sphereLens(7.75, 4.6)
	for b.Loop() {
		if _, err := lens.TearLayerMap(eye, surf, lens.Placement{}); err != nil {
			b.Fatal(err)
		}
	}
}
