package screening_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/screening"
	"github.com/lensflow/lensflow/shared/errs"
)

// The default table holds the published thresholds (handbook, "Real
// corneas").
func TestDefaultTable(t *testing.T) {
	d := screening.DefaultTable()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	want := screening.Table{
		Name: "lensflow-screening", Version: "2026.1",
		CentralKD:     screening.Band{Suspect: 47.2, Keratoconus: 48.7},
		ISD:           screening.Band{Suspect: 1.4, Keratoconus: 1.8},
		SRAXDeg:       screening.SRAXLimits{Suspect: 21, MinRangeD: 0.25},
		KISAPercent:   screening.Band{Suspect: 60, Keratoconus: 100},
		ApicalKD:      screening.Band{Suspect: 48, Keratoconus: 50},
		Q:             screening.QLimit{Oblate: 0.1},
		ResidualRMSUM: screening.ResidualLimit{Irregular: 10},
	}
	if d != want {
		t.Errorf("default table drifted from the published values:\n%+v\nwant\n%+v", d, want)
	}
	if d.String() != "lensflow-screening@2026.1" {
		t.Errorf("String() = %q", d.String())
	}
}

func TestTableJSONRoundTrip(t *testing.T) {
	b, err := json.Marshal(screening.DefaultTable())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"name":"lensflow-screening"`, `"version":"2026.1"`, `"centralK_D":{"suspect":47.2,"keratoconus":48.7}`,
		`"iS_D":{"suspect":1.4,"keratoconus":1.8}`, `"srax_deg":{"suspect":21,"minRange_D":0.25}`, `"kisaPercent":{"suspect":60,"keratoconus":100}`,
		`"apicalK_D":{"suspect":48,"keratoconus":50}`, `"q":{"oblate":0.1}`, `"residualRMS_um":{"irregular":10}`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("table JSON lacks %s: %s", key, b)
		}
	}
	back, err := screening.ParseTable(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if back != screening.DefaultTable() {
		t.Errorf("round trip: %+v", back)
	}
	// A changed table survives the trip too.
	c := screening.DefaultTable()
	c.Name, c.Version, c.ISD.Keratoconus, c.Q.Oblate = "clinic-a", "3", 2.5, 0.2
	b, _ = json.Marshal(c)
	if back, err := screening.ParseTable(bytes.NewReader(b)); err != nil || back != c {
		t.Errorf("round trip of a changed table: %v %+v", err, back)
	}
}

// Thresholds left out keep the default's values, even inside an index's
// object.
func TestParseTableOverrides(t *testing.T) {
	got, err := screening.ParseTable(strings.NewReader(`{"name": "clinic-b", "version": "1", "iS_D": {"keratoconus": 2.0}, "residualRMS_um": {"irregular": 15}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := screening.DefaultTable()
	want.Name, want.Version, want.ISD.Keratoconus, want.ResidualRMSUM.Irregular = "clinic-b", "1", 2.0, 15
	if got != want {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
}

func TestParseTableRefuses(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		kind  errs.Kind
		field string
	}{
		{"no name", `{"version": "1"}`, errs.Invalid, "name"},
		{"no version", `{"name": "a"}`, errs.Invalid, "version"},
		{"empty name", `{"name": "", "version": "1"}`, errs.Invalid, "name"},
		{"long version", `{"name": "a", "version": "` + strings.Repeat("9", 41) + `"}`, errs.Invalid, "version"},
		{"unknown field", `{"name": "a", "version": "1", "centralK": {"suspect": 47}}`, errs.Invalid, "centralK"},
		{"unknown nested field", `{"name": "a", "version": "1", "centralK_D": {"suspekt": 47}}`, errs.Invalid, "centralK_D.suspekt"},
		{"a band for SRAX", `{"name": "a", "version": "1", "srax_deg": {"keratoconus": 40}}`, errs.Invalid, "srax_deg.keratoconus"},
		{"wrong type", `{"name": "a", "version": "1", "iS_D": {"keratoconus": "1.8"}}`, errs.Invalid, "iS_D.keratoconus"},
		{"object expected", `{"name": "a", "version": "1", "q": 0.1}`, errs.Invalid, "q"},
		{"out of range", `{"name": "a", "version": "1", "kisaPercent": {"keratoconus": 5000}}`, errs.Invalid, "kisaPercent.keratoconus"},
		{"negative", `{"name": "a", "version": "1", "q": {"oblate": -0.1}}`, errs.Invalid, "q.oblate"},
		{"SRAX range", `{"name": "a", "version": "1", "srax_deg": {"minRange_D": 3}}`, errs.Invalid, "srax_deg.minRange_D"},
		{"residual range", `{"name": "a", "version": "1", "residualRMS_um": {"irregular": 1}}`, errs.Invalid, "residualRMS_um.irregular"},
		{"bands out of order", `{"name": "a", "version": "1", "centralK_D": {"suspect": 49}}`, errs.Invalid, "centralK_D.keratoconus"},
		{"apical band out of order", `{"name": "a", "version": "1", "apicalK_D": {"suspect": 52, "keratoconus": 50}}`, errs.Invalid, "apicalK_D.keratoconus"},
		{"not an object", `[1, 2]`, errs.Invalid, ""},
		{"null", `null`, errs.Invalid, ""},
		{"trailing data", `{"name": "a", "version": "1"} {}`, errs.Invalid, ""},
		{"too large", `{"name": "a", "version": "1", "x": "` + strings.Repeat("x", 70<<10) + `"}`, errs.TooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := screening.ParseTable(strings.NewReader(tt.json))
			if err == nil || errs.KindOf(err) != tt.kind || errs.FieldOf(err) != tt.field {
				t.Errorf("err %v (kind %v, field %q), want kind %v naming %q", err, errs.KindOf(err), errs.FieldOf(err), tt.kind, tt.field)
			}
		})
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		change func(*screening.Table)
		field  string
	}{
		{"central K suspect", func(t *screening.Table) { t.CentralKD.Suspect = 30 }, "centralK_D.suspect"},
		{"I-S keratoconus", func(t *screening.Table) { t.ISD.Keratoconus = 9 }, "iS_D.keratoconus"},
		{"I-S order", func(t *screening.Table) { t.ISD.Suspect = 2 }, "iS_D.keratoconus"},
		{"SRAX", func(t *screening.Table) { t.SRAXDeg.Suspect = 0 }, "srax_deg.suspect"},
		{"apical K", func(t *screening.Table) { t.ApicalKD.Keratoconus = 70 }, "apicalK_D.keratoconus"},
		{"Q", func(t *screening.Table) { t.Q.Oblate = 2 }, "q.oblate"},
		{"no name", func(t *screening.Table) { t.Name = "" }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := screening.DefaultTable()
			tt.change(&tab)
			if err := tab.Validate(); !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Errorf("err %v, want invalid naming %q", err, tt.field)
			}
		})
	}
}
