package lens_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/errs"
)

type designCase struct {
	name string
	t    lens.Type
	eye  lenstest.Biconic
	in   lens.Clinical
}

func designCases() []designCase {
	oblique := lenstest.Toric()
	oblique.FlatAxisDeg = 20
	scleralToric := lenstest.Biconic{Flat: cornea.Conic{R0MM: 7.9, P: 0.8}, Steep: cornea.Conic{R0MM: 7.5, P: 0.7}, FlatAxisDeg: 170}
	var cs []designCase
	for _, t := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
		cs = append(cs,
			designCase{string(t) + "/reference", t, lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}},
			designCase{string(t) + "/toric", t, lenstest.Toric(), lens.Clinical{RefractionD: -2, HVIDMM: 11.4}},
			designCase{string(t) + "/oblique", t, oblique, lens.Clinical{RefractionD: -4.5, HVIDMM: 12.2}},
			designCase{string(t) + "/scleral toric", t, scleralToric, lens.Clinical{RefractionD: -1, HVIDMM: 11.6}},
			designCase{string(t) + "/astigmatic", t, astigEye(3, 30), lens.Clinical{RefractionD: -2, CylinderD: -3.25, AxisDeg: 30, VertexMM: 13, HVIDMM: 11.8, PupilMM: 4}},
		)
	}
	return cs
}

// TestDesignConsistency checks what every design promises: the clearance
// arrays agree with the back surface and the eye, the lens rests on the eye
// (least clearance zero, none negative), the profiles are continuous, the
// sag at TD is the profile's, and the front radius gives the power.
func TestDesignConsistency(t *testing.T) {
	set := lens.DefaultNomograms()
	for _, tc := range designCases() {
		t.Run(tc.name, func(t *testing.T) {
			d, err := lens.New(tc.t, tc.eye, tc.in, set)
			if err != nil {
				t.Fatal(err)
			}
			if d.Type != tc.t || d.Nomogram == "" || d.NomogramVersion != lens.DefaultNomogramVersion {
				t.Errorf("type %q nomogram %q %q", d.Type, d.Nomogram, d.NomogramVersion)
			}
			if got := d.BackSurface.EdgeMM(); got != d.TDMM/2 {
				t.Errorf("back surface edge %v, TD %v", got, d.TDMM)
			}
			if got := d.BackSurface.SagMM(d.BackSurface.Profiles[0].MeridianDeg, d.TDMM/2); !near(got, d.SagMM, 1e-12) {
				t.Errorf("sag at TD %v, profile %v", d.SagMM, got)
			}
			if d.Toric != d.BackSurface.Toric() {
				t.Errorf("Toric %v but %d profiles", d.Toric, len(d.BackSurface.Profiles))
			}
			for _, p := range d.BackSurface.Profiles {
				checkContinuous(t, p)
			}
			if got := lens.BackVertexPowerD(d.FrontRadiusMM, d.BOZRMM, d.CentreThicknessMM, d.MaterialIndex); !near(got, d.PowerD, 1e-9) {
				t.Errorf("front radius %v gives %v D, want %v", d.FrontRadiusMM, got, d.PowerD)
			}
			if len(d.Clearance) != 2 || d.Clearance[0].Label != "flat" || d.Clearance[1].Label != "steep" {
				t.Fatalf("clearance profiles %d", len(d.Clearance))
			}
			fr, fa := tc.eye.FlatK()
			_, sa := tc.eye.SteepK()
			if d.Clearance[0].MeridianDeg != fa || d.Clearance[1].MeridianDeg != sa || d.FlatK.RadiusMM != fr {
				t.Errorf("clearance meridians %v, %v; eye %v, %v", d.Clearance[0].MeridianDeg, d.Clearance[1].MeridianDeg, fa, sa)
			}
			least := math.Inf(1)
			for _, c := range d.Clearance {
				if c.ApexClearanceUM != d.Clearance[0].ApexClearanceUM || c.RMM[0] != 0 || c.RMM[len(c.RMM)-1] != d.TDMM/2 {
					t.Errorf("%s: apex %v, r from %v to %v", c.Label, c.ApexClearanceUM, c.RMM[0], c.RMM[len(c.RMM)-1])
				}
				if c.ClearanceUM[0] != c.ApexClearanceUM {
					t.Errorf("%s: clearance at the centre %v, apex %v", c.Label, c.ClearanceUM[0], c.ApexClearanceUM)
				}
				for i, r := range c.RMM {
					eye, _, _ := tc.eye.SagMM(c.MeridianDeg, 2*r)
					lensSag := d.BackSurface.SagMM(c.MeridianDeg, r)
					if eye != c.EyeSagMM[i] || lensSag != c.LensSagMM[i] {
						t.Fatalf("%s r %v: eye %v/%v lens %v/%v", c.Label, r, eye, c.EyeSagMM[i], lensSag, c.LensSagMM[i])
					}
					if want := 1000 * (eye + c.ApexClearanceUM/1000 - lensSag); !near(c.ClearanceUM[i], want, 1e-9) {
						t.Fatalf("%s r %v: clearance %v, want %v", c.Label, r, c.ClearanceUM[i], want)
					}
					if i > 0 && r <= c.RMM[i-1] {
						t.Fatalf("%s: radii not increasing at %d", c.Label, i)
					}
				}
				if c.MinClearanceUM < -1e-6 {
					t.Errorf("%s: negative clearance %v at %v", c.Label, c.MinClearanceUM, c.MinAtMM)
				}
				least = min(least, c.MinClearanceUM)
			}
			if !near(least, 0, 1e-6) {
				t.Errorf("the lens does not rest on the eye: least clearance %v", least)
			}
			if _, err := json.Marshal(d); err != nil {
				t.Errorf("design does not encode: %v", err)
			}
		})
	}
}

// checkContinuous checks that each zone starts where the previous ends and
// that the formula of each zone meets its stated end sags.
func checkContinuous(t *testing.T, p lens.Profile) {
	t.Helper()
	if p.Zones[0].InnerMM != 0 || p.Zones[0].InnerSagMM != 0 || p.SagMM(0) != 0 {
		t.Errorf("meridian %v: profile does not start at the apex", p.MeridianDeg)
	}
	for i, z := range p.Zones {
		if i > 0 {
			prev := p.Zones[i-1]
			if z.InnerMM != prev.OuterMM || !near(z.InnerSagMM, prev.OuterSagMM, 1e-12) {
				t.Errorf("meridian %v: zone %s starts at %v/%v, previous ends at %v/%v", p.MeridianDeg, z.Name, z.InnerMM, z.InnerSagMM, prev.OuterMM, prev.OuterSagMM)
			}
		}
		if got := p.SagMM(z.OuterMM); !near(got, z.OuterSagMM, 1e-12) {
			t.Errorf("meridian %v: zone %s ends at %v, formula gives %v", p.MeridianDeg, z.Name, z.OuterSagMM, got)
		}
		// Sag grows outward across the zone.
		for k := 1; k <= 20; k++ {
			r0 := z.InnerMM + (z.OuterMM-z.InnerMM)*float64(k-1)/20
			r1 := z.InnerMM + (z.OuterMM-z.InnerMM)*float64(k)/20
			if p.SagMM(r1) <= p.SagMM(r0) {
				t.Errorf("meridian %v: zone %s not monotone at %v", p.MeridianDeg, z.Name, r1)
				break
			}
		}
	}
}

func TestOrthoKClearance(t *testing.T) {
	for _, eye := range []lenstest.Biconic{lenstest.Reference(), lenstest.Toric()} {
		d, err := lens.DesignOrthoK(eye, lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultOrthoKNomogram())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Clearance {
			// Central clearance is the target; the lens lands at the landing chord.
			if !near(c.At(0), 10, 1e-9) || !near(c.At(4), 0, 1e-9) {
				t.Errorf("%s: clearance at centre %v, landing %v", c.Label, c.At(0), c.At(4))
			}
			// Lens sag - corneal sag = clearance at the landing chord.
			i := indexOf(c.RMM, 4)
			if !near(1000*(c.LensSagMM[i]-c.EyeSagMM[i]), 10, 1e-9) {
				t.Errorf("%s: lens - eye sag at landing %v", c.Label, 1000*(c.LensSagMM[i]-c.EyeSagMM[i]))
			}
			// The reverse zone is a tear reservoir deeper than the centre.
			if c.At(3) <= c.At(0) {
				t.Errorf("%s: reverse zone clearance %v not above central %v", c.Label, c.At(3), c.At(0))
			}
		}
		if len(d.Warnings) != 0 {
			t.Errorf("warnings: %v", d.Warnings)
		}
		if d.PowerD != 0.75 || !near(d.TearLensD, -3.73, 0.005) {
			t.Errorf("power %v tear lens %v", d.PowerD, d.TearLensD)
		}
	}
}

func TestScleralDesign(t *testing.T) {
	d, err := lens.DesignScleral(lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultScleralNomogram())
	if err != nil {
		t.Fatal(err)
	}
	s := d.Scleral
	if !near(s.OcularSagMM, 3.6765, 5e-5) || s.OcularSagSource != lenstest.SourceTangentLine {
		t.Errorf("ocular sag %v from %q", s.OcularSagMM, s.OcularSagSource)
	}
	if !near(s.LensSagMM, 3.6765+0.300, 5e-5) || !near(d.BackSurface.SagMM(0, 7.5), s.LensSagMM, 1e-12) {
		t.Errorf("lens sag at 15 mm %v (profile %v)", s.LensSagMM, d.BackSurface.SagMM(0, 7.5))
	}
	if s.SettledClearanceUM != 150 || s.SettledClearanceUM < s.Nomogram.MinSettledClearanceUM {
		t.Errorf("settled clearance %v", s.SettledClearanceUM)
	}
	flat := d.Clearance[0]
	if !near(flat.At(0), 300, 1e-9) || !near(flat.At(7.5), 0, 1e-9) {
		t.Errorf("clearance at centre %v, landing %v", flat.At(0), flat.At(7.5))
	}
	i := indexOf(flat.RMM, 7.5)
	if !near(1000*(flat.LensSagMM[i]-flat.EyeSagMM[i]), 300, 1e-9) {
		t.Errorf("lens - eye sag at landing %v", 1000*(flat.LensSagMM[i]-flat.EyeSagMM[i]))
	}
	// The haptic lies on the (tangent-line) sclera: no clearance under it.
	for k, r := range flat.RMM {
		if r >= 7.5 && !near(flat.ClearanceUM[k], 0, 1e-6) {
			t.Errorf("haptic clearance %v at %v", flat.ClearanceUM[k], r)
		}
	}
	if a := d.Scleral.Landings[0].AngleDeg; !near(a, 37.62, 0.005) {
		t.Errorf("landing angle %v", a)
	}
	if s.LimbalClearanceUM <= s.Nomogram.SettlingUM || flat.ExtrapolatedFromMM != 5.1 {
		t.Errorf("limbal clearance %v, extrapolated from %v", s.LimbalClearanceUM, flat.ExtrapolatedFromMM)
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "extrapolated") {
		t.Errorf("warnings %q, want the extrapolation noted", d.Warnings)
	}
	if d.Toric {
		t.Error("reference eye gave toric haptics")
	}
}

func TestScleralToricHaptics(t *testing.T) {
	tests := []struct {
		name      string
		steepR    float64
		threshold float64
		toric     bool
	}{
		{"7.80/7.60 beyond 100 microns", 7.60, 100, true},
		{"7.80/7.70 within 100 microns", 7.70, 100, false},
		{"7.80/7.60 within a 200 micron threshold", 7.60, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eye := lenstest.Toric()
			eye.Steep.R0MM = tt.steepR
			n := lens.DefaultScleralNomogram()
			n.ToricHapticThresholdUM = tt.threshold
			d, err := lens.DesignScleral(eye, lens.Clinical{HVIDMM: 11.8}, n)
			if err != nil {
				t.Fatal(err)
			}
			f, _, _ := eye.SagMM(180, 15)
			s, _, _ := eye.SagMM(90, 15)
			diff := 1000 * (s - f)
			if !near(d.Scleral.SagDifferenceUM, diff, 1e-9) || d.Toric != tt.toric {
				t.Fatalf("difference %v (want %v), toric %v", d.Scleral.SagDifferenceUM, diff, d.Toric)
			}
			step := 1000 * (d.BackSurface.SagMM(90, 7.5) - d.BackSurface.SagMM(180, 7.5))
			if tt.toric {
				if !near(d.ToricStepUM, diff, 1e-9) || !near(step, diff, 1e-9) {
					t.Errorf("step %v, haptic step %v, want %v", d.ToricStepUM, step, diff)
				}
				for _, c := range d.Clearance {
					if !near(c.At(7.5), 0, 1e-9) {
						t.Errorf("%s lands with %v microns", c.Label, c.At(7.5))
					}
				}
			} else if step != 0 || d.ToricStepUM != 0 {
				t.Errorf("spherical haptic has a step %v / %v", step, d.ToricStepUM)
			}
		})
	}
}

func TestRGPDesign(t *testing.T) {
	d, err := lens.DesignRGP(lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultRGPNomogram())
	if err != nil {
		t.Fatal(err)
	}
	r := d.RGP
	if d.BOZRMM != 7.75 || d.TDMM != 9.6 || d.BOZDMM != 8.0 || r.BOZDRule == "" {
		t.Errorf("BOZR %v TD %v BOZD %v (%s)", d.BOZRMM, d.TDMM, d.BOZDMM, r.BOZDRule)
	}
	if r.SecondaryCurve.RadiusMM != 8.75 || r.PeripheralCurve.RadiusMM != 10.25 {
		t.Errorf("SCR %v PCR %v", r.SecondaryCurve.RadiusMM, r.PeripheralCurve.RadiusMM)
	}
	// Axial edge lift: the BOZR sphere to TD less the tricurve's sag, which
	// is the optic sag plus each zone's sag(r_i, outer) - sag(r_i, inner).
	tri := lens.SphereSagMM(7.75, 4) +
		lens.SphereSagMM(8.75, 4.4) - lens.SphereSagMM(8.75, 4) +
		lens.SphereSagMM(10.25, 4.8) - lens.SphereSagMM(10.25, 4.4)
	if !near(d.SagMM, tri, 1e-12) || !near(r.AxialEdgeLiftMM, lens.SphereSagMM(7.75, 4.8)-tri, 1e-12) {
		t.Errorf("sag %v (want %v), edge lift %v", d.SagMM, tri, r.AxialEdgeLiftMM)
	}
	if !near(r.SecondaryCurve.SagAddedMM+r.PeripheralCurve.SagAddedMM, tri-lens.SphereSagMM(7.75, 4), 1e-12) {
		t.Errorf("zone sags %v + %v", r.SecondaryCurve.SagAddedMM, r.PeripheralCurve.SagAddedMM)
	}
	// Steeper than K: apical clearance, resting at the optic zone edge.
	if c := d.Clearance[0]; !(c.ApexClearanceUM > 0) || c.MinAtMM != 4 {
		t.Errorf("apex clearance %v, rests at %v", c.ApexClearanceUM, c.MinAtMM)
	}
	if want := math.Round(4*(lens.VertexD(-3, 12)-d.TearLensD)) / 4; d.PowerD != want || d.PowerD != -3.25 {
		t.Errorf("power %v, want %v", d.PowerD, want)
	}
	// With a pupil, BOZD = pupil + 2 and the secondary zone takes the rest.
	d, err = lens.DesignRGP(lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8, PupilMM: 5}, lens.DefaultRGPNomogram())
	if err != nil {
		t.Fatal(err)
	}
	if d.BOZDMM != 7.0 || !near(d.RGP.SecondaryCurve.WidthMM, 0.9, 1e-12) || d.RGP.PeripheralCurve.OuterChordMM != 9.6 {
		t.Errorf("BOZD %v secondary width %v outer %v", d.BOZDMM, d.RGP.SecondaryCurve.WidthMM, d.RGP.PeripheralCurve.OuterChordMM)
	}
	// A plus lens is thicker.
	d, err = lens.DesignRGP(lenstest.Reference(), lens.Clinical{RefractionD: 5, HVIDMM: 11.8}, lens.DefaultRGPNomogram())
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.20 + 0.02*d.PowerD; !near(d.CentreThicknessMM, want, 1e-12) {
		t.Errorf("CT %v, want %v", d.CentreThicknessMM, want)
	}
}

func TestMissingHVIDWarns(t *testing.T) {
	d, err := lens.DesignRGP(lenstest.Reference(), lens.Clinical{RefractionD: -1}, lens.DefaultRGPNomogram())
	if err != nil {
		t.Fatal(err)
	}
	if d.HVIDMM != 11.8 || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "HVID") {
		t.Errorf("HVID %v, warnings %q", d.HVIDMM, d.Warnings)
	}
}

// failingEye fails on demand.
type failingEye struct {
	lenstest.Biconic
	sagErr, angleErr error
	flatR            float64
}

func (e failingEye) FlatK() (float64, float64) {
	if e.flatR != 0 {
		return e.flatR, 180
	}
	return e.Biconic.FlatK()
}

func (e failingEye) SagMM(m, c float64) (float64, string, error) {
	if e.sagErr != nil {
		return 0, "", e.sagErr
	}
	return e.Biconic.SagMM(m, c)
}

func (e failingEye) TangentAngleDeg(m, y float64) (float64, error) {
	if e.angleErr != nil {
		return 0, e.angleErr
	}
	return e.Biconic.TangentAngleDeg(m, y)
}

func TestDesignErrors(t *testing.T) {
	ref := lenstest.Reference()
	ok := lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	coverage := errs.Ef("cornea.Sag", errs.Invalid, "no valid data beyond 4.0 mm")
	plain := errors.New("broken")
	set := lens.DefaultNomograms()
	badRGP := set
	badRGP.RGP.MaterialIndex = 2
	tests := []struct {
		name  string
		t     lens.Type
		eye   lens.Eye
		in    lens.Clinical
		set   lens.Nomograms
		kind  errs.Kind
		field string
	}{
		{"nil eye", lens.RGP, nil, ok, set, errs.Invalid, ""},
		{"implausible K", lens.RGP, failingEye{Biconic: ref, flatR: 30}, ok, set, errs.Invalid, "flatK"},
		{"NaN refraction", lens.RGP, ref, lens.Clinical{RefractionD: math.NaN()}, set, errs.Invalid, "refraction_D"},
		{"HVID too small", lens.Scleral, ref, lens.Clinical{HVIDMM: 5}, set, errs.Invalid, "hvid_mm"},
		{"pupil too large", lens.RGP, ref, lens.Clinical{HVIDMM: 11.8, PupilMM: 8}, set, errs.Invalid, "pupil_mm"},
		{"implausible pupil", lens.RGP, ref, lens.Clinical{HVIDMM: 11.8, PupilMM: 20}, set, errs.Invalid, "pupil_mm"},
		{"hyperopic ortho-k", lens.OrthoK, ref, lens.Clinical{RefractionD: 1, HVIDMM: 11.8}, set, errs.Invalid, "refraction_D"},
		{"plano ortho-k", lens.OrthoK, ref, lens.Clinical{HVIDMM: 11.8}, set, errs.Invalid, "refraction_D"},
		{"too much myopia", lens.OrthoK, ref, lens.Clinical{RefractionD: -8, HVIDMM: 11.8}, set, errs.Invalid, "refraction_D"},
		{"ortho-k TD inside landing", lens.OrthoK, ref, lens.Clinical{RefractionD: -2, HVIDMM: 9.5}, set, errs.Invalid, "hvid_mm"},
		{"scleral TD inside landing", lens.Scleral, ref, lens.Clinical{HVIDMM: 9.0}, set, errs.Invalid, "hvid_mm"},
		{"invalid nomogram", lens.RGP, ref, ok, badRGP, errs.Invalid, "nomogram.material_index"},
		{"eye lacks coverage", lens.Scleral, failingEye{Biconic: ref, sagErr: coverage}, ok, set, errs.Invalid, ""},
		{"eye fails unclassified", lens.OrthoK, failingEye{Biconic: ref, sagErr: plain}, ok, set, errs.Invalid, ""},
		{"eye angle fails", lens.OrthoK, failingEye{Biconic: ref, angleErr: plain}, ok, set, errs.Invalid, ""},
		{"eye angle unavailable", lens.Scleral, failingEye{Biconic: ref, angleErr: errs.E("x", errs.Unavailable, plain)}, ok, set, errs.Unavailable, ""},
		{"unknown type", lens.Type("soft"), ref, ok, set, errs.Invalid, "lens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := lens.New(tt.t, tt.eye, tt.in, tt.set)
			if err == nil {
				t.Fatalf("no error; design %+v", d)
			}
			if errs.KindOf(err) != tt.kind || errs.FieldOf(err) != tt.field {
				t.Errorf("err = %v (kind %v, field %q), want kind %v field %q", err, errs.KindOf(err), errs.FieldOf(err), tt.kind, tt.field)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	for _, s := range []string{"rgp", "orthok", "scleral"} {
		if got, err := lens.ParseType(s); err != nil || string(got) != s {
			t.Errorf("ParseType(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := lens.ParseType("ortho-k"); errs.FieldOf(err) != "lens" {
		t.Errorf("ParseType(ortho-k) = %v", err)
	}
}

func indexOf(rs []float64, r float64) int {
	for i, v := range rs {
		if v == r {
			return i
		}
	}
	return -1
}
