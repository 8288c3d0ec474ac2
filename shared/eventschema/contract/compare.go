package contract

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Change is one difference between two versions of an event's schema.
type Change struct {
	Path     string // JSON pointer into the schema, e.g. /properties/orderId
	Breaking bool
	What     string
}

func (c Change) String() string {
	kind := "compatible"
	if c.Breaking {
		kind = "BREAKING"
	}
	p := c.Path
	if p == "" {
		p = "/"
	}
	return fmt.Sprintf("%s at %s: %s", kind, p, c.What)
}

// Breaking returns the breaking changes among cs.
func Breaking(cs []Change) []Change {
	var out []Change
	for _, c := range cs {
		if c.Breaking {
			out = append(out, c)
		}
	}
	return out
}

// Compare lists the differences from old to new, two versions of the schema
// of one event type, each marked breaking or not.
//
// An event type's schema is read from both sides: consumers built on the
// old schema receive data made to the new one, and events made to the old
// one (in an outbox, in flight, dead-lettered and replayed) reach consumers
// built on the new one. So a change is compatible only if data valid under
// either version stays valid under the other: a new optional property of an
// open object, and documentation (title, description, examples, comments).
// Everything else is breaking: a removed property, a changed type, a new
// required property (or an optional one made required, or a required one
// made optional), an enum or format changed either way, a closed (or
// opened) additionalProperties, a new property of a closed object, a
// changed $id, and any other validation keyword changed.
//
// Hand-written: no maintained Go library compares JSON Schemas for
// compatibility, and the rules above are the contract we promise; they are
// small and each is tested (compare_test.go).
func Compare(old, new []byte) ([]Change, error) {
	var o, n any
	if err := json.Unmarshal(old, &o); err != nil {
		return nil, fmt.Errorf("old schema: %w", err)
	}
	if err := json.Unmarshal(new, &n); err != nil {
		return nil, fmt.Errorf("new schema: %w", err)
	}
	var cs []Change
	compare(&cs, "", o, n)
	return cs, nil
}

// docs are the keywords that only document.
var docs = map[string]bool{"title": true, "description": true, "$comment": true, "examples": true, "deprecated": true}

// handled are the keywords compare looks at itself.
var handled = map[string]bool{"type": true, "properties": true, "required": true, "additionalProperties": true,
	"enum": true, "format": true, "items": true}

func compare(cs *[]Change, path string, old, new any) {
	add := func(p string, breaking bool, format string, args ...any) {
		*cs = append(*cs, Change{Path: p, Breaking: breaking, What: fmt.Sprintf(format, args...)})
	}
	o, oObj := old.(map[string]any)
	n, nObj := new.(map[string]any)
	if !oObj || !nObj {
		if !reflect.DeepEqual(old, new) {
			add(path, true, "schema changed from %s to %s", brief(old), brief(new))
		}
		return
	}
	for _, k := range sortedKeys(o, n) {
		ov, inOld := o[k]
		nv, inNew := n[k]
		if reflect.DeepEqual(ov, nv) && inOld == inNew {
			continue
		}
		p := path + "/" + escape(k)
		switch {
		case docs[k]:
			add(p, false, "documentation changed")
		case handled[k]:
			// below
		case k == "$id":
			add(p, true, "$id changed from %s to %s: a new contract is a new event type", brief(ov), brief(nv))
		default:
			add(p, true, "%s changed from %s to %s", k, brief(ov), brief(nv))
		}
	}
	if ot, nt := typeSet(o["type"]), typeSet(n["type"]); !slices.Equal(ot, nt) {
		add(path+"/type", true, "type changed from %v to %v", ot, nt)
	}
	compareEnum(add, path, o["enum"], n["enum"], o["enum"] != nil, n["enum"] != nil)
	if of, nf := o["format"], n["format"]; !reflect.DeepEqual(of, nf) {
		switch {
		case of == nil:
			add(path+"/format", true, "format %v added: data valid before may now be refused", nf)
		case nf == nil:
			add(path+"/format", true, "format %v removed: consumers of the old schema may refuse new data", of)
		default:
			add(path+"/format", true, "format changed from %v to %v", of, nf)
		}
	}
	oOpen, nOpen := open(o), open(n)
	switch {
	case oOpen && !nOpen:
		add(path+"/additionalProperties", true, "additionalProperties closed: data with properties added later is refused")
	case !oOpen && nOpen:
		add(path+"/additionalProperties", true, "additionalProperties opened: consumers of the old schema refuse extra properties")
	case !reflect.DeepEqual(o["additionalProperties"], n["additionalProperties"]):
		if _, isBool := o["additionalProperties"].(bool); !isBool || n["additionalProperties"] != nil {
			compare(cs, path+"/additionalProperties", o["additionalProperties"], n["additionalProperties"])
		}
	}
	oReq, nReq := stringSet(o["required"]), stringSet(n["required"])
	op, _ := o["properties"].(map[string]any)
	np, _ := n["properties"].(map[string]any)
	for _, name := range sortedKeys(op, np) {
		p := path + "/properties/" + escape(name)
		ov, inOld := op[name]
		nv, inNew := np[name]
		switch {
		case inOld && !inNew:
			add(p, true, "property %q removed", name)
		case !inOld && inNew && nReq[name]:
			add(p, true, "new required property %q: events made before it lack it", name)
		case !inOld && inNew && !oOpen:
			add(p, true, "property %q added to a closed object", name)
		case !inOld && inNew:
			add(p, false, "optional property %q added", name)
		default:
			compare(cs, p, ov, nv)
		}
	}
	for _, name := range sortedKeys(oReq, nReq) {
		_, wasProp := op[name]
		_, isProp := np[name]
		switch {
		case oReq[name] && !nReq[name] && isProp:
			add(path+"/required", true, "property %q no longer required: consumers rely on it", name)
		case !oReq[name] && nReq[name] && wasProp:
			add(path+"/required", true, "property %q made required: events made before may lack it", name)
		case !oReq[name] && nReq[name] && !isProp:
			add(path+"/required", true, "property %q required without being declared", name)
		}
	}
	if oi, ni := o["items"], n["items"]; !reflect.DeepEqual(oi, ni) {
		compare(cs, path+"/items", oi, ni)
	}
}

func compareEnum(add func(string, bool, string, ...any), path string, old, new any, hadEnum, hasEnum bool) {
	switch {
	case !hadEnum && !hasEnum:
		return
	case !hadEnum:
		add(path+"/enum", true, "enum added: values allowed before are refused")
		return
	case !hasEnum:
		add(path+"/enum", true, "enum removed: consumers of the old schema refuse the values it now allows")
		return
	}
	ol, _ := old.([]any)
	nl, _ := new.([]any)
	contains := func(l []any, v any) bool {
		return slices.ContainsFunc(l, func(x any) bool { return reflect.DeepEqual(x, v) })
	}
	for _, v := range ol {
		if !contains(nl, v) {
			add(path+"/enum", true, "enum tightened: %s no longer allowed", brief(v))
		}
	}
	for _, v := range nl {
		if !contains(ol, v) {
			add(path+"/enum", true, "enum widened: consumers of the old schema refuse %s", brief(v))
		}
	}
}

// open reports whether an object schema takes properties it does not
// declare (additionalProperties absent or true).
func open(s map[string]any) bool {
	ap, ok := s["additionalProperties"]
	if !ok {
		return true
	}
	b, isBool := ap.(bool)
	return isBool && b
}

func typeSet(v any) []string {
	var out []string
	switch t := v.(type) {
	case string:
		out = []string{t}
	case []any:
		for _, x := range t {
			out = append(out, fmt.Sprint(x))
		}
	}
	sort.Strings(out)
	return out
}

func stringSet(v any) map[string]bool {
	out := map[string]bool{}
	l, _ := v.([]any)
	for _, x := range l {
		if s, ok := x.(string); ok {
			out[s] = true
		}
	}
	return out
}

func sortedKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// escape is a JSON pointer token (RFC 6901).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func brief(v any) string {
	if v == nil {
		return "nothing"
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) > 80 {
		return fmt.Sprintf("%T", v)
	}
	return string(b)
}
