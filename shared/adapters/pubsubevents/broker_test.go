package pubsubevents_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents"
	"github.com/lensflow/lensflow/shared/emulator"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/eventstest"
)

// quiet discards the adapter's warnings, which tests provoke on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMain(m *testing.M) { emulator.RunMain(m) }

// pstestBroker returns the plain adapter over a fresh pstest server.
func pstestBroker(t *testing.T) (*pubsubevents.Broker, *pstest.Server) {
	t.Helper()
	srv := pstest.NewServer()
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	client, err := pubsub.NewClient(context.Background(), "lensflow-test", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		conn.Close()
		srv.Close()
	})
	rs := pubsub.DefaultReceiveSettings
	rs.NumGoroutines = 4
	return pubsubevents.NewWithOptions(client, "lensflow-test", pubsubevents.Options{ReceiveSettings: &rs, ClientDeadLetter: true, Logger: quiet}), srv
}

func TestConformancePstest(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) ports.Broker {
		b, _ := pstestBroker(t)
		return b
	})
}

func TestConformanceEmulator(t *testing.T) {
	addr := emulator.PubSub(t)
	ctx := context.Background()
	client, err := pubsub.NewClient(ctx, "lensflow-emulator",
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	rs := pubsub.DefaultReceiveSettings
	rs.NumGoroutines = 2
	eventstest.RunWithOptions(t, func(t *testing.T) ports.Broker {
		return pubsubevents.NewWithOptions(client, "lensflow-emulator", pubsubevents.Options{
			ReceiveSettings: &rs,
			MinRetryBackoff: time.Second, MaxRetryBackoff: 2 * time.Second,
		})
	}, eventstest.Options{Timeout: 60 * time.Second})
}

func TestMalformedMessagesAreDeadLettered(t *testing.T) {
	b, srv := pstestBroker(t)
	s := eventstest.Spec(t)
	eventstest.Ensure(t, b, s)
	var called atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- b.Receive(ctx, s.Name, func(context.Context, ports.Delivery) error { called.Store(true); return nil })
	}()
	tests := []struct {
		name  string
		attrs map[string]string
	}{
		{"no ce-id", map[string]string{"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}},
		{"no ce-type", map[string]string{"ce-specversion": "1.0", "ce-id": "i", "ce-source": "/s"}},
		{"bad time", map[string]string{"ce-specversion": "1.0", "ce-id": "i", "ce-type": "t", "ce-source": "/s", "ce-time": "yesterday"}},
		{"wrong spec version", map[string]string{"ce-specversion": "0.3", "ce-id": "i", "ce-type": "t", "ce-source": "/s"}},
		{"no attributes", nil},
	}
	ids := map[string]string{}
	for _, tc := range tests {
		ids[srv.Publish(fmt.Sprintf("projects/lensflow-test/topics/%s", s.Topic), []byte(`{}`), tc.attrs)] = tc.name
	}
	deadTopic := "projects/lensflow-test/topics/" + s.DeadLetterTopic
	deadline := time.Now().Add(15 * time.Second)
	// Each is dead-lettered, then acked: the client sends acks in
	// batches, so the ack reaches the server a moment after the copy.
	for {
		var dead, acked int
		for _, m := range srv.Messages() {
			if m.Topic == deadTopic {
				dead++
			}
			if _, ok := ids[m.ID]; ok && m.Acks > 0 {
				acked++
			}
		}
		if dead == len(tests) && acked == len(tests) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d malformed messages dead-lettered, %d acked", dead, len(tests), acked)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, m := range srv.Messages() {
		if name, ok := ids[m.ID]; ok && (m.Deliveries != eventstest.MaxDeliveryAttempts || m.Acks != 1) {
			t.Errorf("%s: deliveries %d acks %d, want %d and 1", name, m.Deliveries, m.Acks, eventstest.MaxDeliveryAttempts)
		}
	}
	if called.Load() {
		t.Error("handler was called with a malformed message")
	}
}
