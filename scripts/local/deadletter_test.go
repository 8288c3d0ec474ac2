package main

import (
	"context"
	"encoding/json"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// TestPoisonEventIsDeadLettered: an event its consumer can never handle is
// retried, then lands on the subscription's dead-letter topic after 5
// attempts, with its attributes intact, where it can be inspected and
// replayed.
func TestPoisonEventIsDeadLettered(t *testing.T) {
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	f, _ := platform.Lookup("Design")
	spec := platform.Subscriptions(f)[0]
	poison := ports.Event{ID: "poison-1", Type: scans.TypeScanReceived, Source: scans.EventSource, Subject: "scans/x",
		Time: time.Now().UTC(), Data: json.RawMessage(`{"note":"no scan id"}`)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := st.Local.Broker.Publish(ctx, spec.Topic, poison); err != nil {
		t.Fatal(err)
	}
	var got atomic.Pointer[ports.Delivery]
	rctx, stop := context.WithCancel(ctx)
	go func() {
		_ = st.Local.Broker.Receive(rctx, pubsubevents.DeadLetterSubscription(spec), func(_ context.Context, d ports.Delivery) error {
			got.Store(&d)
			stop()
			return nil
		})
	}()
	<-rctx.Done()
	d := got.Load()
	if d == nil {
		t.Fatal("the poison event did not reach the dead-letter topic")
	}
	if d.Event.ID != poison.ID || d.Event.Type != poison.Type || string(d.Event.Data) != string(poison.Data) {
		t.Fatalf("dead letter %+v", d.Event)
	}
	// Each failed delivery was counted, and the last one as a dead letter.
	m := labMetrics(t, client{base: st.URL, t: t})
	design := map[string]string{metrics.KeyFunction: "Design", metrics.KeyType: scans.TypeScanReceived}
	if got := metrics.Total(m, metrics.NameEventsFailed, design); got != int64(spec.MaxDeliveryAttempts) {
		t.Errorf("events.failed = %d, want %d (one per attempt)", got, spec.MaxDeliveryAttempts)
	}
	if got := metrics.Total(m, metrics.NameEventsDeadLettered, design); got != 1 {
		t.Errorf("events.dead_lettered = %d, want 1", got)
	}
}

// TestReplayDeadLetters: a dead-lettered event is put back on its topic by
// ReplayDeadLetters, is delivered to its consumer again (which fails it
// again, being poison) and returns to the dead-letter topic.
func TestReplayDeadLetters(t *testing.T) {
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	f, _ := platform.Lookup("Design")
	spec := platform.Subscriptions(f)[0]
	poison := ports.Event{ID: "poison-2", Type: scans.TypeScanReceived, Source: scans.EventSource, Subject: "scans/x",
		Time: time.Now().UTC(), Data: json.RawMessage(`{"note":"no scan id"}`)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := st.Local.Broker.Publish(ctx, spec.Topic, poison); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		for {
			n, err := st.ReplayDeadLetters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				break
			}
			if n > 1 || ctx.Err() != nil {
				t.Fatalf("round %d: replayed %d (%v)", round, n, ctx.Err())
			}
		}
	}
}
