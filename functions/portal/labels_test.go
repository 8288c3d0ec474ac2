package portal

import (
	"bytes"
	"encoding"
	"encoding/json"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/aftercare"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/screening"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/scans"
)

// label is one entry of the portal's labels table (static/labels.js).
// Unit and Decimals are pointers: a number's entry must say both, even
// when it has no unit.
type label struct {
	Name     string  `json:"name"`
	Unit     *string `json:"unit"`
	Decimals *int    `json:"decimals"`
	Format   string  `json:"format"`
	Values   string  `json:"values"`
	Keys     string  `json:"keys"`
	Fold     bool    `json:"fold"`
}

type form struct {
	Root   string `json:"root"`
	Groups []struct {
		Group  string   `json:"group"`
		Fields []string `json:"fields"`
	} `json:"groups"`
	Elsewhere []string `json:"elsewhere"`
}

type labelsTable struct {
	Fields map[string]label             `json:"fields"`
	Paths  map[string]label             `json:"paths"`
	Values map[string]map[string]string `json:"values"`
	Forms  map[string]form              `json:"forms"`
}

// readLabels reads the table the page imports: labels.js is strict JSON
// after "export default", so that this test reads exactly what the page
// uses.
func readLabels(t *testing.T) labelsTable {
	t.Helper()
	b, err := fs.ReadFile(static, "static/labels.js")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := bytes.Cut(b, []byte("\nexport default "))
	if !ok {
		t.Fatal(`labels.js: no "export default " line`)
	}
	body = bytes.TrimSuffix(bytes.TrimSpace(body), []byte(";"))
	var lt labelsTable
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&lt); err != nil {
		t.Fatalf("labels.js must hold strict JSON after export default: %v", err)
	}
	return lt
}

// field is one JSON field of an API type: its key, its path from the root
// (dots between keys, no array indices) and its Go type.
type field struct {
	key, path string
	typ       reflect.Type
}

var (
	marshaler     = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// jsonFields walks t as encoding/json writes it and returns every field
// under prefix, depth first.
func jsonFields(t reflect.Type, prefix string) []field {
	var out []field
	var walk func(t reflect.Type, prefix string, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, prefix string, seen map[reflect.Type]bool) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) ||
			t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
			return
		}
		seen[t] = true
		defer delete(seen, t)
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(f.Type, prefix, seen) // embedded: its fields are this object's
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			out = append(out, field{name, p, f.Type})
			walk(f.Type, p, seen)
		}
	}
	walk(t, prefix, map[reflect.Type]bool{})
	return out
}

// apiFields are the fields of everything the portal shows as parameters:
// a design as GET /v1/scans/{id}/design returns it (cornea, screening,
// lens of every type, nomograms, revision) and an assessment as the order
// page lists it.
func apiFields() []field {
	return slices.Concat(jsonFields(reflect.TypeFor[pipeline.Result](), ""),
		jsonFields(reflect.TypeFor[orders.AssessmentView](), ""))
}

func isNumber(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// TestLabelsNameEveryField fails when a field the API returns has no entry
// in the portal's labels table: a new design, cornea, screening or
// assessment field cannot ship under its JSON key. A number must say its
// unit (perhaps none) and its decimals, and a key whose name carries a
// unit must be labelled with that unit.
func TestLabelsNameEveryField(t *testing.T) {
	lt := readLabels(t)
	unitOfKey := []struct {
		re   *regexp.Regexp
		unit string
	}{
		{regexp.MustCompile(`(_mm|[a-z]MM)$`), "mm"},
		{regexp.MustCompile(`(_um|[a-z]UM)$`), "µm"},
		{regexp.MustCompile(`(_D|[a-z]D)$`), "D"},
		{regexp.MustCompile(`(_deg|[a-z]Deg)$`), "°"},
	}
	var missing []string
	seen := map[string]bool{}
	for _, f := range apiFields() {
		l, ok := lt.Fields[f.key]
		if p, has := lt.Paths[f.path]; has {
			ok = true
			l = merge(l, p)
		}
		if !ok || l.Name == "" {
			if !seen[f.key] {
				missing = append(missing, f.key+" ("+f.path+")")
			}
			seen[f.key] = true
			continue
		}
		if l.Name == f.key && strings.ContainsAny(f.key, "_") {
			t.Errorf("%s: named by its JSON key %q", f.path, f.key)
		}
		if isNumber(f.typ) && (l.Format == "" || l.Format == "number" || l.Format == "signed") {
			if l.Unit == nil || l.Decimals == nil {
				t.Errorf("%s (%s): a number must say its unit (\"\" for none) and decimals", f.path, l.Name)
				continue
			}
			for _, u := range unitOfKey {
				if u.re.MatchString(f.key) && !strings.Contains(*l.Unit, u.unit) && l.Keys == "" {
					t.Errorf("%s (%s): unit %q, but the key says %s", f.path, l.Name, *l.Unit, u.unit)
				}
			}
		}
		if l.Values != "" && lt.Values[l.Values] == nil {
			t.Errorf("%s: values %q is not a table of words", f.path, l.Values)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("labels.js names no %d API fields (add them to fields, with a unit, decimals and a name in the lab's words):\n%s",
			len(missing), strings.Join(missing, "\n"))
	}
	// The lens's revision overrides and the aftercare adjustment's changes
	// name parameters by JSON key: the page names those too.
	for _, f := range jsonFields(reflect.TypeFor[lens.Overrides](), "") {
		if _, ok := lt.Fields[f.key]; !ok {
			t.Errorf("revision override field %q has no label", f.key)
		}
	}
	for _, p := range []string{aftercare.ParamBOZR, aftercare.ParamTD, aftercare.ParamPower, aftercare.ParamLensSag,
		aftercare.ParamReturnZone, aftercare.ParamLandingAngle, aftercare.ParamToric} {
		if _, ok := lt.Fields[p]; !ok {
			t.Errorf("adjustment parameter %q has no label", p)
		}
	}
}

func merge(a, b label) label {
	if b.Name != "" {
		a.Name = b.Name
	}
	if b.Unit != nil {
		a.Unit = b.Unit
	}
	if b.Decimals != nil {
		a.Decimals = b.Decimals
	}
	if b.Format != "" {
		a.Format = b.Format
	}
	if b.Values != "" {
		a.Values = b.Values
	}
	if b.Keys != "" {
		a.Keys = b.Keys
	}
	return a
}

// TestLabelsWordEveryStatus fails when a status, state, outcome, pattern
// or lens type the API returns has no words in the labels table.
func TestLabelsWordEveryStatus(t *testing.T) {
	lt := readLabels(t)
	strs := func(ss ...string) []string { return ss }
	var orderStatuses, jobStatuses, patterns []string
	for _, s := range workflow.Statuses[workflow.OrderStatus]() {
		orderStatuses = append(orderStatuses, string(s))
	}
	for _, s := range workflow.Statuses[workflow.JobStatus]() {
		jobStatuses = append(jobStatuses, string(s))
	}
	for _, p := range []screening.Pattern{screening.Regular, screening.Suspect, screening.Keratoconus, screening.Oblate, screening.Irregular} {
		patterns = append(patterns, string(p))
	}
	for kind, want := range map[string][]string{
		"orderStatus":    orderStatuses,
		"jobStatus":      jobStatuses,
		"scanStatus":     strs(scans.StatusReceived, scans.StatusDesigned, scans.StatusFailed),
		"followUpState":  strs(orders.FollowUpOverdue, orders.FollowUpDue, orders.FollowUpUpcoming),
		"outcome":        strs(aftercare.OutcomeContinue, aftercare.OutcomeAdjust),
		"centration":     strs(aftercare.Centred, aftercare.Decentred),
		"pattern":        patterns,
		"lensType":       strs(string(lens.RGP), string(lens.OrthoK), string(lens.Scleral)),
		"kReading":       strs(lens.KReadingSimK, lens.KReadingApical),
		"rgpForm":        strs(lens.FormSpherical, lens.FormBitoric),
		"orthokMethod":   strs("jessen", "chan"),
		"surfaceShape":   strs(lens.ShapeSphere, lens.ShapeCone, lens.ShapeBlend),
		"clearanceLabel": strs("flat", "steep", "steepest"),
	} {
		words := lt.Values[kind]
		if words == nil {
			t.Errorf("labels.js has no values.%s", kind)
			continue
		}
		for _, s := range want {
			if w := words[s]; w == "" || w == s {
				t.Errorf("values.%s: %q reads %q, want it in words", kind, s, w)
			}
		}
	}
}

// TestLabelsFormsPlaceEveryField fails when a lens type's order form (or
// the cornea's, the screening indices', the assessment's) leaves a field
// of its object out, or names a field that does not exist: every field
// has a group (or is shown elsewhere on the page, said so in the form).
func TestLabelsFormsPlaceEveryField(t *testing.T) {
	lt := readLabels(t)
	paths := map[string]bool{}
	for _, f := range apiFields() {
		paths[f.path] = true
	}
	design := jsonFields(reflect.TypeFor[lens.Design](), "")
	top := func(fs []field, skip ...string) []string {
		var out []string
		for _, f := range fs {
			if !strings.Contains(f.path, ".") && !slices.Contains(skip, f.key) {
				out = append(out, f.key)
			}
		}
		return out
	}
	withPrefix := func(p string, keys []string) []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = p + "." + k
		}
		return out
	}
	lensTop := top(design, "rgp", "orthok", "scleral")
	for name, want := range map[string][]string{
		"rgp":        slices.Concat(lensTop, withPrefix("rgp", top(jsonFields(reflect.TypeFor[lens.RGPDetails](), "")))),
		"orthok":     slices.Concat(lensTop, withPrefix("orthok", top(jsonFields(reflect.TypeFor[lens.OrthoKDetails](), "")))),
		"scleral":    slices.Concat(lensTop, withPrefix("scleral", top(jsonFields(reflect.TypeFor[lens.ScleralDetails](), "")))),
		"cornea":     top(jsonFields(reflect.TypeFor[pipeline.Cornea](), "")),
		"indices":    top(jsonFields(reflect.TypeFor[screening.Indices](), "")),
		"assessment": top(jsonFields(reflect.TypeFor[aftercare.Assessment](), "")),
	} {
		f, ok := lt.Forms[name]
		if !ok {
			t.Errorf("labels.js has no form %q", name)
			continue
		}
		placed := map[string]string{}
		place := func(p, where string) {
			if prev, dup := placed[p]; dup {
				t.Errorf("form %s: %s is in %q and in %q", name, p, prev, where)
			}
			placed[p] = where
			if full := f.Root + "." + p; !paths[full] {
				t.Errorf("form %s: %s names no field of the API", name, full)
			}
		}
		for _, g := range f.Groups {
			if g.Group == "" || len(g.Fields) == 0 {
				t.Errorf("form %s: a group without a name or fields", name)
			}
			for _, p := range g.Fields {
				place(p, g.Group)
			}
		}
		for _, p := range f.Elsewhere {
			place(p, "elsewhere")
		}
		for _, p := range want {
			if placed[p] == "" {
				t.Errorf("form %s: %s.%s has no group", name, f.Root, p)
			}
		}
	}
}
