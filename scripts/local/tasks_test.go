package main

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// TestOutboxTaskPublishesStrandedEvents: an event committed but never
// published (its publish failed) is published by the outbox task, which
// only a service token may run.
func TestOutboxTaskPublishesStrandedEvents(t *testing.T) {
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	ctx := context.Background()
	old := time.Now().Add(-time.Minute).UTC()
	ev := ports.Event{ID: "stranded-1", Type: scans.TypeScanReceived, Source: scans.EventSource, Subject: "scans/none",
		Time: old, Data: json.RawMessage(`{"scanId":"none","clinicId":"demo-north","patientId":"none"}`)}
	if err := st.App.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return outbox.Add(ctx, tx, scans.TopicScanReceived, ev)
	}); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := c.do("POST", "/v1/tasks/outbox", st.Tokens["demo-north"], nil); s != 403 {
		t.Fatalf("clinic ran the outbox task: %d", s)
	}
	s, b, _ := c.do("POST", "/v1/tasks/outbox", st.ServiceToken, nil)
	if s != 200 {
		t.Fatalf("outbox task: %d %s", s, b)
	}
	var e outbox.Entry
	if err := st.App.Docs.Get(ctx, outbox.Collection, ev.ID, &e); err == nil {
		t.Fatalf("the stranded event is still in the outbox after the task: %s", b)
	}
}
