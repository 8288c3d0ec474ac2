package cebinding_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents/cebinding"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

func TestEncodeAttributes(t *testing.T) {
	e := ports.Event{
		ID: "e1", Type: "com.lensflow.x.v1", Source: "/s", Subject: "scans/1",
		Time:       time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)),
		Data:       json.RawMessage(`{"a":1}`),
		DataSchema: "http://127.0.0.1:8080/schemas/events/com.lensflow.x.v1.json",
		Extras:     map[string]string{"traceparent": "00-x"},
	}
	data, attrs, err := cebinding.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ce-specversion": "1.0", "ce-id": "e1", "ce-type": "com.lensflow.x.v1", "ce-source": "/s",
		"ce-subject": "scans/1", "ce-time": "2026-01-02T02:04:05.000000006Z", "ce-traceparent": "00-x",
		"ce-dataschema": "http://127.0.0.1:8080/schemas/events/com.lensflow.x.v1.json", "content-type": "application/json",
	}
	if !maps.Equal(attrs, want) {
		t.Errorf("attrs = %v\nwant %v", attrs, want)
	}
	if !bytes.Equal(data, e.Data) {
		t.Errorf("data = %s", data)
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    ports.Event
	}{
		{"minimal", ports.Event{ID: "i", Type: "t", Source: "/s"}},
		{"full", ports.Event{ID: "i", Type: "t", Source: "/s", Subject: "x/y", Time: time.Unix(1700000000, 123456789).UTC(),
			Data: json.RawMessage(`{"k":"v"}`), DataSchema: "urn:lensflow:eventschema:t", Extras: map[string]string{"a1": "", "traceparent": "t"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, attrs, err := cebinding.Encode(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cebinding.Decode(data, attrs)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tc.e.ID || got.Type != tc.e.Type || got.Source != tc.e.Source || got.Subject != tc.e.Subject || got.DataSchema != tc.e.DataSchema ||
				!got.Time.Equal(tc.e.Time) || !bytes.Equal(got.Data, tc.e.Data) || !maps.Equal(got.Extras, tc.e.Extras) {
				t.Errorf("got %+v\nwant %+v", got, tc.e)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	enc := []struct {
		name, field string
		e           ports.Event
	}{
		{"no id", "id", ports.Event{Type: "t", Source: "/s"}},
		{"no type", "type", ports.Event{ID: "i", Source: "/s"}},
		{"no source", "source", ports.Event{ID: "i", Type: "t"}},
		{"upper-case extension", "extras", ports.Event{ID: "i", Type: "t", Source: "/s", Extras: map[string]string{"Abc": ""}}},
		{"long extension", "extras", ports.Event{ID: "i", Type: "t", Source: "/s", Extras: map[string]string{"abcdefghijklmnopqrstu": ""}}},
		{"reserved extension", "extras", ports.Event{ID: "i", Type: "t", Source: "/s", Extras: map[string]string{"time": ""}}},
		{"empty extension", "extras", ports.Event{ID: "i", Type: "t", Source: "/s", Extras: map[string]string{"": ""}}},
		{"dataschema as extension", "extras", ports.Event{ID: "i", Type: "t", Source: "/s", Extras: map[string]string{"dataschema": "urn:x"}}},
		{"relative dataschema", "dataschema", ports.Event{ID: "i", Type: "t", Source: "/s", DataSchema: "schemas/events/t.json"}},
	}
	for _, tc := range enc {
		t.Run("encode "+tc.name, func(t *testing.T) {
			_, _, err := cebinding.Encode(tc.e)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field {
				t.Errorf("Encode = %v, want Invalid on %s", err, tc.field)
			}
		})
	}
	base := map[string]string{"ce-specversion": "1.0", "ce-id": "i", "ce-type": "t", "ce-source": "/s"}
	dec := []struct {
		name, field string
		mod         func(map[string]string)
	}{
		{"no id", "ce-id", func(m map[string]string) { delete(m, "ce-id") }},
		{"no type", "ce-type", func(m map[string]string) { delete(m, "ce-type") }},
		{"no source", "ce-source", func(m map[string]string) { delete(m, "ce-source") }},
		{"bad time", "ce-time", func(m map[string]string) { m["ce-time"] = "ZZCANARY" }},
		{"spec 0.3", "ce-specversion", func(m map[string]string) { m["ce-specversion"] = "0.3" }},
		{"relative dataschema", "ce-dataschema", func(m map[string]string) { m["ce-dataschema"] = "ZZCANARY/t.json" }},
	}
	for _, tc := range dec {
		t.Run("decode "+tc.name, func(t *testing.T) {
			m := maps.Clone(base)
			tc.mod(m)
			_, err := cebinding.Decode(nil, m)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field {
				t.Errorf("Decode = %v, want Invalid on %s", err, tc.field)
			}
			if err != nil && bytes.Contains([]byte(err.Error()), []byte("ZZCANARY")) {
				t.Errorf("error echoes an attribute value: %v", err)
			}
		})
	}
}

func TestDecodeIgnoresForeignAttributes(t *testing.T) {
	e, err := cebinding.Decode(nil, map[string]string{"ce-id": "i", "ce-type": "t", "ce-source": "/s",
		"content-type": "application/json", "googclient_x": "y", "ce-datacontenttype": "x", "lensflow-replay-subs": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Extras) != 0 {
		t.Errorf("Extras = %v, want none", e.Extras)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{}`), "i", "t", "/s", "2026-01-01T00:00:00Z", "traceparent", "v")
	f.Add([]byte(nil), "", "t", "", "nope", "", "")
	f.Fuzz(func(t *testing.T, data []byte, id, typ, src, tm, k, v string) {
		attrs := map[string]string{"ce-id": id, "ce-type": typ, "ce-source": src, "ce-time": tm, "ce-" + k: v}
		e, err := cebinding.Decode(data, attrs)
		if err != nil {
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("Decode error not Invalid: %v", err)
			}
			return
		}
		d2, a2, err := cebinding.Encode(e)
		if err != nil {
			return // extension names Decode accepts but Encode refuses (upper case, long)
		}
		e2, err := cebinding.Decode(d2, a2)
		if err != nil || e2.ID != e.ID || !e2.Time.Equal(e.Time) || !bytes.Equal(e2.Data, e.Data) || !maps.Equal(e2.Extras, e.Extras) {
			t.Fatalf("re-encode round trip: %+v vs %+v (%v)", e2, e, err)
		}
	})
}
