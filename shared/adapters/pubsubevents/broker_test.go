package pubsubevents_test

import (
	"context"
	"io"
	"log/slog"
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

func TestConformanceLocal(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) ports.Broker {
		return openLocal(t, t.TempDir()+"/journal.db")
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

func openLocal(t *testing.T, path string) *pubsubevents.Local {
	t.Helper()
	l, err := pubsubevents.OpenLocal(context.Background(), path,
		pubsubevents.WithNackDelay(pubsubevents.ExponentialDelay(5*time.Millisecond, 50*time.Millisecond)),
		pubsubevents.WithLogger(quiet))
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
