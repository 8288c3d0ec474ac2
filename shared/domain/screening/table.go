package screening

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// The default table's name and version. A lab that changes a threshold
// publishes its table under its own name or a new version: every result
// records both.
const (
	DefaultTableName    = "lensflow-screening"
	DefaultTableVersion = "2026.1"
)

// Band is a pair of thresholds of one index: above Suspect the cornea is
// suspect, above Keratoconus keratoconic. Suspect <= Keratoconus; equal
// thresholds leave no suspect band.
type Band struct {
	Suspect     float64 `json:"suspect"`
	Keratoconus float64 `json:"keratoconus"`
}

// SRAXLimits are SRAX's threshold and the least variation of power a half
// of the 3 mm ring needs for its steepest radial axis to count.
type SRAXLimits struct {
	Suspect   float64 `json:"suspect"`
	MinRangeD float64 `json:"minRange_D"`
}

// ResidualLimit is the residual RMS above which a cornea is irregular.
type ResidualLimit struct {
	Irregular float64 `json:"irregular"`
}

// QLimit is the asphericity above which a cornea is oblate.
type QLimit struct {
	Oblate float64 `json:"oblate"`
}

// Table holds the screening thresholds. Its JSON names the indices as the
// result does (centralK_D, iS_D, ...), each with its thresholds; a value
// crosses a threshold when it is strictly above it. The ranges Validate
// enforces are in each field's comment.
type Table struct {
	Name    string `json:"name"`    // at most 100 characters
	Version string `json:"version"` // at most 40 characters
	// CentralKD: suspect above 47.2, keratoconus above 48.7 D (Rabinowitz).
	// Range 42-60 D.
	CentralKD Band `json:"centralK_D"`
	// ISD: suspect above 1.4, keratoconus above 1.8 D. Range 0.5-5 D.
	ISD Band `json:"iS_D"`
	// SRAXDeg: suspect above 21 degrees (range 5-90); a half of the 3 mm
	// ring varying by less than 0.25 D has no steepest axis (range 0-2 D).
	SRAXDeg SRAXLimits `json:"srax_deg"`
	// KISAPercent: suspect above 60, keratoconus above 100. Range 10-1000.
	KISAPercent Band `json:"kisaPercent"`
	// ApicalKD: suspect above 48, keratoconus above 50 D, the handbook's
	// "above 48-50 D". Range 42-60 D.
	ApicalKD Band `json:"apicalK_D"`
	// Q: oblate above 0.1 (p above 1.1). A normal cornea's Q is about -0.25
	// with a spread of 0.1-0.18, so 0.1 is two standard deviations or more
	// above it, and a myopic ablation leaves Q well above it. Range 0-1.
	Q QLimit `json:"q"`
	// ResidualRMSUM: irregular above 10 microns, the low end of the
	// handbook's "about 10-15" (a good fit of a regular cornea leaves a few
	// microns). Range 2-100 microns.
	ResidualRMSUM ResidualLimit `json:"residualRMS_um"`
}

// DefaultTable returns lensflow-screening 2026.1, the published values.
func DefaultTable() Table {
	return Table{
		Name: DefaultTableName, Version: DefaultTableVersion,
		CentralKD:     Band{Suspect: 47.2, Keratoconus: 48.7},
		ISD:           Band{Suspect: 1.4, Keratoconus: 1.8},
		SRAXDeg:       SRAXLimits{Suspect: 21, MinRangeD: 0.25},
		KISAPercent:   Band{Suspect: 60, Keratoconus: 100},
		ApicalKD:      Band{Suspect: 48, Keratoconus: 50},
		Q:             QLimit{Oblate: 0.1},
		ResidualRMSUM: ResidualLimit{Irregular: 10},
	}
}

// String is the table's "name@version", as results record it.
func (t Table) String() string { return t.Name + "@" + t.Version }

// Validate checks every threshold against its range and each band's order;
// an error is errs.Invalid and names the JSON field.
func (t Table) Validate() error { return t.validate("screening.Table.Validate") }

type rangeCheck struct {
	field  string
	v      float64
	lo, hi float64
}

func (t Table) validate(op string) error {
	switch {
	case t.Name == "":
		return errs.Field(op, "name", "a screening table needs a name")
	case t.Version == "":
		return errs.Field(op, "version", "a screening table needs a version")
	case len(t.Name) > 100:
		return errs.Field(op, "name", "is longer than 100 characters")
	case len(t.Version) > 40:
		return errs.Field(op, "version", "is longer than 40 characters")
	}
	for _, c := range []rangeCheck{
		{"centralK_D.suspect", t.CentralKD.Suspect, 42, 60},
		{"centralK_D.keratoconus", t.CentralKD.Keratoconus, 42, 60},
		{"iS_D.suspect", t.ISD.Suspect, 0.5, 5},
		{"iS_D.keratoconus", t.ISD.Keratoconus, 0.5, 5},
		{"srax_deg.suspect", t.SRAXDeg.Suspect, 5, 90},
		{"srax_deg.minRange_D", t.SRAXDeg.MinRangeD, 0, 2},
		{"kisaPercent.suspect", t.KISAPercent.Suspect, 10, 1000},
		{"kisaPercent.keratoconus", t.KISAPercent.Keratoconus, 10, 1000},
		{"apicalK_D.suspect", t.ApicalKD.Suspect, 42, 60},
		{"apicalK_D.keratoconus", t.ApicalKD.Keratoconus, 42, 60},
		{"q.oblate", t.Q.Oblate, 0, 1},
		{"residualRMS_um.irregular", t.ResidualRMSUM.Irregular, 2, 100},
	} {
		if !(c.v >= c.lo && c.v <= c.hi) {
			return errs.Field(op, c.field, "%g is out of range (%g to %g)", c.v, c.lo, c.hi)
		}
	}
	for _, b := range []struct {
		field string
		b     Band
	}{{"centralK_D", t.CentralKD}, {"iS_D", t.ISD}, {"kisaPercent", t.KISAPercent}, {"apicalK_D", t.ApicalKD}} {
		if b.b.Keratoconus < b.b.Suspect {
			return errs.Field(op, b.field+".keratoconus", "%g is below the suspect threshold %g", b.b.Keratoconus, b.b.Suspect)
		}
	}
	return nil
}

// maxTableBytes bounds a table file.
const maxTableBytes = 64 << 10

// ParseTable reads a screening table from JSON. Thresholds left out keep
// the default's value; "name" and "version" are required, so that a
// changed table never passes for the default. Unknown fields, wrong types
// and out-of-range values are errs.Invalid errors naming the field (for
// example "iS_D.keratoconus").
func ParseTable(r io.Reader) (Table, error) {
	const op = "screening.ParseTable"
	t := DefaultTable()
	data, err := io.ReadAll(io.LimitReader(r, maxTableBytes+1))
	if err != nil {
		return t, errs.E(op, errs.Invalid, fmt.Errorf("reading the screening table: %w", err))
	}
	if len(data) > maxTableBytes {
		return t, errs.Ef(op, errs.TooLarge, "the screening table is larger than %d bytes", maxTableBytes)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return t, errs.Ef(op, errs.Invalid, "the screening table is not a JSON object")
	}
	for _, f := range []string{"name", "version"} {
		if _, ok := top[f]; !ok {
			return t, errs.Field(op, f, "is required: a table that changes thresholds must say its name and version")
		}
	}
	if err := knownFields(op, "", top, reflect.TypeFor[Table]()); err != nil {
		return t, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return t, errs.Field(op, ute.Field, "must be a %s (got %s)", jsonKind(ute.Type), ute.Value)
		}
		return t, errs.E(op, errs.Invalid, fmt.Errorf("screening table: %w", err))
	}
	if dec.More() {
		return t, errs.Ef(op, errs.Invalid, "screening table: data after the JSON object")
	}
	return t, t.validate(op)
}

// knownFields refuses, naming it, the first key of obj (sorted) that is
// not a JSON field of the struct type st, looking into nested objects.
// Values of the wrong type are left for the decoder to name.
func knownFields(op, prefix string, obj map[string]json.RawMessage, st reflect.Type) error {
	fields := map[string]reflect.Type{}
	for i := range st.NumField() {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields[name] = f.Type
	}
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		ft, ok := fields[key]
		if !ok {
			return errs.Field(op, prefix+key, "is not a field of a screening table")
		}
		if ft.Kind() != reflect.Struct {
			continue
		}
		var sub map[string]json.RawMessage
		if json.Unmarshal(obj[key], &sub) != nil {
			continue
		}
		if err := knownFields(op, prefix+key+".", sub, ft); err != nil {
			return err
		}
	}
	return nil
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Float64:
		return "finite number"
	case reflect.String:
		return "string"
	case reflect.Struct:
		return "JSON object"
	}
	return "JSON " + t.String()
}
