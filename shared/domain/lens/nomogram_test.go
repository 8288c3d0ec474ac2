package lens_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/errs"
)

func TestDefaultNomogramsValidate(t *testing.T) {
	set := lens.DefaultNomograms()
	if err := set.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ got, want string }{
		{set.RGP.Name, "lensflow-rgp-standard"}, {set.OrthoK.Name, "lensflow-orthok-jessen"},
		{set.Scleral.Name, "lensflow-scleral-standard"}, {set.RGP.Version, "2026.1"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// The handbook's conventions are the defaults.
	if set.RGP.VertexDistanceMM != 12 || set.OrthoK.CompressionFactorD != 0.75 || set.OrthoK.BOZDMM != 6 ||
		set.OrthoK.LandingChordMM != 8 || set.Scleral.TDLargerThanHVIDMM != 5.5 || set.Scleral.MinSettledClearanceUM != 100 ||
		set.Scleral.ToricHapticThresholdUM != 100 || set.RGP.SecondaryCurveFlatterMM != 1 || set.RGP.PeripheralCurveFlatterMM != 1.5 {
		t.Errorf("defaults drifted from the handbook: %+v", set)
	}
}

func TestParseNomogramOverrides(t *testing.T) {
	n, err := lens.ParseOrthoKNomogram(strings.NewReader(`{"name": "clinic-a", "version": "3", "method": "chan-cho-mountford", "central_clearance_um": 20}`))
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "clinic-a" || n.Version != "3" || n.Method != lens.MethodChanChoMountford || n.CentralClearanceUM != 20 ||
		n.CompressionFactorD != 0.75 || n.KeratometricIndex != 337.5 {
		t.Errorf("parsed %+v", n)
	}
	d, err := lens.DesignOrthoK(lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, n)
	if err != nil {
		t.Fatal(err)
	}
	// The design records the nomogram and repeats its values.
	if d.Nomogram != "clinic-a" || d.NomogramVersion != "3" || d.OrthoK.Nomogram != n || d.BOZRMM != 8.81 ||
		!near(d.Clearance[0].ApexClearanceUM, 20, 1e-9) {
		t.Errorf("design %q %q BOZR %v clearance %v", d.Nomogram, d.NomogramVersion, d.BOZRMM, d.Clearance[0].ApexClearanceUM)
	}
	b, _ := json.Marshal(d)
	for _, want := range []string{`"nomogram":"clinic-a"`, `"central_clearance_um":20`, `"method":"chan-cho-mountford"`, `"bozr_mm":8.81`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("design JSON lacks %s", want)
		}
	}
}

func TestNomogramJSONRoundTrip(t *testing.T) {
	set := lens.DefaultNomograms()
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	got, err := lens.ParseNomograms(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got != set {
		t.Errorf("round trip changed the set:\n%+v\n%+v", got, set)
	}
	rgp, _ := json.Marshal(set.RGP)
	if n, err := lens.ParseRGPNomogram(bytes.NewReader(rgp)); err != nil || n != set.RGP {
		t.Errorf("RGP round trip: %v", err)
	}
	sc, _ := json.Marshal(set.Scleral)
	if n, err := lens.ParseScleralNomogram(bytes.NewReader(sc)); err != nil || n != set.Scleral {
		t.Errorf("scleral round trip: %v", err)
	}
}

func TestParseNomogramErrors(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string) error
		in    string
		kind  errs.Kind
		field string
	}{
		{"unknown field", rgp, `{"name":"a","version":"1","bozr_offset":0.1}`, errs.Invalid, ""},
		{"missing name", rgp, `{"version":"1"}`, errs.Invalid, "name"},
		{"missing version", orthok, `{"name":"a"}`, errs.Invalid, "version"},
		{"empty name", scleral, `{"name":"","version":"1"}`, errs.Invalid, "name"},
		{"wrong type", rgp, `{"name":"a","version":"1","td_step_mm":"0.1"}`, errs.Invalid, "td_step_mm"},
		{"out of range", rgp, `{"name":"a","version":"1","td_smaller_than_hvid_mm":4}`, errs.Invalid, "td_smaller_than_hvid_mm"},
		{"compression factor", orthok, `{"name":"a","version":"1","compression_factor_D":1.5}`, errs.Invalid, "compression_factor_D"},
		{"clearance below 10", orthok, `{"name":"a","version":"1","central_clearance_um":5}`, errs.Invalid, "central_clearance_um"},
		{"unknown method", orthok, `{"name":"a","version":"1","method":"guess"}`, errs.Invalid, "method"},
		{"landing inside optic zone", orthok, `{"name":"a","version":"1","bozd_mm":7.5,"landing_chord_mm":8,"landing_zone_width_mm":1}`, errs.Invalid, "landing_chord_mm"},
		{"settles below 100", scleral, `{"name":"a","version":"1","insertion_clearance_um":300,"settling_um":250}`, errs.Invalid, "insertion_clearance_um"},
		{"insertion clearance", scleral, `{"name":"a","version":"1","insertion_clearance_um":500}`, errs.Invalid, "insertion_clearance_um"},
		{"haptic inside optic zone", scleral, `{"name":"a","version":"1","bozd_mm":12,"landing_chord_mm":12}`, errs.Invalid, "landing_chord_mm"},
		{"NaN-like", scleral, `{"name":"a","version":"1","settling_um":1e999}`, errs.Invalid, "settling_um"},
		{"trailing data", rgp, `{"name":"a","version":"1"} {}`, errs.Invalid, ""},
		{"not an object", rgp, `[1,2]`, errs.Invalid, ""},
		{"null", rgp, `null`, errs.Invalid, "name"},
		{"too large", rgp, `{"name":"a","version":"1","x":"` + strings.Repeat("a", 70000) + `"}`, errs.TooLarge, ""},
		{"set: prefixed field", set, `{"orthok":{"name":"a","version":"1","bozd_mm":9}}`, errs.Invalid, "orthok.bozd_mm"},
		{"set: unknown type", set, `{"soft":{}}`, errs.Invalid, ""},
		{"set: type without name", set, `{"scleral":{"settling_um":100}}`, errs.Invalid, "scleral.name"},
		{"set: wrong type", set, `{"rgp":{"name":"a","version":"1","pupil_add_mm":true}}`, errs.Invalid, "rgp.pupil_add_mm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if errs.KindOf(err) != tt.kind || errs.FieldOf(err) != tt.field {
				t.Errorf("err = %v (kind %v, field %q), want kind %v, field %q", err, errs.KindOf(err), errs.FieldOf(err), tt.kind, tt.field)
			}
		})
	}
}

func rgp(s string) error     { _, err := lens.ParseRGPNomogram(strings.NewReader(s)); return err }
func orthok(s string) error  { _, err := lens.ParseOrthoKNomogram(strings.NewReader(s)); return err }
func scleral(s string) error { _, err := lens.ParseScleralNomogram(strings.NewReader(s)); return err }
func set(s string) error     { _, err := lens.ParseNomograms(strings.NewReader(s)); return err }

func TestParseNomogramsKeepsDefaults(t *testing.T) {
	got, err := lens.ParseNomograms(strings.NewReader(`{"scleral":{"name":"clinic-b","version":"1","insertion_clearance_um":350}}`))
	if err != nil {
		t.Fatal(err)
	}
	def := lens.DefaultNomograms()
	if got.RGP != def.RGP || got.OrthoK != def.OrthoK || got.Scleral.InsertionClearanceUM != 350 || got.Scleral.Name != "clinic-b" {
		t.Errorf("got %+v", got)
	}
}

func FuzzParseNomograms(f *testing.F) {
	b, _ := json.Marshal(lens.DefaultNomograms())
	f.Add(b)
	f.Add([]byte(`{"orthok":{"name":"a","version":"1","method":"chan-cho-mountford"}}`))
	f.Add([]byte(`{"rgp":{"name":"a","version":"1","td_step_mm":0}}`))
	f.Add([]byte(`{"scleral":null}`))
	f.Add([]byte(`{}`))
	f.Add([]byte("\x00\xff{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := lens.ParseNomograms(bytes.NewReader(data))
		if err != nil {
			if k := errs.KindOf(err); k != errs.Invalid && k != errs.TooLarge {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if err := set.Validate(); err != nil {
			t.Fatalf("parsed set does not validate: %v", err)
		}
		// Whatever a valid nomogram says, designing must not panic, and a
		// design it yields must be finite.
		for _, ty := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
			d, err := lens.New(ty, lenstest.Toric(), lens.Clinical{RefractionD: -2.5, HVIDMM: 11.8}, set)
			if err == nil {
				if _, err := json.Marshal(d); err != nil {
					t.Fatalf("%s design does not encode (non-finite value?): %v", ty, err)
				}
			}
		}
	})
}
