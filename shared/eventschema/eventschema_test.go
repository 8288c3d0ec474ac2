package eventschema_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

func TestHandlerServesTheSchemas(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET "+eventschema.Path, eventschema.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(eventschema.URI(srv.URL, scanReceived))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var s struct {
		ID string `json:"$id"`
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/schema+json" || json.Unmarshal(body, &s) != nil || s.ID != eventschema.ID(scanReceived) {
		t.Errorf("GET schema: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for _, p := range []string{"com.lensflow.never.heard.v1.json", scanReceived, "", "..%2Feventschema.go", "%2E%2E/README.md"} {
		resp, err := http.Get(srv.URL + eventschema.Path + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
}
