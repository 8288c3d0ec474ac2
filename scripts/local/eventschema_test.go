package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/bootstrap/standins"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventschema"
	"github.com/lensflow/lensflow/shared/eventschema/contract"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// TestEventsNameTheirSchemas: an event the stack publishes names, in its
// dataschema, the URL where the stack serves its schema, and matches it;
// an event that does not match its schema is refused, naming its type.
func TestEventsNameTheirSchemas(t *testing.T) {
	st := start(t, "127.0.0.1:0", t.TempDir())
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	north := st.Tokens["demo-north"]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec := ports.SubscriptionSpec{Name: "schema-tap", Topic: scans.TopicScanReceived, DeadLetterTopic: "schema-tap-dl"}
	if err := st.Local.Broker.EnsureSubscription(ctx, spec); err != nil {
		t.Fatal(err)
	}
	got := make(chan ports.Event, 10)
	go func() {
		_ = st.Local.Broker.Receive(ctx, spec.Name, func(_ context.Context, d ports.Delivery) error {
			got <- d.Event
			return nil
		})
	}()

	pid := c.createPatient(north)
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	if s, b, _ := c.do("POST", "/v1/patients/"+pid+"/scans?eye=OD&lensType=rgp", north, sample, "Content-Type", "text/csv"); s != 201 {
		t.Fatalf("upload: %d %s", s, b)
	}
	var e ports.Event
	select {
	case e = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("no scan-received event")
	}
	want := st.URL + "/portal" + eventschema.Path + scans.TypeScanReceived + ".json"
	if e.DataSchema != want {
		t.Errorf("dataschema = %q, want %q", e.DataSchema, want)
	}
	if err := contract.Event(e); err != nil {
		t.Errorf("the published event does not match its schema: %v", err)
	}
	resp, err := http.Get(e.DataSchema)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var s struct {
		ID string `json:"$id"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &s) != nil || s.ID != eventschema.ID(scans.TypeScanReceived) {
		t.Errorf("GET %s: %d %s", e.DataSchema, resp.StatusCode, body)
	}

	// A producer sending data its schema does not allow is refused.
	bad := ports.Event{ID: "bad-schema-1", Type: scans.TypeScanReceived, Source: scans.EventSource, Time: time.Now(),
		Data: json.RawMessage(`{"scanId":42,"clinicId":"demo-north"}`)}
	err = st.App.Events.Publish(ctx, scans.TopicScanReceived, bad)
	if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), scans.TypeScanReceived) || !strings.Contains(err.Error(), "/scanId") {
		t.Errorf("publishing data against its schema = %v, want Invalid naming the type and the field", err)
	}
	v := standins.TakeSchemaViolations()
	if len(v) != 1 || !strings.Contains(v[0].Error(), "bad-schema-1") {
		t.Errorf("violations recorded = %v, want the refused event only", v)
	}
}
