package lens_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/errs"
)

func mustNew(t *testing.T, typ lens.Type, eye lens.Eye, in lens.Clinical) *lens.Design {
	t.Helper()
	d, err := lens.New(typ, eye, in, lens.DefaultNomograms())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// checkRevised checks a revised design is consistent in itself: the
// clearance arrays are the back surface and the eye, the sag at TD is the
// surface's, Toric matches the profiles, the front radius gives the power.
func checkRevised(t *testing.T, d *lens.Design, eye lens.Eye) {
	t.Helper()
	if d.Toric != d.BackSurface.Toric() {
		t.Errorf("Toric %v with %d profiles", d.Toric, len(d.BackSurface.Profiles))
	}
	if got := d.BackSurface.SagMM(d.BackSurface.Profiles[0].MeridianDeg, d.TDMM/2); !near(got, d.SagMM, 1e-12) {
		t.Errorf("sag at TD %v, surface %v", d.SagMM, got)
	}
	if got := lens.BackVertexPowerD(d.FrontRadiusMM, d.BOZRMM, d.CentreThicknessMM, d.MaterialIndex); !near(got, d.PowerD, 1e-9) {
		t.Errorf("front radius gives %v D, power %v", got, d.PowerD)
	}
	least := math.Inf(1)
	for _, c := range d.Clearance {
		for i, r := range c.RMM {
			s, _, err := eye.SagMM(c.MeridianDeg, 2*r)
			if err != nil {
				t.Fatal(err)
			}
			z := d.BackSurface.SagMM(c.MeridianDeg, r)
			if c.EyeSagMM[i] != s || c.LensSagMM[i] != z || !near(c.ClearanceUM[i], 1000*(s+c.ApexClearanceUM/1000-z), 1e-9) {
				t.Fatalf("%s at %v: clearance arrays disagree with the surface and the eye", c.Label, r)
			}
		}
		least = min(least, c.MinClearanceUM)
	}
	if !near(least, 0, 1e-9) {
		t.Errorf("the lens does not rest on the eye (least clearance %v)", least)
	}
}

func TestReviseWithoutOverridesIsNew(t *testing.T) {
	for _, tc := range designCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := mustNew(t, tc.t, tc.eye, tc.in)
			r, err := lens.Revise(d, tc.eye, tc.in, lens.Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Revision == nil || r.Revision.Number != 1 || len(r.Revision.Overrides) != 0 {
				t.Fatalf("revision %+v", r.Revision)
			}
			from, _ := json.Marshal(r.Revision.From)
			want, _ := json.Marshal(d.Values())
			if string(from) != string(want) {
				t.Errorf("from %s, want %s", from, want)
			}
			r.Revision = nil
			got, _ := json.Marshal(r)
			orig, _ := json.Marshal(d)
			if string(got) != string(orig) {
				t.Errorf("revised without overrides differs from New:\n%s\n%s", got, orig)
			}

			// Overriding every parameter with the design's own value
			// reproduces it too.
			v := d.Values()
			o := lens.Overrides{BOZRMM: v.BOZRMM, BOZDMM: v.BOZDMM, TDMM: v.TDMM, PowerD: ptr(v.PowerD), Toric: ptr(v.Toric)}
			if tc.t != lens.RGP {
				o.LensSagMM, o.LandingAngles = v.LensSagMM, v.LandingAngles
			}
			same, err := lens.Revise(d, tc.eye, tc.in, o)
			if err != nil {
				t.Fatal(err)
			}
			sv := same.Values()
			for _, p := range [][2]float64{{sv.BOZRMM, v.BOZRMM}, {sv.TDMM, v.TDMM}, {sv.SagMM, v.SagMM}, {sv.PowerD, v.PowerD},
				{sv.FrontRadiusMM, v.FrontRadiusMM}, {sv.LensSagMM, v.LensSagMM}, {sv.ReturnZoneDepthMM, v.ReturnZoneDepthMM},
				{sv.CentralClearanceUM, v.CentralClearanceUM}} {
				if !near(p[0], p[1], 1e-9) {
					t.Errorf("own values as overrides: %+v, want %+v", sv, v)
					break
				}
			}
			if len(same.Revision.Overrides) == 0 || sv.Toric != v.Toric || len(sv.LandingAngles) != len(v.LandingAngles) {
				t.Errorf("revision %+v, values %+v", same.Revision, sv)
			}
			checkRevised(t, same, tc.eye)
		})
	}
}

func TestReviseScleralLensSag(t *testing.T) {
	for _, eye := range []lenstest.Biconic{lenstest.Reference(), lenstest.Toric()} {
		t.Run(fmt.Sprint(eye.Steep.R0MM), func(t *testing.T) {
			in := lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
			d := mustNew(t, lens.Scleral, eye, in)
			r, err := lens.Revise(d, eye, in, lens.Overrides{LensSagMM: d.Scleral.LensSagMM - 0.100})
			if err != nil {
				t.Fatal(err)
			}
			checkRevised(t, r, eye)
			m, rL := d.BackSurface.Profiles[0].MeridianDeg, d.Scleral.LandingChordMM/2
			if got := d.BackSurface.SagMM(m, rL) - r.BackSurface.SagMM(m, rL); !near(got, 0.100, 1e-9) {
				t.Errorf("sag at 15 mm down by %v mm", got)
			}
			if !near(r.Scleral.LensSagMM, d.Scleral.LensSagMM-0.1, 1e-9) || !near(r.Scleral.InsertionClearanceUM, 200, 1e-6) ||
				!near(r.Scleral.SettledClearanceUM, 50, 1e-6) {
				t.Errorf("details: sag %v, insertion %v, settled %v", r.Scleral.LensSagMM, r.Scleral.InsertionClearanceUM, r.Scleral.SettledClearanceUM)
			}
			for i := range r.Clearance {
				if got := d.Clearance[i].ApexClearanceUM - r.Clearance[i].ApexClearanceUM; !near(got, 100, 0.5) {
					t.Errorf("%s: central clearance down by %v microns", r.Clearance[i].Label, got)
				}
			}
			if r.Toric != d.Toric || !near(r.ToricStepUM, d.ToricStepUM, 1e-9) {
				t.Errorf("toric %v step %v, was %v %v", r.Toric, r.ToricStepUM, d.Toric, d.ToricStepUM)
			}
			if len(r.Warnings) == 0 {
				t.Error("no warning for 50 microns of settled clearance")
			}
			want := lens.Override{Field: "lens_sag_mm", From: d.Scleral.LensSagMM, To: d.Scleral.LensSagMM - 0.1}
			if len(r.Revision.Overrides) != 1 || r.Revision.Overrides[0] != want {
				t.Errorf("overrides %+v, want %+v", r.Revision.Overrides, want)
			}
		})
	}
}

func TestReviseOrthoKBOZR(t *testing.T) {
	eye, in := lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	d := mustNew(t, lens.OrthoK, eye, in)
	rO, rL := d.BOZDMM/2, d.OrthoK.LandingChordMM/2
	bozr := d.BOZRMM + 0.10
	deeper := lens.SphereSagMM(d.BOZRMM, rO) - lens.SphereSagMM(bozr, rO)
	tests := []struct {
		name           string
		o              lens.Overrides
		rzd, apexUM    float64
		landingSagMove float64
	}{
		{"depth derived", lens.Overrides{BOZRMM: bozr}, d.OrthoK.ReturnZoneDepthMM + deeper, 10, 0},
		{"depth overridden", lens.Overrides{BOZRMM: bozr, ReturnZoneDepthMM: d.OrthoK.ReturnZoneDepthMM + deeper + 0.005}, d.OrthoK.ReturnZoneDepthMM + deeper + 0.005, 15, 0.005},
		{"landing sag overridden", lens.Overrides{BOZRMM: bozr, LensSagMM: d.Values().LensSagMM + 0.01}, d.OrthoK.ReturnZoneDepthMM + deeper + 0.01, 20, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := lens.Revise(d, eye, in, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			checkRevised(t, r, eye)
			if r.BOZRMM != bozr || !near(r.OrthoK.BOZRD, 337.5/bozr, 1e-9) {
				t.Errorf("BOZR %v (%v D)", r.BOZRMM, r.OrthoK.BOZRD)
			}
			if !near(r.OrthoK.ReturnZoneDepthMM, tt.rzd, 1e-9) {
				t.Errorf("return zone depth %v, want %v", r.OrthoK.ReturnZoneDepthMM, tt.rzd)
			}
			m := r.BackSurface.Profiles[0].MeridianDeg
			if got := r.BackSurface.SagMM(m, rL) - d.BackSurface.SagMM(m, rL); !near(got, tt.landingSagMove, 1e-9) {
				t.Errorf("landing sag moved %v mm, want %v", got, tt.landingSagMove)
			}
			if got := r.BackSurface.SagMM(m, rO); !near(got, lens.SphereSagMM(bozr, rO), 1e-12) {
				t.Errorf("optic zone sag %v", got)
			}
			if c := r.Clearance[0]; !near(c.ApexClearanceUM, tt.apexUM, 1e-6) || !near(r.OrthoK.CentralClearanceUM, tt.apexUM, 1e-6) {
				t.Errorf("central clearance %v (details %v), want %v", c.ApexClearanceUM, r.OrthoK.CentralClearanceUM, tt.apexUM)
			}
		})
	}
}

func TestReviseRGPPower(t *testing.T) {
	eye, in := lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	d := mustNew(t, lens.RGP, eye, in)
	for _, p := range []float64{d.PowerD + 0.75, 0, 2.5} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			r, err := lens.Revise(d, eye, in, lens.Overrides{PowerD: ptr(p)})
			if err != nil {
				t.Fatal(err)
			}
			checkRevised(t, r, eye)
			want := lens.FrontRadiusMM(p, d.BOZRMM, r.CentreThicknessMM, d.MaterialIndex)
			if r.PowerD != p || r.FrontRadiusMM != want || r.FrontRadiusMM == d.FrontRadiusMM {
				t.Errorf("power %v, front radius %v (want %v, was %v)", r.PowerD, r.FrontRadiusMM, want, d.FrontRadiusMM)
			}
			if r.BOZRMM != d.BOZRMM || r.SagMM != d.SagMM {
				t.Errorf("back surface changed: BOZR %v sag %v", r.BOZRMM, r.SagMM)
			}
		})
	}
	// BOZD and TD overrides rebuild the peripheral curves.
	r, err := lens.Revise(d, eye, in, lens.Overrides{TDMM: 9.8, BOZDMM: 8.2})
	if err != nil {
		t.Fatal(err)
	}
	checkRevised(t, r, eye)
	if r.TDMM != 9.8 || r.BOZDMM != 8.2 || r.RGP.BOZDRule != lens.BOZDRuleRevision || !near(r.RGP.PeripheralCurve.OuterChordMM, 9.8, 1e-12) {
		t.Errorf("TD %v BOZD %v rule %q curves %+v", r.TDMM, r.BOZDMM, r.RGP.BOZDRule, r.RGP.PeripheralCurve)
	}
}

func TestReviseLandingAngles(t *testing.T) {
	for _, typ := range []lens.Type{lens.OrthoK, lens.Scleral} {
		t.Run(string(typ), func(t *testing.T) {
			eye, in := lenstest.Reference(), lens.Clinical{RefractionD: -2, HVIDMM: 11.8}
			d := mustNew(t, typ, eye, in)
			if d.Toric {
				t.Fatal("reference design is toric")
			}
			a := d.Values().LandingAngles[0].AngleDeg
			r, err := lens.Revise(d, eye, in, lens.Overrides{LandingAngles: []lens.LandingAngle{{180, a}, {90, a + 1}}})
			if err != nil {
				t.Fatal(err)
			}
			checkRevised(t, r, eye)
			got := r.Values().LandingAngles
			if !r.Toric || len(got) != 2 || got[0] != (lens.LandingAngle{180, a}) || got[1] != (lens.LandingAngle{90, a + 1}) {
				t.Fatalf("toric %v, landing angles %v", r.Toric, got)
			}
			if len(r.Clearance) != 2 || r.Clearance[0].MeridianDeg != 180 || r.Clearance[1].MeridianDeg != 90 {
				t.Fatalf("clearance profiles %v", len(r.Clearance))
			}
			edge := len(r.Clearance[0].RMM) - 1
			if r.Clearance[0].LensSagMM[edge] == r.Clearance[1].LensSagMM[edge] {
				t.Error("the steeper landing does not change the steep profile's edge")
			}
			if len(r.Revision.Overrides) != 2 || *r.Revision.Overrides[1].MeridianDeg != 90 || r.Revision.Overrides[1].From != a {
				t.Errorf("overrides %+v", r.Revision.Overrides)
			}
			// Forcing a spherical landing keeps one profile.
			flat, err := lens.Revise(r, eye, in, lens.Overrides{Toric: ptr(false)})
			if err != nil {
				t.Fatal(err)
			}
			if flat.Toric || len(flat.BackSurface.Profiles) != 1 || flat.Revision.Number != 2 || flat.Revision.Overrides[0].From != 1 {
				t.Errorf("toric %v, %d profiles, revision %+v", flat.Toric, len(flat.BackSurface.Profiles), flat.Revision)
			}
		})
	}
}

func TestReviseErrors(t *testing.T) {
	eye, in := lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	designs := map[lens.Type]*lens.Design{}
	for _, typ := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
		designs[typ] = mustNew(t, typ, eye, in)
	}
	other := lenstest.Toric()
	tests := []struct {
		name  string
		typ   lens.Type
		eye   lens.Eye
		in    lens.Clinical
		o     lens.Overrides
		field string
	}{
		{"BOZR too flat", lens.RGP, eye, in, lens.Overrides{BOZRMM: 12.5}, "bozr_mm"},
		{"BOZR negative", lens.OrthoK, eye, in, lens.Overrides{BOZRMM: -8}, "bozr_mm"},
		{"BOZR NaN", lens.OrthoK, eye, in, lens.Overrides{BOZRMM: math.NaN()}, "bozr_mm"},
		{"TD too small", lens.Scleral, eye, in, lens.Overrides{TDMM: 7}, "td_mm"},
		{"TD too large", lens.Scleral, eye, in, lens.Overrides{TDMM: 25}, "td_mm"},
		{"sag too deep", lens.Scleral, eye, in, lens.Overrides{LensSagMM: 8.5}, "lens_sag_mm"},
		{"sag negative", lens.Scleral, eye, in, lens.Overrides{LensSagMM: -1}, "lens_sag_mm"},
		{"power", lens.RGP, eye, in, lens.Overrides{PowerD: ptr(31.0)}, "power_D"},
		{"angle", lens.OrthoK, eye, in, lens.Overrides{LandingAngles: []lens.LandingAngle{{180, 90}}}, "landing_angles[0].angle_deg"},
		{"meridian", lens.OrthoK, eye, in, lens.Overrides{LandingAngles: []lens.LandingAngle{{90, 30}, {190, 30}}}, "landing_angles[1].meridian_deg"},
		{"meridian twice", lens.Scleral, eye, in, lens.Overrides{LandingAngles: []lens.LandingAngle{{0, 30}, {180, 31}}}, "landing_angles[1].meridian_deg"},
		{"not a principal meridian", lens.Scleral, eye, in, lens.Overrides{LandingAngles: []lens.LandingAngle{{45, 30}}}, "landing_angles[0].meridian_deg"},
		{"toric false but angles differ", lens.OrthoK, eye, in, lens.Overrides{Toric: ptr(false), LandingAngles: []lens.LandingAngle{{180, 30}, {90, 31}}}, "toric"},
		{"RGP landing", lens.RGP, eye, in, lens.Overrides{LandingAngles: []lens.LandingAngle{{180, 30}}}, "landing_angles"},
		{"RGP sag", lens.RGP, eye, in, lens.Overrides{LensSagMM: 1}, "lens_sag_mm"},
		{"RGP toric", lens.RGP, eye, in, lens.Overrides{Toric: ptr(true)}, "toric"},
		{"scleral return zone", lens.Scleral, eye, in, lens.Overrides{ReturnZoneDepthMM: 0.6}, "return_zone_depth_mm"},
		{"return zone and sag", lens.OrthoK, eye, in, lens.Overrides{ReturnZoneDepthMM: 0.6, LensSagMM: 1.2}, "return_zone_depth_mm"},
		{"return zone too deep", lens.OrthoK, eye, in, lens.Overrides{ReturnZoneDepthMM: 2.5}, "return_zone_depth_mm"},
		{"BOZD over TD", lens.RGP, eye, in, lens.Overrides{BOZDMM: 9.8, TDMM: 9.6}, "bozd_mm"},
		{"BOZD leaves no curves", lens.RGP, eye, in, lens.Overrides{BOZDMM: 9.4}, "bozd_mm"},
		{"BOZD over the landing", lens.OrthoK, eye, in, lens.Overrides{BOZDMM: 7.8}, "bozd_mm"},
		{"TD inside the landing", lens.Scleral, eye, in, lens.Overrides{TDMM: 14.5}, "td_mm"},
		{"orthok TD inside the landing", lens.OrthoK, eye, in, lens.Overrides{TDMM: 8.5}, "td_mm"},
		{"another eye", lens.OrthoK, other, in, lens.Overrides{}, "eye"},
		{"another refraction", lens.RGP, eye, lens.Clinical{RefractionD: -2, HVIDMM: 11.8}, lens.Overrides{}, "refraction_D"},
		{"another HVID", lens.Scleral, eye, lens.Clinical{RefractionD: -3, HVIDMM: 12}, lens.Overrides{}, "hvid_mm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lens.Revise(designs[tt.typ], tt.eye, tt.in, tt.o)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Fatalf("got %v (field %q), want Invalid on %q", err, errs.FieldOf(err), tt.field)
			}
		})
	}
	if _, err := lens.Revise(nil, eye, in, lens.Overrides{}); errs.FieldOf(err) != "design" {
		t.Errorf("nil design: %v", err)
	}
	bare := *designs[lens.OrthoK]
	bare.OrthoK = nil
	if _, err := lens.Revise(&bare, eye, in, lens.Overrides{}); errs.FieldOf(err) != "design" {
		t.Errorf("design without details: %v", err)
	}
}
