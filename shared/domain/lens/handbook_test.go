package lens_test

import (
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
)

// The numbers of lens-design.md that concern designs, each reproduced by
// the formula and, where a design uses it, by the design.

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func sphereEye(r float64) lenstest.Biconic {
	c := cornea.Conic{R0MM: r, P: 0.75}
	return lenstest.Biconic{Flat: c, Steep: c}
}

func TestHandbookOrthoKBOZR(t *testing.T) {
	jessen := lens.DefaultOrthoKNomogram()
	chanCM := jessen
	chanCM.Method = lens.MethodChanChoMountford
	tests := []struct {
		name string
		n    lens.OrthoKNomogram
		want float64
	}{
		{"Jessen, factor 0.75", jessen, 8.54},
		{"Chan, Cho and Mountford", chanCM, 8.81},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := lens.OrthoKBOZRMM(7.80, -3.00, tt.n)
			if !near(raw, tt.want, 0.005) {
				t.Errorf("OrthoKBOZRMM = %.4f, want %.2f", raw, tt.want)
			}
			d, err := lens.DesignOrthoK(lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if d.BOZRMM != tt.want {
				t.Errorf("design BOZR = %v, want %v", d.BOZRMM, tt.want)
			}
		})
	}
}

func TestHandbookReturnZoneDepth(t *testing.T) {
	eye := lenstest.Reference()
	s8, _, _ := eye.SagMM(0, 8)
	if got := lens.ReturnZoneDepthMM(s8, 0.010, 8.54, 6.0); !near(got, 0.5476, 5e-5) {
		t.Errorf("ReturnZoneDepthMM = %.5f, want 0.5476", got)
	}
	d, err := lens.DesignOrthoK(eye, lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultOrthoKNomogram())
	if err != nil {
		t.Fatal(err)
	}
	if got := d.OrthoK.ReturnZoneDepthMM; !near(got, 0.5476, 5e-5) {
		t.Errorf("design return zone depth = %.5f, want 0.5476", got)
	}
	// The back surface realises it: lens sag at the landing chord less the
	// optic zone's sag at the BOZD.
	if got := d.BackSurface.SagMM(0, 4) - d.BackSurface.SagMM(0, 3); !near(got, 0.5476, 5e-5) {
		t.Errorf("back surface return zone depth = %.5f, want 0.5476", got)
	}
}

func TestHandbookTearLens(t *testing.T) {
	if got := lens.TearLensD(8.40, 8.00, 1.336); !near(got, -2.00, 0.005) {
		t.Errorf("TearLensD = %.4f, want -2.00", got)
	}
	// An RGP fitted 0.20 mm flatter than K 8.20 carries its tear lens, and
	// orders the corneal-plane refraction less it.
	n := lens.DefaultRGPNomogram()
	n.BOZRSteeperThanKMM = -0.20
	n.TDSmallerThanHVIDMM = 2.5
	d, err := lens.DesignRGP(sphereEye(8.20), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, n)
	if err != nil {
		t.Fatal(err)
	}
	if d.BOZRMM != 8.40 {
		t.Fatalf("BOZR = %v", d.BOZRMM)
	}
	want := lens.TearLensD(8.40, 8.20, 1.336)
	if !near(d.TearLensD, want, 1e-12) || !near(d.PowerD, math.Round(4*(lens.VertexD(-3, 12)-want))/4, 1e-12) {
		t.Errorf("tear lens %g, power %g", d.TearLensD, d.PowerD)
	}
}

func TestHandbookVertex(t *testing.T) {
	for _, tt := range []struct{ f, want float64 }{{-3, -2.90}, {-6, -5.60}, {-10, -8.93}, {+5, +5.32}, {+10, +11.36}} {
		if got := lens.VertexD(tt.f, 12); !near(got, tt.want, 0.005) {
			t.Errorf("VertexD(%+g, 12) = %.4f, want %+.2f", tt.f, got, tt.want)
		}
		d, err := lens.DesignRGP(lenstest.Reference(), lens.Clinical{RefractionD: tt.f, HVIDMM: 11.8}, lens.DefaultRGPNomogram())
		if err != nil {
			t.Fatal(err)
		}
		if !near(d.CornealPlaneRxD, tt.want, 0.005) {
			t.Errorf("design at %+g D: corneal plane %.4f, want %+.2f", tt.f, d.CornealPlaneRxD, tt.want)
		}
	}
}

func TestHandbookScleralTD(t *testing.T) {
	for _, tt := range []struct{ hvid, want float64 }{{11.4, 17.0}, {11.8, 17.5}, {12.0, 17.5}, {12.1, 18.0}} {
		if got := lens.ScleralTDMM(tt.hvid, lens.DefaultScleralNomogram()); got != tt.want {
			t.Errorf("ScleralTDMM(%g) = %v, want %v", tt.hvid, got, tt.want)
		}
		d, err := lens.DesignScleral(lenstest.Reference(), lens.Clinical{HVIDMM: tt.hvid}, lens.DefaultScleralNomogram())
		if err != nil {
			t.Fatal(err)
		}
		if d.TDMM != tt.want {
			t.Errorf("design TD for HVID %g = %v, want %v", tt.hvid, d.TDMM, tt.want)
		}
	}
}

func TestHandbookSphereSag(t *testing.T) {
	for _, tt := range []struct{ r, chord, want, tol float64 }{
		{8.40, 8.0, 1.013526, 5e-7}, {8.40, 9.5, 1.471977, 5e-7},
		{7.80, 8, 1.1037, 5e-5}, {7.80, 10, 1.8133, 5e-5},
	} {
		if got := lens.SphereSagMM(tt.r, tt.chord/2); !near(got, tt.want, tt.tol) {
			t.Errorf("SphereSagMM(%g, %g) = %.7f, want %g", tt.r, tt.chord/2, got, tt.want)
		}
	}
	// An RGP on K 8.40 with a 9.5 mm TD: the BOZR sphere extended to the TD
	// has the handbook's sag, and the axial edge lift is measured from it.
	n := lens.DefaultRGPNomogram()
	n.BOZRSteeperThanKMM, n.TDSmallerThanHVIDMM = 0, 2.3
	d, err := lens.DesignRGP(sphereEye(8.40), lens.Clinical{HVIDMM: 11.8, PupilMM: 6}, n)
	if err != nil {
		t.Fatal(err)
	}
	if d.TDMM != 9.5 || d.BOZRMM != 8.40 || d.BOZDMM != 8.0 {
		t.Fatalf("TD %v BOZR %v BOZD %v", d.TDMM, d.BOZRMM, d.BOZDMM)
	}
	if got := d.RGP.AxialEdgeLiftMM + d.SagMM; !near(got, 1.471977, 5e-7) {
		t.Errorf("edge lift + lens sag = %.7f, want the BOZR sphere's 1.471977", got)
	}
	if got := d.BackSurface.SagMM(0, 4); !near(got, 1.013526, 5e-7) {
		t.Errorf("lens sag at the 8.0 mm BOZD = %.7f, want 1.013526", got)
	}
}

func TestHandbookToricLanding(t *testing.T) {
	d, err := lens.DesignOrthoK(lenstest.Toric(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultOrthoKNomogram())
	if err != nil {
		t.Fatal(err)
	}
	if !near(d.OrthoK.SagDifferenceUM, 31.9, 0.05) || !d.Toric || !near(d.ToricStepUM, 31.9, 0.05) {
		t.Errorf("sag difference %.2f microns, toric %v step %.2f; want 31.9, toric", d.OrthoK.SagDifferenceUM, d.Toric, d.ToricStepUM)
	}
	if len(d.BackSurface.Profiles) != 2 || d.BackSurface.Profiles[0].MeridianDeg != 180 || d.BackSurface.Profiles[1].MeridianDeg != 90 {
		t.Errorf("profiles %+v, want flat 180 then steep 90", d.BackSurface.Profiles)
	}
	// Each meridian lands on its own corneal sag plus the clearance.
	for _, l := range d.OrthoK.Landings {
		if !near(l.LensSagMM-l.EyeSagMM, 0.010, 1e-12) {
			t.Errorf("meridian %g: lens sag %.6f - eye sag %.6f != 10 microns", l.MeridianDeg, l.LensSagMM, l.EyeSagMM)
		}
	}
	// Above the nomogram's threshold the same eye is not toric.
	n := lens.DefaultOrthoKNomogram()
	n.ToricLandingThresholdUM = 35
	d, err = lens.DesignOrthoK(lenstest.Toric(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, n)
	if err != nil {
		t.Fatal(err)
	}
	if d.Toric || len(d.BackSurface.Profiles) != 1 {
		t.Errorf("threshold 35: toric %v with %d profiles", d.Toric, len(d.BackSurface.Profiles))
	}
}

func TestHandbookKeratometry(t *testing.T) {
	for _, tt := range []struct{ r, want float64 }{{7.80, 43.27}, {8.40, 40.18}} {
		d, err := lens.DesignRGP(sphereEye(tt.r), lens.Clinical{HVIDMM: 11.8}, lens.DefaultRGPNomogram())
		if err != nil {
			t.Fatal(err)
		}
		if !near(d.FlatK.D, tt.want, 0.005) || !near(d.SteepK.D, tt.want, 0.005) {
			t.Errorf("K of %g mm = %.3f / %.3f D, want %.2f", tt.r, d.FlatK.D, d.SteepK.D, tt.want)
		}
	}
}

// TestHandbookVertexEachMeridian: a sphero-cylinder is vertexed one
// principal meridian at a time; -6.00 / -4.00 x 180 at 12 mm has -6 and
// -10 D in its principal meridians, which the handbook vertexes to -5.60
// and -8.93 D.
func TestHandbookVertexEachMeridian(t *testing.T) {
	d, err := lens.DesignRGP(lenstest.Reference(), lens.Clinical{RefractionD: -6, CylinderD: -4, AxisDeg: 180, HVIDMM: 11.8}, lens.DefaultRGPNomogram())
	if err != nil {
		t.Fatal(err)
	}
	cp := d.RGP.CornealPlaneRx
	if !near(cp.SphereD, -5.60, 0.005) || !near(cp.SphereD+cp.CylinderD, -8.93, 0.005) || cp.AxisDeg != 180 {
		t.Errorf("corneal plane %+v, want -5.60 along 180 and -8.93 along 90", cp)
	}
	for _, m := range []struct{ deg, want float64 }{{180, -5.60}, {90, -8.93}} {
		for _, got := range d.RGP.CornealPlaneMeridians {
			if got.MeridianDeg == m.deg && !near(got.PowerD, m.want, 0.005) {
				t.Errorf("along %g: %.4f, want %.2f", m.deg, got.PowerD, m.want)
			}
		}
	}
}
