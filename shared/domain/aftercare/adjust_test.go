package aftercare

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/errs"
)

func orthoKParams() DesignParams {
	return DesignParams{BOZRMM: 8.54, BOZDMM: 6, TDMM: 10.6, PowerD: 0.75, LandingChordMM: 8,
		ReturnZoneDepthMM: 0.5476, TargetClearanceUM: 10,
		Landings: []LandingAngle{{180, 29.79}, {90, 29.79}}}
}

func scleralParams() DesignParams {
	return DesignParams{BOZRMM: 7.9, BOZDMM: 10, TDMM: 17.5, PowerD: -3.25, LandingChordMM: 15,
		LensSagMM: 3.9765, TargetClearanceUM: 150,
		Landings: []LandingAngle{{180, 37.6}, {90, 37.6}}}
}

func rgpParams() DesignParams {
	return DesignParams{BOZRMM: 7.75, BOZDMM: 8, TDMM: 9.6, PowerD: -3.25}
}

func adjusting(lensType string, edit func(*Assessment)) Assessment {
	a := Assessment{VisitKey: "month-1", VisualAcuity: "6/9", Comfort: 7, Outcome: OutcomeAdjust}
	edit(&a)
	return a
}

type wantChange struct {
	param    string
	meridian float64 // -1: none
	from, to float64
}

func TestAdjust(t *testing.T) {
	tests := []struct {
		name     string
		lensType string
		params   DesignParams
		a        Assessment
		want     []wantChange
		toric    bool
		note     string
	}{
		{"orthok under-correction -0.50 D: BOZR 0.10 flatter, RZD kept in step", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD = f(-0.5) }),
			[]wantChange{{ParamBOZR, -1, 8.54, 8.64}, {ParamReturnZone, -1, 0.5476, 0.5546}}, false, ""},
		{"orthok under-correction -1.00 D: 0.20 flatter", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD = f(-1) }),
			[]wantChange{{ParamBOZR, -1, 8.54, 8.74}, {ParamReturnZone, -1, 0.5476, 0.5606}}, false, ""},
		{"orthok over-correction +0.50 D: 0.10 steeper", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD = f(0.5) }),
			[]wantChange{{ParamBOZR, -1, 8.54, 8.44}, {ParamReturnZone, -1, 0.5476, 0.5406}}, false, ""},
		{"orthok without RZD: BOZR only, with a note", "orthok",
			func() DesignParams { p := orthoKParams(); p.ReturnZoneDepthMM = 0; return p }(),
			adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD = f(-0.75) }),
			[]wantChange{{ParamBOZR, -1, 8.54, 8.69}}, false, "return zone depth was not given"},
		{"orthok central bearing: RZD deeper to the target", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.CentralTearFilmUM = f(0) }),
			[]wantChange{{ParamReturnZone, -1, 0.5476, 0.5576}}, false, ""},
		{"orthok central pooling: RZD shallower", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.CentralTearFilmUM = f(45) }),
			[]wantChange{{ParamReturnZone, -1, 0.5476, 0.5126}}, false, ""},
		{"orthok residual and pooling chain on the RZD", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD, a.CentralTearFilmUM = f(-0.5), f(40) }),
			[]wantChange{{ParamBOZR, -1, 8.54, 8.64}, {ParamReturnZone, -1, 0.5476, 0.5546}, {ParamReturnZone, -1, 0.5546, 0.5246}}, false, ""},
		{"orthok temporal decentration: horizontal landing steeper, made toric", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.Centration = &Centration{Decentred, "temporal", 0.8} }),
			[]wantChange{{ParamLandingAngle, 180, 29.79, 30.79}, {ParamToric, -1, 0, 1}}, true, ""},
		{"orthok superior decentration on a toric lens", "orthok",
			func() DesignParams {
				p := orthoKParams()
				p.Toric, p.Landings = true, []LandingAngle{{175, 29.79}, {85, 30.60}}
				return p
			}(),
			adjusting("orthok", func(a *Assessment) { a.Centration = &Centration{Decentred, "superior", 0.6} }),
			[]wantChange{{ParamLandingAngle, 85, 30.60, 31.60}}, true, ""},
		{"orthok oblique decentration: every meridian, stays spherical", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.Centration = &Centration{Decentred, "inferotemporal", 1} }),
			[]wantChange{{ParamLandingAngle, 180, 29.79, 30.79}, {ParamLandingAngle, 90, 29.79, 30.79}}, false, ""},
		{"scleral 250 microns vs 150: sag -0.100", "scleral", scleralParams(),
			adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM = f(250) }),
			[]wantChange{{ParamLensSag, -1, 3.9765, 3.8765}}, false, ""},
		{"scleral 80 microns vs 150: sag +0.070", "scleral", scleralParams(),
			adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM = f(80) }),
			[]wantChange{{ParamLensSag, -1, 3.9765, 4.0465}}, false, ""},
		{"scleral target from the rules when the design has none", "scleral",
			func() DesignParams { p := scleralParams(); p.TargetClearanceUM, p.LensSagMM = 0, 4.0; return p }(),
			adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM = f(250) }),
			[]wantChange{{ParamLensSag, -1, 4.0, 3.9}}, false, ""},
		{"scleral design target 200", "scleral",
			func() DesignParams { p := scleralParams(); p.TargetClearanceUM, p.LensSagMM = 200, 4.0; return p }(),
			adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM = f(250) }),
			[]wantChange{{ParamLensSag, -1, 4.0, 3.95}}, false, ""},
		{"scleral limbal touch with central on target: raise by the shortfall", "scleral", scleralParams(),
			adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM, a.LimbalClearanceUM = f(150), f(20) }),
			[]wantChange{{ParamLensSag, -1, 3.9765, 4.0065}}, false, ""},
		{"scleral low central and low limbal: the larger raise", "scleral", scleralParams(),
			adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM, a.LimbalClearanceUM = f(80), f(20) }),
			[]wantChange{{ParamLensSag, -1, 3.9765, 4.0465}}, false, ""},
		{"scleral over-refraction -0.50: power", "scleral", scleralParams(),
			adjusting("scleral", func(a *Assessment) { a.OverRefraction = &OverRefraction{SphereD: -0.5} }),
			[]wantChange{{ParamPower, -1, -3.25, -3.75}}, false, ""},
		{"scleral nasal decentration: haptic", "scleral", scleralParams(),
			adjusting("scleral", func(a *Assessment) { a.Centration = &Centration{Decentred, "nasal", 0.75} }),
			[]wantChange{{ParamLandingAngle, 180, 37.6, 38.6}, {ParamToric, -1, 0, 1}}, true, ""},
		{"rgp over-refraction +4.50: vertexed", "rgp", rgpParams(),
			adjusting("rgp", func(a *Assessment) { a.OverRefraction = &OverRefraction{SphereD: 4.5} }),
			[]wantChange{{ParamPower, -1, -3.25, 1.5}}, false, ""},
		{"rgp over-refraction spherical equivalent, residual cyl noted", "rgp", rgpParams(),
			adjusting("rgp", func(a *Assessment) { a.OverRefraction = &OverRefraction{SphereD: -0.25, CylD: -1, AxisDeg: f(180)} }),
			[]wantChange{{ParamPower, -1, -3.25, -4}}, false, "front toric"},
		{"rgp decentration: larger TD", "rgp", rgpParams(),
			adjusting("rgp", func(a *Assessment) { a.Centration = &Centration{Decentred, "inferior", 1} }),
			[]wantChange{{ParamTD, -1, 9.6, 9.8}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := json.Marshal(tt.params)
			adj, err := Adjust(tt.lensType, tt.params, tt.a, DefaultRules())
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := json.Marshal(tt.params); !bytes.Equal(before, after) {
				t.Errorf("Adjust changed its input: %s", after)
			}
			if adj.Rules != "lensflow-adjust" || adj.RulesVersion != "2026.1" || adj.LensType != tt.lensType || adj.VisitKey != "month-1" {
				t.Errorf("header %+v", adj)
			}
			if len(adj.Changes) != len(tt.want) {
				t.Fatalf("changes %+v, want %+v", adj.Changes, tt.want)
			}
			for i, w := range tt.want {
				c := adj.Changes[i]
				m := -1.0
				if c.MeridianDeg != nil {
					m = *c.MeridianDeg
				}
				if c.Parameter != w.param || m != w.meridian || math.Abs(c.From-w.from) > 1e-9 || math.Abs(c.To-w.to) > 1e-9 {
					t.Errorf("change %d: %s@%g %g -> %g, want %s@%g %g -> %g", i, c.Parameter, m, c.From, c.To, w.param, w.meridian, w.from, w.to)
				}
				if c.Reason == "" {
					t.Errorf("change %d has no reason", i)
				}
			}
			if adj.Revised.Toric != tt.toric {
				t.Errorf("revised toric %v, want %v", adj.Revised.Toric, tt.toric)
			}
			if tt.note != "" && !strings.Contains(strings.Join(adj.Notes, "|"), tt.note) {
				t.Errorf("notes %q lack %q", adj.Notes, tt.note)
			}
			// The revised parameters carry the last value of each change.
			rv := map[string]float64{ParamBOZR: adj.Revised.BOZRMM, ParamTD: adj.Revised.TDMM, ParamPower: adj.Revised.PowerD,
				ParamLensSag: adj.Revised.LensSagMM, ParamReturnZone: adj.Revised.ReturnZoneDepthMM}
			for _, c := range adj.Changes {
				if v, ok := rv[c.Parameter]; ok && c == adj.Changes[lastIndex(adj.Changes, c.Parameter)] && v != c.To {
					t.Errorf("revised %s %g, change says %g", c.Parameter, v, c.To)
				}
			}
		})
	}
}

func lastIndex(cs []Change, p string) int {
	i := -1
	for k, c := range cs {
		if c.Parameter == p {
			i = k
		}
	}
	return i
}

func TestAdjustReasons(t *testing.T) {
	adj, err := Adjust("orthok", orthoKParams(), adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD = f(-0.5) }), DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	if r := adj.Changes[0].Reason; !strings.Contains(r, "under-correction") || !strings.Contains(r, "flattened by 0.10 mm") {
		t.Errorf("reason %q", r)
	}
	adj, _ = Adjust("scleral", scleralParams(), adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM = f(250) }), DefaultRules())
	if r := adj.Changes[0].Reason; !strings.Contains(r, "sag at 15 mm reduced by the 100 micron error") {
		t.Errorf("reason %q", r)
	}
}

func TestAdjustErrors(t *testing.T) {
	tests := []struct {
		name     string
		lensType string
		params   DesignParams
		a        Assessment
		rules    func(*Rules)
		kind     errs.Kind
		field    string
		says     string
	}{
		{"continue outcome", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.Outcome = OutcomeContinue; a.ResidualRefractionD = f(-1) }),
			nil, errs.Invalid, "outcome", "nothing to adjust"},
		{"invalid assessment", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.Comfort = 0 }), nil, errs.Invalid, "comfort", ""},
		{"invalid rules", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD = f(-1) }),
			func(r *Rules) { r.OrthoK.BOZRMMPerD = 2 }, errs.Invalid, "orthok.bozrMMPerD", ""},
		{"orthok on target", "orthok", orthoKParams(),
			adjusting("orthok", func(a *Assessment) {
				a.ResidualRefractionD, a.CentralTearFilmUM, a.Centration = f(-0.25), f(15), &Centration{Status: Centred}
			}),
			nil, errs.Unprocessable, "outcome", "residual refraction within ±0.25 D; central tear film within 5-30 microns; centration within 0.5 mm"},
		{"nothing recorded", "rgp", rgpParams(), adjusting("rgp", func(a *Assessment) {}),
			nil, errs.Unprocessable, "outcome", "no over-refraction recorded; centration within 0.5 mm"},
		{"scleral within tolerance", "scleral", scleralParams(),
			adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM = f(130) }),
			nil, errs.Unprocessable, "outcome", "central clearance within 25 microns of its target"},
		{"scleral decentration under threshold", "scleral", scleralParams(),
			adjusting("scleral", func(a *Assessment) { a.Centration = &Centration{Decentred, "temporal", 0.5} }),
			nil, errs.Unprocessable, "outcome", "centration within 0.5 mm"},
		{"scleral limbal conflict: nothing changed, noted", "scleral", scleralParams(),
			adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM, a.LimbalClearanceUM = f(250), f(20) }),
			nil, errs.Unprocessable, "outcome", "limbal zone needs the lab's review"},
		{"rgp TD at its maximum", "rgp", func() DesignParams { p := rgpParams(); p.TDMM = 10.4; return p }(),
			adjusting("rgp", func(a *Assessment) { a.Centration = &Centration{Decentred, "inferior", 1} }),
			nil, errs.Unprocessable, "outcome", "already at the 10.5 mm maximum"},
		{"orthok without a BOZR", "orthok", DesignParams{},
			adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD = f(-1) }),
			nil, errs.Invalid, "design.bozrMM", ""},
		{"orthok tear film without RZD", "orthok", DesignParams{BOZRMM: 8.5},
			adjusting("orthok", func(a *Assessment) { a.CentralTearFilmUM = f(0) }),
			nil, errs.Invalid, "design.returnZoneDepthMM", ""},
		{"scleral without a sag", "scleral", DesignParams{},
			adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM = f(300) }),
			nil, errs.Invalid, "design.lensSagMM", ""},
		{"decentration without landings", "scleral", DesignParams{LensSagMM: 4},
			adjusting("scleral", func(a *Assessment) { a.Centration = &Centration{Decentred, "temporal", 1} }),
			nil, errs.Invalid, "design.landings", ""},
		{"landing at its maximum", "scleral",
			func() DesignParams {
				p := scleralParams()
				p.Landings = []LandingAngle{{0, 59.5}, {90, 59.5}}
				return p
			}(),
			adjusting("scleral", func(a *Assessment) { a.Centration = &Centration{Decentred, "temporal", 1} }),
			nil, errs.Unprocessable, "design.landings", "60 degree maximum"},
		{"BOZR change out of bounds", "orthok", func() DesignParams { p := orthoKParams(); p.BOZRMM = 11.4; return p }(),
			adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD = f(-2) }),
			nil, errs.Unprocessable, "design.bozrMM", "needs a redesign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := DefaultRules()
			if tt.rules != nil {
				tt.rules(&rules)
			}
			_, err := Adjust(tt.lensType, tt.params, tt.a, rules)
			if !errs.Is(tt.kind, err) || errs.FieldOf(err) != tt.field {
				t.Fatalf("err %v (kind %v, field %q), want %v %q", err, errs.KindOf(err), errs.FieldOf(err), tt.kind, tt.field)
			}
			if !strings.Contains(errs.Message(err), tt.says) {
				t.Errorf("message %q lacks %q", errs.Message(err), tt.says)
			}
		})
	}
}

// TestAdjustErrorKeepsValuesOut: the nothing-to-adjust error names the
// checks and their thresholds, never the measurements.
func TestAdjustErrorKeepsValuesOut(t *testing.T) {
	a := adjusting("scleral", func(a *Assessment) {
		a.CentralClearanceUM, a.LimbalClearanceUM, a.FluoresceinNotes = f(137.25), f(20.5), "ZZCANARY"
		a.CentralClearanceUM = f(263.75)
	})
	_, err := Adjust("scleral", scleralParams(), a, DefaultRules())
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{"263", "20.5", "ZZCANARY"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestParamsFromDesign(t *testing.T) {
	t.Run("orthok toric", func(t *testing.T) {
		d, err := lens.DesignOrthoK(lenstest.Toric(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultOrthoKNomogram())
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParamsFromDesign(d)
		if err != nil {
			t.Fatal(err)
		}
		if p.BOZRMM != 8.54 || math.Abs(p.ReturnZoneDepthMM-0.5476) > 1e-4 || p.TargetClearanceUM != 10 || !p.Toric || len(p.Landings) != 2 {
			t.Fatalf("params %+v", p)
		}
		if math.Abs(p.Landings[0].AngleDeg-29.79) > 0.01 || math.Abs(p.Landings[1].AngleDeg-30.60) > 0.01 {
			t.Errorf("landings %+v", p.Landings)
		}
		adj, err := Adjust("orthok", p, adjusting("orthok", func(a *Assessment) { a.ResidualRefractionD = f(-0.5) }), DefaultRules())
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(adj.Revised.BOZRMM-8.64) > 1e-9 {
			t.Errorf("revised BOZR %g", adj.Revised.BOZRMM)
		}
	})
	t.Run("scleral spherical", func(t *testing.T) {
		d, err := lens.DesignScleral(lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultScleralNomogram())
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParamsFromDesign(d)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(p.LensSagMM-3.9765) > 1e-4 || p.TargetClearanceUM != 150 || p.LandingChordMM != 15 || p.Toric || len(p.Landings) != 2 ||
			p.Landings[0].AngleDeg != p.Landings[1].AngleDeg || math.Abs(p.Landings[0].MeridianDeg-p.Landings[1].MeridianDeg) != 90 {
			t.Fatalf("params %+v", p)
		}
		adj, err := Adjust("scleral", p, adjusting("scleral", func(a *Assessment) { a.CentralClearanceUM = f(250) }), DefaultRules())
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(adj.Revised.LensSagMM-(p.LensSagMM-0.1)) > 1e-6 {
			t.Errorf("revised sag %g", adj.Revised.LensSagMM)
		}
	})
	t.Run("rgp", func(t *testing.T) {
		d, err := lens.DesignRGP(lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultRGPNomogram())
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParamsFromDesign(d)
		if err != nil || p.BOZRMM != 7.75 || p.TDMM != 9.6 || p.PowerD != -3.25 || len(p.Landings) != 0 {
			t.Fatalf("params %+v, %v", p, err)
		}
	})
	t.Run("nil", func(t *testing.T) {
		if _, err := ParamsFromDesign(nil); !errs.Is(errs.Invalid, err) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("missing details", func(t *testing.T) {
		if _, err := ParamsFromDesign(&lens.Design{Type: lens.Scleral}); errs.FieldOf(err) != "scleral" {
			t.Errorf("err %v", err)
		}
	})
}

func TestRulesValidate(t *testing.T) {
	if err := DefaultRules().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Rules)
		field string
	}{
		{"no name", func(r *Rules) { r.Name = "" }, "name"},
		{"no version", func(r *Rules) { r.Version = "" }, "version"},
		{"rgp power step", func(r *Rules) { r.RGP.Power.StepD = 1 }, "rgp.power.stepD"},
		{"rgp max TD", func(r *Rules) { r.RGP.MaxTDMM = 20 }, "rgp.maxTDMM"},
		{"orthok ratio", func(r *Rules) { r.OrthoK.BOZRMMPerD = 0 }, "orthok.bozrMMPerD"},
		{"orthok tear film band inverted", func(r *Rules) { r.OrthoK.TearFilmMaxUM = 4 }, "orthok.tearFilmMaxUM"},
		{"orthok target outside band", func(r *Rules) { r.OrthoK.TargetTearFilmUM = 40 }, "orthok.targetTearFilmUM"},
		{"orthok landing step", func(r *Rules) { r.OrthoK.Landing.AngleStepDeg = 10 }, "orthok.landing.angleStepDeg"},
		{"scleral target under 100", func(r *Rules) { r.Scleral.TargetSettledClearanceUM = 90 }, "scleral.targetSettledClearanceUM"},
		{"scleral NaN tolerance", func(r *Rules) { r.Scleral.ClearanceToleranceUM = math.NaN() }, "scleral.clearanceToleranceUM"},
		{"scleral landing max under min", func(r *Rules) { r.Scleral.Landing.MaxAngleDeg = 18 }, "scleral.landing.maxAngleDeg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := DefaultRules()
			tt.edit(&r)
			if err := r.Validate(); !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Errorf("err %v (field %q), want %q", err, errs.FieldOf(err), tt.field)
			}
		})
	}
}

func TestDecodeRules(t *testing.T) {
	b, _ := json.Marshal(DefaultRules())
	r, err := DecodeRules(bytes.NewReader(b))
	if err != nil || r.OrthoK.BOZRMMPerD != 0.2 || r.Scleral.TargetSettledClearanceUM != 150 {
		t.Fatalf("round trip %+v, %v", r, err)
	}
	if _, err := DecodeRules(strings.NewReader(`{"name":"x","extra":1}`)); !errs.Is(errs.Invalid, err) {
		t.Errorf("unknown field: %v", err)
	}
	custom := strings.Replace(string(b), `"bozrMMPerD":0.2`, `"bozrMMPerD":0.9`, 1)
	if _, err := DecodeRules(strings.NewReader(custom)); errs.FieldOf(err) != "orthok.bozrMMPerD" {
		t.Errorf("out of range: %v", err)
	}
}
