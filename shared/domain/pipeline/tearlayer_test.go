package pipeline_test

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/fluorescein"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

var lensTypes = []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral}

// referenceDesigns reads the reference scan as its file is written, fits
// it and designs each lens type on the fit.
func referenceDesigns(tb testing.TB) (*cornea.Model, map[lens.Type]*pipeline.Result) {
	tb.Helper()
	s, _, err := topo.Parse(topotest.Reference().CSV(), topo.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := cornea.Fit(s, cornea.ModelOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	designs := map[lens.Type]*pipeline.Result{}
	for _, lt := range lensTypes {
		if designs[lt], err = pipeline.DesignModel(m, s, pipeline.Inputs{LensType: lt, Clinical: lens.Clinical{RefractionD: -3, HVIDMM: 11.8}}); err != nil {
			tb.Fatal(err)
		}
	}
	return m, designs
}

// TestTearLayerOfDesigns maps the film under each lens type designed on
// the reference scan: every lens touches somewhere (a scleral lens bears
// on its haptic after settling), an ortho-k lens leaves its designed
// central clearance, and every map covers the lens to its edge.
func TestTearLayerOfDesigns(t *testing.T) {
	m, designs := referenceDesigns(t)
	for _, lt := range lensTypes {
		r := designs[lt]
		tl, err := pipeline.TearLayerModel(m, r, 0, 0)
		if err != nil {
			t.Fatalf("%s: %v", lt, err)
		}
		edge := r.Lens.BackSurface.EdgeMM()
		if got := float64(len(tl.AxisMM)-1) * tl.PitchMM / 2; math.Abs(got-edge) > tl.PitchMM {
			t.Errorf("%s: the map reaches %.2f mm, the lens %.2f", lt, got, edge)
		}
		if tl.MinUM != 0 || !(tl.MaxUM > 0) {
			t.Errorf("%s: film from %.2f to %.2f microns: a resting lens touches somewhere", lt, tl.MinUM, tl.MaxUM)
		}
		if lt == lens.OrthoK {
			want := r.Lens.OrthoK.CentralClearanceUM
			if math.Abs(tl.Rest.ApexClearanceUM-want) > 1 || tl.Rest.DesignedApexClearanceUM != want ||
				!strings.Contains(tl.Rest.Method, "leaves the designed central clearance") {
				t.Errorf("ortho-k rest %+v: want the designed %g microns at the centre", tl.Rest, want)
			}
		}
		if lt == lens.Scleral {
			checkScleralRest(t, r.Lens, tl)
		}
		t.Logf("%s: apex %.1f um, touch at (%.1f, %.1f) mm, max %.0f um at (%.1f, %.1f)", lt, tl.Rest.ApexClearanceUM,
			tl.Rest.TouchXMM, tl.Rest.TouchYMM, tl.MaxUM, tl.MaxXMM, tl.MaxYMM)
		var buf bytes.Buffer
		if err := fluorescein.PNG(&buf, tl, lens.DefaultFluorescein()); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("%s: the picture is not a PNG: %v", lt, err)
		}
		if w := img.Bounds().Dx(); w < len(tl.AxisMM)*fluorescein.CellPx {
			t.Errorf("%s: picture %d px wide for %d cells", lt, w, len(tl.AxisMM))
		}
	}
}

// checkScleralRest: a scleral lens lands on its haptic, then settles by
// the nomogram's settling; the film left at the centre and over the
// limbus is what the design expects after settling, and nothing touches
// the cornea or the limbus (HVID 11.8 mm).
func checkScleralRest(t *testing.T, d *lens.Design, tl *lens.TearLayer) {
	t.Helper()
	sc := d.Scleral
	if tl.Rest.SettlingUM != sc.Nomogram.SettlingUM || !strings.Contains(tl.Rest.Method, "settled") {
		t.Errorf("scleral rest %+v: want the nomogram's settling of %g microns", tl.Rest, sc.Nomogram.SettlingUM)
	}
	if got := tl.Rest.ApexClearanceUM; math.Abs(got-sc.SettledClearanceUM) > 1 {
		t.Errorf("scleral: %.1f microns at the centre, the design expects %.1f after settling", got, sc.SettledClearanceUM)
	}
	limbus := d.HVIDMM / 2
	flat := d.FlatK.AxisDeg * math.Pi / 180
	if got := tl.At(limbus*math.Cos(flat), limbus*math.Sin(flat)); math.Abs(got-sc.SettledLimbalClearanceUM) > 3 {
		t.Errorf("scleral: %.1f microns over the limbus along the flat meridian, the design expects %.1f", got, sc.SettledLimbalClearanceUM)
	}
	least := math.Inf(1)
	for i, y := range tl.AxisMM {
		for j, x := range tl.AxisMM {
			if v := tl.ThicknessUM[i*len(tl.AxisMM)+j]; math.Hypot(x, y) <= limbus && v < least {
				least = v
			}
		}
	}
	if !(least > 20) {
		t.Errorf("scleral: %.0f microns of film over the cornea or limbus, want no touch", least)
	}
}

// BenchmarkTearLayer is the tear-layer map and its picture for each lens
// type designed on the 15,365-point reference scan (the fit is the
// design's, done once): 6,600 cells for the RGP, 24,000 for the scleral.
func BenchmarkTearLayer(b *testing.B) {
	m, designs := referenceDesigns(b)
	for _, lt := range lensTypes {
		r := designs[lt]
		b.Run(string(lt), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tl, err := pipeline.TearLayerModel(m, r, 0, 0)
				if err != nil {
					b.Fatal(err)
				}
				var buf bytes.Buffer
				if err := fluorescein.PNG(&buf, tl, lens.DefaultFluorescein()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fitAndDesign fits c and designs lt on it (the override allows ortho-k on
// a cone).
func fitAndDesign(t *testing.T, c topotest.Cornea, lt lens.Type) (*cornea.Model, *pipeline.Result) {
	t.Helper()
	s := c.Surface()
	m, err := cornea.Fit(s, cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.DesignModel(m, s, pipeline.Inputs{LensType: lt, OrthoKOverride: true,
		Clinical: lens.Clinical{RefractionD: -3, HVIDMM: 11.8}})
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

// TestTearLayerOnAKeratoconicEye: on an eye with a 60-micron inferior
// cone, the film under an RGP is thinner over the cone than at the mirror
// point above it (the map follows each half of a meridian, not the mean
// of the two), while a scleral lens, rocked onto its haptic, vaults it:
// film over the cone after settling close to what the design expects, and
// no touch anywhere over the cornea.
func TestTearLayerOnAKeratoconicEye(t *testing.T) {
	c := topotest.Cornea{R0MM: 7.7, P: 0.8, RadiusMM: 6, NoiseUM: 1, Eye: topo.OS, ApexXMM: -0.2, ApexYMM: -0.3,
		ConeUM: 60, ConeXMM: 0.5, ConeYMM: -1.2, ConeSigmaMM: 1.0}
	m, r := fitAndDesign(t, c, lens.RGP)
	tl, err := pipeline.TearLayerModel(m, r, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	onCone, mirror := tl.At(0.5, -1.2), tl.At(0.5, 1.2)
	if !(onCone < mirror-20) {
		t.Errorf("RGP on the cone: %.1f microns on it, %.1f at the mirror point", onCone, mirror)
	}
	m, r = fitAndDesign(t, c, lens.Scleral)
	tl, err = pipeline.TearLayerModel(m, r, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	cone := r.Lens.Scleral.Cone
	if cone == nil {
		t.Fatal("the scleral design found no cone")
	}
	a := cone.SemiMeridianDeg * math.Pi / 180
	got := tl.At(cone.RadiusMM*math.Cos(a), cone.RadiusMM*math.Sin(a))
	// The map rocks the lens onto the haptic all round; the design lands
	// it on chords along its principal meridians (each the mean of its two
	// ends): they agree within 25 microns.
	t.Logf("scleral over the cone: %.1f microns (design %.1f); rest %s", got, cone.SettledClearanceUM, tl.Rest.Method)
	if !(got > 0) || math.Abs(got-cone.SettledClearanceUM) > 25 || tl.Rest.TiltDeg == 0 {
		t.Errorf("scleral over the cone: %.1f microns, the design expects %.1f after settling; rest %+v", got, cone.SettledClearanceUM, tl.Rest)
	}
	for i, y := range tl.AxisMM {
		for j, x := range tl.AxisMM {
			if v := tl.ThicknessUM[i*len(tl.AxisMM)+j]; math.Hypot(x, y) < 5.5 && !(v > 0) {
				t.Fatalf("scleral touches the cornea at (%.1f, %.1f)", x, y)
			}
		}
	}
}

// TestTearLayerOnALidCutDecentredExam: a with-the-rule toric cornea
// measured only between lids at +-3 mm, its apex off the instrument axis
// and tilted: the map covers the whole lens, the cells under the lids are
// marked extrapolated and the centre is not, and the RGP bears along the
// flat (horizontal) meridian.
func TestTearLayerOnALidCutDecentredExam(t *testing.T) {
	c := topotest.Cornea{R0MM: 7.75, R0YMM: 7.6, P: 0.78, RadiusMM: 5.5, NoiseUM: 1.5, Eye: topo.OD,
		Lid: true, LidYMM: 3, LowerLid: true, LowerLidYMM: -3, ApexXMM: 0.3, ApexYMM: -0.35, TiltXDeg: 1, TiltYDeg: -0.8}
	m, r := fitAndDesign(t, c, lens.RGP)
	tl, err := pipeline.TearLayerModel(m, r, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := len(tl.AxisMM)
	extrapolated := func(x, y float64) bool {
		i, j := int(math.Round((y-tl.AxisMM[0])/tl.PitchMM)), int(math.Round((x-tl.AxisMM[0])/tl.PitchMM))
		return tl.Extrapolated[i*n+j]
	}
	if edge := r.Lens.BackSurface.EdgeMM(); math.IsNaN(tl.At(0, edge-0.05)) || math.IsNaN(tl.At(0, -edge+0.05)) {
		t.Errorf("the map stops short of the lens edge (%.2f mm) under the lids", edge)
	}
	if !extrapolated(0, 4) || !extrapolated(0, -4) || extrapolated(0, 0) || extrapolated(2, 0) {
		t.Errorf("extrapolated: above the lid %v, below %v, centre %v, 2 mm nasal %v; want under the lids only",
			extrapolated(0, 4), extrapolated(0, -4), extrapolated(0, 0), extrapolated(2, 0))
	}
	if math.Abs(tl.MinYMM) > math.Abs(tl.MinXMM) {
		t.Errorf("least film at (%.1f, %.1f): want it along the flat, horizontal meridian", tl.MinXMM, tl.MinYMM)
	}
	if flat, steep := tl.At(3, 0), tl.At(0, 2.5); !(steep > flat) {
		t.Errorf("%.1f microns along the steep meridian at 2.5 mm, %.1f along the flat at 3: want pooling along the steep", steep, flat)
	}
}
