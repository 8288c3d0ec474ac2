package engine_test

import (
	"bytes"
	"image/png"
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/cornea"
	"github.com/lensflow/lensflow/shared/engine"
	"github.com/lensflow/lensflow/shared/fluorescein"
	"github.com/lensflow/lensflow/shared/lens"
	"github.com/lensflow/lensflow/shared/topo"
	"github.com/lensflow/lensflow/shared/topo/topotest"
)

// TestTearLayerOfDesigns maps the film under each lens type designed on
// the reference scan: an RGP rests touching the cornea somewhere and pools
// at its centre within the handbook's central target; every map covers the
// lens to its edge.
func TestTearLayerOfDesigns(t *testing.T) {
	s, _, err := topo.Parse(topotest.Reference().CSV(), topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cornea.Fit(s, cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
		r, err := engine.DesignModel(m, s, engine.Inputs{LensType: lt, Clinical: lens.Clinical{RefractionD: -3, HVIDMM: 11.8}})
		if err != nil {
			t.Fatal(err)
		}
		tl, err := engine.TearLayerModel(m, r)
		if err != nil {
			t.Fatalf("%s: %v", lt, err)
		}
		edge := r.Lens.BackSurface.EdgeMM()
		if got := float64(len(tl.AxisMM)-1) * tl.PitchMM / 2; math.Abs(got-edge) > tl.PitchMM {
			t.Errorf("%s: the map reaches %.2f mm, the lens %.2f", lt, got, edge)
		}
		if math.Abs(tl.MinUM) > 1e-6 || !(tl.MaxUM > 0) {
			t.Errorf("%s: film from %.2f to %.2f microns: a resting lens touches somewhere", lt, tl.MinUM, tl.MaxUM)
		}
		if lt == lens.Scleral {
			// A scleral lens vaults the cornea and the limbus (HVID 11.8
			// mm): no film under 100 microns inside 6 mm of the centre.
			least := math.Inf(1)
			for i, y := range tl.AxisMM {
				for j, x := range tl.AxisMM {
					if v := tl.ThicknessUM[i*len(tl.AxisMM)+j]; math.Hypot(x, y) <= 6 && v < least {
						least = v
					}
				}
			}
			if !(least > 100) {
				t.Errorf("scleral: %.0f microns of film over the cornea or limbus, want no touch (over 100)", least)
			}
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

// BenchmarkTearLayer is the tear-layer map and its picture for the RGP
// designed on the 15,365-point reference scan (the fit is the design's,
// done once).
func BenchmarkTearLayer(b *testing.B) {
	s, _, err := topo.Parse(topotest.Reference().CSV(), topo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	m, err := cornea.Fit(s, cornea.ModelOptions{})
	if err != nil {
		b.Fatal(err)
	}
	r, err := engine.DesignModel(m, s, engine.Inputs{LensType: lens.RGP, Clinical: lens.Clinical{RefractionD: -3, HVIDMM: 11.8}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		tl, err := engine.TearLayerModel(m, r)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := fluorescein.PNG(&buf, tl, lens.DefaultFluorescein()); err != nil {
			b.Fatal(err)
		}
	}
}
