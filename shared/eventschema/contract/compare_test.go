package contract_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/eventschema/contract"
)

// base is a schema as the generator writes one, with a nested object and
// an array to reach the recursive cases.
const base = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "urn:lensflow:eventschema:com.lensflow.thing.done.v1",
  "title": "com.lensflow.thing.done.v1",
  "description": "A thing was done.",
  "type": "object",
  "additionalProperties": true,
  "properties": {
    "thingId": {"type": "string", "description": "The thing."},
    "count": {"type": "integer", "description": "How many."},
    "kind": {"type": "string", "enum": ["a", "b"], "description": "Its kind."},
    "at": {"type": "string", "format": "date-time", "description": "When."},
    "note": {"type": "string", "description": "Optional."},
    "where": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
    "tags": {"type": "array", "items": {"type": "string"}}
  },
  "required": ["thingId", "count", "kind", "at", "where"]
}`

// edit returns base changed by f.
func edit(t *testing.T, f func(s map[string]any)) []byte {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal([]byte(base), &s); err != nil {
		t.Fatal(err)
	}
	f(s)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func props(s map[string]any) map[string]any { return s["properties"].(map[string]any) }
func prop(s map[string]any, name string) map[string]any {
	return props(s)[name].(map[string]any)
}

func TestCompareFindsEachBreakingKind(t *testing.T) {
	tests := []struct {
		name, want string // want: in the breaking change's text
		f          func(s map[string]any)
	}{
		{"removed required property", `property "count" removed`, func(s map[string]any) {
			delete(props(s), "count")
			s["required"] = []any{"thingId", "kind", "at", "where"}
		}},
		{"removed optional property", `property "note" removed`, func(s map[string]any) { delete(props(s), "note") }},
		{"changed type", "type changed from [integer] to [string]", func(s map[string]any) { prop(s, "count")["type"] = "string" }},
		{"widened type", "type changed", func(s map[string]any) { prop(s, "count")["type"] = []any{"integer", "null"} }},
		{"new required property", `new required property "lab"`, func(s map[string]any) {
			props(s)["lab"] = map[string]any{"type": "string"}
			s["required"] = append(s["required"].([]any), "lab")
		}},
		{"optional made required", `property "note" made required`, func(s map[string]any) {
			s["required"] = append(s["required"].([]any), "note")
		}},
		{"required made optional", `property "kind" no longer required`, func(s map[string]any) {
			s["required"] = []any{"thingId", "count", "at", "where"}
		}},
		{"tightened enum", `enum tightened: "b" no longer allowed`, func(s map[string]any) { prop(s, "kind")["enum"] = []any{"a"} }},
		{"widened enum", `enum widened: consumers of the old schema refuse "c"`, func(s map[string]any) {
			prop(s, "kind")["enum"] = []any{"a", "b", "c"}
		}},
		{"enum added", "enum added", func(s map[string]any) { prop(s, "note")["enum"] = []any{"x"} }},
		{"format added", "format email added", func(s map[string]any) { prop(s, "note")["format"] = "email" }},
		{"format changed", "format changed from date-time to date", func(s map[string]any) { prop(s, "at")["format"] = "date" }},
		{"format removed", "format date-time removed", func(s map[string]any) { delete(prop(s, "at"), "format") }},
		{"additionalProperties closed", "additionalProperties closed", func(s map[string]any) { s["additionalProperties"] = false }},
		{"additionalProperties constrained", "additionalProperties closed", func(s map[string]any) {
			s["additionalProperties"] = map[string]any{"type": "string"}
		}},
		{"nested property retyped", "type changed from [number] to [string]", func(s map[string]any) {
			prop(s, "where")["properties"].(map[string]any)["x"].(map[string]any)["type"] = "string"
		}},
		{"nested object closed", "additionalProperties closed", func(s map[string]any) { prop(s, "where")["additionalProperties"] = false }},
		{"array items retyped", "type changed from [string] to [integer]", func(s map[string]any) {
			prop(s, "tags")["items"].(map[string]any)["type"] = "integer"
		}},
		{"pattern added", "pattern changed", func(s map[string]any) { prop(s, "thingId")["pattern"] = "^[a-z]+$" }},
		{"maxLength tightened", "maxLength changed", func(s map[string]any) { prop(s, "note")["maxLength"] = 10 }},
		{"$id changed", "$id changed", func(s map[string]any) { s["$id"] = "urn:lensflow:eventschema:com.lensflow.thing.done.v2" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := contract.Compare([]byte(base), edit(t, tc.f))
			if err != nil {
				t.Fatal(err)
			}
			b := contract.Breaking(cs)
			found := false
			for _, c := range b {
				found = found || strings.Contains(c.String(), tc.want)
			}
			if !found {
				t.Errorf("breaking changes %v, want one saying %q", b, tc.want)
			}
		})
	}
}

func TestCompareAcceptsCompatibleChanges(t *testing.T) {
	newer := edit(t, func(s map[string]any) {
		props(s)["lab"] = map[string]any{"type": "string", "description": "Added later, optional."}
		prop(s, "count")["description"] = "How many, better said."
		s["description"] = "A thing was done, and more."
		prop(s, "where")["properties"].(map[string]any)["y"] = map[string]any{"type": "number"}
		prop(s, "kind")["examples"] = []any{"a"}
	})
	cs, err := contract.Compare([]byte(base), newer)
	if err != nil {
		t.Fatal(err)
	}
	if b := contract.Breaking(cs); len(b) > 0 {
		t.Errorf("compatible changes reported breaking: %v", b)
	}
	var said []string
	for _, c := range cs {
		said = append(said, c.String())
	}
	for _, want := range []string{`optional property "lab" added`, `optional property "y" added`, "/properties/count/description: documentation changed", "/description: documentation changed"} {
		if !strings.Contains(strings.Join(said, "\n"), want) {
			t.Errorf("changes %v, want one saying %q", said, want)
		}
	}
	if cs, err := contract.Compare([]byte(base), []byte(base)); err != nil || len(cs) != 0 {
		t.Errorf("the same schema: %v, %v", cs, err)
	}
}

// A property may be added to a closed object only by breaking it: data
// with it is refused by the old schema.
func TestCompareClosedObjectGainingAProperty(t *testing.T) {
	closed := edit(t, func(s map[string]any) { s["additionalProperties"] = false })
	var s map[string]any
	_ = json.Unmarshal(closed, &s)
	props(s)["lab"] = map[string]any{"type": "string"}
	newer, _ := json.Marshal(s)
	cs, err := contract.Compare(closed, newer)
	if err != nil {
		t.Fatal(err)
	}
	if b := contract.Breaking(cs); len(b) != 1 || !strings.Contains(b[0].What, "added to a closed object") {
		t.Errorf("breaking = %v", b)
	}
}

func TestCompareRejectsNonJSON(t *testing.T) {
	if _, err := contract.Compare([]byte("{"), []byte(base)); err == nil {
		t.Error("Compare of a broken old schema succeeded")
	}
}
