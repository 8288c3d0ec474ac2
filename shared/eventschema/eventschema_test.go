package eventschema_test

import (
	"context"
	"testing"

	"github.com/lensflow/lensflow/shared/eventschema"
	"github.com/lensflow/lensflow/shared/ports"
)

const scanReceived = "com.lensflow.scan.received.v1"

func TestURI(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/schemas/events/com.lensflow.scan.received.v1.json"},
		{"https://lab.example/", "https://lab.example/schemas/events/com.lensflow.scan.received.v1.json"},
		{"", "urn:lensflow:eventschema:com.lensflow.scan.received.v1"},
	} {
		if got := eventschema.URI(tc.base, scanReceived); got != tc.want {
			t.Errorf("URI(%q) = %s, want %s", tc.base, got, tc.want)
		}
		if !eventschema.Names(tc.want, scanReceived) || eventschema.Names(tc.want, "com.lensflow.order.placed.v1") {
			t.Errorf("Names(%s) wrong", tc.want)
		}
	}
}

type recorder struct {
	ports.Publisher
	got []ports.Event
}

func (r *recorder) Publish(_ context.Context, _ string, e ports.Event) error {
	r.got = append(r.got, e)
	return nil
}

func TestStampNamesTheSchema(t *testing.T) {
	inner := &recorder{}
	p := eventschema.Stamp(inner, "http://127.0.0.1:8080")
	ctx := context.Background()
	_ = p.Publish(ctx, "scan-received", ports.Event{ID: "1", Type: scanReceived})
	_ = p.Publish(ctx, "scan-received", ports.Event{ID: "2", Type: scanReceived, DataSchema: "urn:kept"})
	_ = p.Publish(ctx, "elsewhere", ports.Event{ID: "3", Type: "com.lensflow.never.heard.v1"})
	want := []string{"http://127.0.0.1:8080/schemas/events/com.lensflow.scan.received.v1.json", "urn:kept", ""}
	for i, e := range inner.got {
		if e.DataSchema != want[i] {
			t.Errorf("event %s: DataSchema = %q, want %q", e.ID, e.DataSchema, want[i])
		}
	}
	if len(inner.got) != 3 {
		t.Errorf("published %d events, want 3", len(inner.got))
	}
}
