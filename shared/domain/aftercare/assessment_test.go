package aftercare

import (
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
)

func f(v float64) *float64 { return &v }

func TestAcuityLogMAR(t *testing.T) {
	tests := []struct {
		in   Acuity
		want float64
		ok   bool
	}{
		{"6/6", 0, true}, {"20/20", 0, true}, {"6/12", 0.30103, true}, {"20/40", 0.30103, true},
		{"6/7.5", 0.09691, true}, {"6/3", -0.30103, true}, {"20/200", 1, true}, {" 6/9 ", 0.17609, true},
		{"0.10", 0.1, true}, {"-0.1", -0.1, true}, {"0", 0, true}, {"+0.2", 0.2, true}, {"2.0", 2, true},
		{"", 0, false}, {"abc", 0, false}, {"6/0", 0, false}, {"0/6", 0, false}, {"6/", 0, false},
		{"6/6000", 0, false}, {"2.1", 0, false}, {"-0.4", 0, false}, {"1e-1", 0, false}, {"NaN", 0, false},
		{"6/6/6", 0, false}, {"20 / 20", 0, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			got, err := tt.in.LogMAR()
			if tt.ok != (err == nil) {
				t.Fatalf("err %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if errs.FieldOf(err) != "visualAcuity" || !errs.Is(errs.Invalid, err) {
					t.Errorf("err %v does not name visualAcuity", err)
				}
				return
			}
			if math.Abs(got-tt.want) > 1e-4 {
				t.Errorf("logMAR %g, want %g", got, tt.want)
			}
		})
	}
}

func validFor(lensType string) Assessment {
	a := Assessment{VisitKey: "week-1", VisualAcuity: "6/6", Comfort: 8, Outcome: OutcomeContinue,
		OverRefraction:   &OverRefraction{SphereD: -0.25},
		Centration:       &Centration{Status: Centred},
		FluoresceinNotes: "even alignment\nmild inferior edge lift",
	}
	switch lensType {
	case "scleral":
		a.CentralClearanceUM, a.LimbalClearanceUM = f(150), f(60)
	case "orthok":
		a.CentralTearFilmUM, a.ResidualRefractionD = f(10), f(-0.25)
	}
	return a
}

func TestAssessmentValidate(t *testing.T) {
	for _, typ := range []string{"rgp", "orthok", "scleral"} {
		if err := validFor(typ).Validate(typ); err != nil {
			t.Errorf("valid %s: %v", typ, err)
		}
	}
	tests := []struct {
		name     string
		lensType string
		edit     func(*Assessment)
		field    string // "" = valid
	}{
		{"unknown lens type", "soft", func(a *Assessment) {}, "lensType"},
		{"no visit key", "rgp", func(a *Assessment) { a.VisitKey = "" }, "visitKey"},
		{"bad visit key", "rgp", func(a *Assessment) { a.VisitKey = "Week 1" }, "visitKey"},
		{"unscheduled visit", "rgp", func(a *Assessment) { a.VisitKey = UnscheduledKey }, ""},
		{"no acuity", "rgp", func(a *Assessment) { a.VisualAcuity = "" }, "visualAcuity"},
		{"acuity out of range", "rgp", func(a *Assessment) { a.VisualAcuity = "6/900" }, "visualAcuity"},
		{"logMAR acuity", "rgp", func(a *Assessment) { a.VisualAcuity = "0.2" }, ""},
		{"no over-refraction", "rgp", func(a *Assessment) { a.OverRefraction = nil }, ""},
		{"sphere too high", "rgp", func(a *Assessment) { a.OverRefraction.SphereD = 30.5 }, "overRefraction.sphereD"},
		{"sphere NaN", "rgp", func(a *Assessment) { a.OverRefraction.SphereD = math.NaN() }, "overRefraction.sphereD"},
		{"sphere -30 edge", "rgp", func(a *Assessment) { a.OverRefraction.SphereD = -30 }, ""},
		{"cyl too high", "rgp", func(a *Assessment) { a.OverRefraction.CylD, a.OverRefraction.AxisDeg = -31, f(90) }, "overRefraction.cylD"},
		{"cyl without axis", "rgp", func(a *Assessment) { a.OverRefraction.CylD = -0.75 }, "overRefraction.axisDeg"},
		{"axis without cyl", "rgp", func(a *Assessment) { a.OverRefraction.AxisDeg = f(90) }, "overRefraction.axisDeg"},
		{"axis out of range", "rgp", func(a *Assessment) { a.OverRefraction.CylD, a.OverRefraction.AxisDeg = -0.75, f(181) }, "overRefraction.axisDeg"},
		{"cyl with axis", "rgp", func(a *Assessment) { a.OverRefraction.CylD, a.OverRefraction.AxisDeg = -0.75, f(180) }, ""},
		{"bad centration status", "rgp", func(a *Assessment) { a.Centration.Status = "centered" }, "centration.status"},
		{"centred with a direction", "rgp", func(a *Assessment) { a.Centration.Direction = "nasal" }, "centration"},
		{"decentred without direction", "rgp", func(a *Assessment) { a.Centration = &Centration{Status: Decentred, MM: 1} }, "centration.direction"},
		{"decentred bad direction", "rgp", func(a *Assessment) { a.Centration = &Centration{Status: Decentred, Direction: "up", MM: 1} }, "centration.direction"},
		{"decentred 0 mm", "rgp", func(a *Assessment) { a.Centration = &Centration{Status: Decentred, Direction: "nasal"} }, "centration.mm"},
		{"decentred 6 mm", "rgp", func(a *Assessment) { a.Centration = &Centration{Status: Decentred, Direction: "nasal", MM: 6} }, "centration.mm"},
		{"decentred oblique", "rgp", func(a *Assessment) {
			a.Centration = &Centration{Status: Decentred, Direction: "inferotemporal", MM: 0.7}
		}, ""},
		{"scleral clearance on rgp", "rgp", func(a *Assessment) { a.CentralClearanceUM = f(100) }, "centralClearanceUM"},
		{"limbal clearance on orthok", "orthok", func(a *Assessment) { a.LimbalClearanceUM = f(100) }, "limbalClearanceUM"},
		{"tear film on scleral", "scleral", func(a *Assessment) { a.CentralTearFilmUM = f(10) }, "centralTearFilmUM"},
		{"residual on scleral", "scleral", func(a *Assessment) { a.ResidualRefractionD = f(-0.5) }, "residualRefractionD"},
		{"residual on rgp", "rgp", func(a *Assessment) { a.ResidualRefractionD = f(-0.5) }, "residualRefractionD"},
		{"clearance 0 is touch, valid", "scleral", func(a *Assessment) { a.CentralClearanceUM = f(0) }, ""},
		{"clearance negative", "scleral", func(a *Assessment) { a.CentralClearanceUM = f(-1) }, "centralClearanceUM"},
		{"clearance over 1500", "scleral", func(a *Assessment) { a.LimbalClearanceUM = f(1500.5) }, "limbalClearanceUM"},
		{"clearance 1500", "scleral", func(a *Assessment) { a.CentralClearanceUM = f(1500) }, ""},
		{"clearance Inf", "scleral", func(a *Assessment) { a.CentralClearanceUM = f(math.Inf(1)) }, "centralClearanceUM"},
		{"tear film over 1500", "orthok", func(a *Assessment) { a.CentralTearFilmUM = f(2000) }, "centralTearFilmUM"},
		{"residual too high", "orthok", func(a *Assessment) { a.ResidualRefractionD = f(-31) }, "residualRefractionD"},
		{"notes too long", "rgp", func(a *Assessment) { a.FluoresceinNotes = strings.Repeat("x", MaxNotesBytes+1) }, "fluoresceinNotes"},
		{"notes at the limit", "rgp", func(a *Assessment) { a.FluoresceinNotes = strings.Repeat("x", MaxNotesBytes) }, ""},
		{"notes with a control character", "rgp", func(a *Assessment) { a.FluoresceinNotes = "ok\x1b[2J" }, "fluoresceinNotes"},
		{"notes not UTF-8", "rgp", func(a *Assessment) { a.FluoresceinNotes = "ok\xff" }, "fluoresceinNotes"},
		{"notes with tabs and accents", "rgp", func(a *Assessment) { a.FluoresceinNotes = "bord\tinférieur" }, ""},
		{"comfort 0", "rgp", func(a *Assessment) { a.Comfort = 0 }, "comfort"},
		{"comfort 11", "rgp", func(a *Assessment) { a.Comfort = 11 }, "comfort"},
		{"comfort 1", "rgp", func(a *Assessment) { a.Comfort = 1 }, ""},
		{"no outcome", "rgp", func(a *Assessment) { a.Outcome = "" }, "outcome"},
		{"bad outcome", "rgp", func(a *Assessment) { a.Outcome = "refit" }, "outcome"},
		{"adjust outcome", "rgp", func(a *Assessment) { a.Outcome = OutcomeAdjust }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lt := tt.lensType
			if lt == "soft" {
				lt = "rgp"
			}
			a := validFor(lt)
			tt.edit(&a)
			err := a.Validate(tt.lensType)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Errorf("err %v (field %q), want field %q", err, errs.FieldOf(err), tt.field)
			}
		})
	}
}

// TestValidateKeepsPHIOut: errors name the field and the rule, never the
// value given nor the notes.
func TestValidateKeepsPHIOut(t *testing.T) {
	a := validFor("scleral")
	a.FluoresceinNotes = "ZZCANARY " + strings.Repeat("y", MaxNotesBytes)
	err := a.Validate("scleral")
	if err == nil || strings.Contains(err.Error(), "ZZCANARY") || strings.Contains(errs.Message(err), "ZZCANARY") {
		t.Errorf("notes leaked or accepted: %v", err)
	}
	a = validFor("scleral")
	a.CentralClearanceUM = f(1234.5678)
	a.VisualAcuity = "6/6"
	if err := a.Validate("rgp"); err == nil || strings.Contains(err.Error(), "1234") {
		t.Errorf("value leaked: %v", err)
	}
	a = validFor("rgp")
	a.VisualAcuity = "ZZCANARY"
	if err := a.Validate("rgp"); err == nil || strings.Contains(err.Error(), "ZZCANARY") {
		t.Errorf("acuity text leaked: %v", err)
	}
}

func TestAssessmentJSON(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string // "" = decodes and validates for orthok
		acu   Acuity
	}{
		{"full", `{"visitKey":"day-1","visualAcuity":"6/7.5","overRefraction":{"sphereD":0.25},
			"centration":{"status":"decentred","direction":"temporal","mm":0.6},"centralTearFilmUM":12,
			"residualRefractionD":-0.5,"fluoresceinNotes":"bullseye","comfort":7,"outcome":"adjust"}`, "", "6/7.5"},
		{"logMAR as a number", `{"visitKey":"day-1","visualAcuity":0.1,"comfort":7,"outcome":"continue"}`, "", "0.1"},
		{"logMAR negative number", `{"visitKey":"day-1","visualAcuity":-0.08,"comfort":7,"outcome":"continue"}`, "", "-0.08"},
		{"acuity as bool", `{"visitKey":"day-1","visualAcuity":true,"comfort":7,"outcome":"continue"}`, "visualAcuity", ""},
		{"acuity null", `{"visitKey":"day-1","visualAcuity":null,"comfort":7,"outcome":"continue"}`, "visualAcuity", ""},
		{"unknown field", `{"visitKey":"day-1","visualAcuity":"6/6","comfort":7,"outcome":"continue","patientName":"x"}`, "patientName", ""},
		{"duplicate key", `{"visitKey":"day-1","visualAcuity":"6/6","comfort":7,"comfort":8,"outcome":"continue"}`, "comfort", ""},
		{"comfort not an integer", `{"visitKey":"day-1","visualAcuity":"6/6","comfort":7.5,"outcome":"continue"}`, "comfort", ""},
		{"clearance as string", `{"visitKey":"day-1","visualAcuity":"6/6","centralTearFilmUM":"12","comfort":7,"outcome":"continue"}`, "centralTearFilmUM", ""},
		{"trailing data", `{"visitKey":"day-1","visualAcuity":"6/6","comfort":7,"outcome":"continue"} {}`, "body", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Assessment
			err := httpkit.UnmarshalStrict([]byte(tt.body), &a)
			if err == nil {
				err = a.Validate("orthok")
			}
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if a.VisualAcuity != tt.acu {
					t.Errorf("acuity %q, want %q", a.VisualAcuity, tt.acu)
				}
				return
			}
			if !errs.Is(errs.Invalid, err) || !strings.HasPrefix(errs.FieldOf(err), tt.field) {
				t.Errorf("err %v (field %q), want field %q", err, errs.FieldOf(err), tt.field)
			}
		})
	}
}
