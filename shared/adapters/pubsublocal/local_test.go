package pubsublocal_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents"
	"github.com/lensflow/lensflow/shared/adapters/pubsublocal"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/eventstest"
)

func waitPending(t *testing.T, l *pubsublocal.Local, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := l.Pending()
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Pending = %d, want %d", n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLocalSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events", "journal.db")
	s := eventstest.Spec(t)
	e := eventstest.SampleEvent("evt-restart")

	l := openLocal(t, path)
	eventstest.Ensure(t, l, s)
	eventstest.Publish(t, l, s.Topic, e)
	waitPending(t, l, 1)
	if err := l.Close(); err != nil { // before anyone received it
		t.Fatal(err)
	}

	l2 := openLocal(t, path) // topology and message come back without being told
	r := eventstest.Receive(t, l2, s.Name, nil)
	d := r.Next(t, 10*time.Second)
	if err := eventstest.SameEvent(d.Event, e); err != nil {
		t.Error(err)
	}
	waitPending(t, l2, 0)
	r.Quiet(t, 500*time.Millisecond)
	r.Stop(t)
	l2.Close()

	l3 := openLocal(t, path) // acked: nothing comes back
	eventstest.Receive(t, l3, s.Name, nil).Quiet(t, time.Second)
}

func TestLocalReplayOnlyToSubscriptionsThatHadNotAcked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	a := eventstest.Spec(t)
	b := a
	b.Name += "-b"
	e := eventstest.SampleEvent("evt-partial")

	l := openLocal(t, path)
	eventstest.Ensure(t, l, a)
	eventstest.Ensure(t, l, b)
	eventstest.Publish(t, l, a.Topic, e)
	waitPending(t, l, 2)
	ra := eventstest.Receive(t, l, a.Name, nil)
	ra.Next(t, 10*time.Second)
	waitPending(t, l, 1)
	ra.Stop(t)
	l.Close()

	l2 := openLocal(t, path)
	rb := eventstest.Receive(t, l2, b.Name, nil)
	ra2 := eventstest.Receive(t, l2, a.Name, nil)
	if d := rb.Next(t, 10*time.Second); d.Event.ID != e.ID {
		t.Errorf("b got %s, want %s", d.Event.ID, e.ID)
	}
	ra2.Quiet(t, time.Second)
	waitPending(t, l2, 0)
}

func TestLocalDeadLettersSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	s := eventstest.Spec(t)
	e := eventstest.SampleEvent("evt-dead")

	l := openLocal(t, path)
	eventstest.Ensure(t, l, s)
	eventstest.Publish(t, l, s.Topic, e)
	var attempts atomic.Int32
	r := eventstest.Receive(t, l, s.Name, func(ports.Delivery) error {
		attempts.Add(1)
		return errors.New("poison")
	})
	// Wait until the journal holds it for the dead-letter subscription only.
	deadline := time.Now().Add(10 * time.Second)
	for attempts.Load() < eventstest.MaxDeliveryAttempts && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	waitPending(t, l, 1)
	r.Stop(t)
	if got := attempts.Load(); got != eventstest.MaxDeliveryAttempts {
		t.Errorf("attempts = %d, want %d", got, eventstest.MaxDeliveryAttempts)
	}
	l.Close()

	l2 := openLocal(t, path)
	src := eventstest.Receive(t, l2, s.Name, nil)
	dead := eventstest.Receive(t, l2, pubsubevents.DeadLetterSubscription(s), nil)
	if err := eventstest.SameEvent(dead.Next(t, 10*time.Second).Event, e); err != nil {
		t.Error(err)
	}
	src.Quiet(t, time.Second)
	waitPending(t, l2, 0)
}

func TestLocalJournalIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	openLocal(t, path)
	_, err := pubsublocal.Open(context.Background(), path)
	if !errs.Is(errs.Unavailable, err) {
		t.Fatalf("second Open = %v, want errs.Unavailable", err)
	}
}

func TestHandlerPanicIsAFailure(t *testing.T) {
	l := openLocal(t, filepath.Join(t.TempDir(), "j.db"))
	s := eventstest.Spec(t)
	eventstest.Ensure(t, l, s)
	eventstest.Publish(t, l, s.Topic, eventstest.SampleEvent("evt-panic"))
	var once sync.Once
	r := eventstest.Receive(t, l, s.Name, func(ports.Delivery) error {
		once.Do(func() { panic("boom") })
		return nil
	})
	r.Next(t, 10*time.Second)
	if d := r.Next(t, 10*time.Second); d.Attempt != 2 {
		t.Errorf("after a panic: Attempt = %d, want 2", d.Attempt)
	}
}

func TestExponentialDelay(t *testing.T) {
	f := pubsublocal.ExponentialDelay(100*time.Millisecond, 5*time.Second)
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {6, 3200 * time.Millisecond}, {7, 5 * time.Second}, {100, 5 * time.Second}} {
		t.Run(fmt.Sprint(tc.attempt), func(t *testing.T) {
			if got := f(tc.attempt); got != tc.want {
				t.Errorf("ExponentialDelay(%d) = %v, want %v", tc.attempt, got, tc.want)
			}
		})
	}
}

// BenchmarkLocalRoundTrip measures publish -> receive on the local broker
// with 50 concurrent publishers.
func BenchmarkLocalRoundTrip(b *testing.B) {
	for _, streams := range []int{10, 0} {
		name := "default"
		if streams > 0 {
			name = fmt.Sprintf("streams=%d", streams)
		}
		b.Run(name, func(b *testing.B) { benchRoundTrip(b, streams) })
	}
}

func benchRoundTrip(b *testing.B, streams int) {
	var opts []pubsublocal.Option
	if streams > 0 {
		opts = append(opts, pubsublocal.WithStreams(streams))
	}
	l, err := pubsublocal.Open(context.Background(), filepath.Join(b.TempDir(), "j.db"), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	s := eventstest.Spec(b)
	eventstest.Ensure(b, l, s)
	var got atomic.Int64
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := int64(b.N)
	go l.Receive(ctx, s.Name, func(context.Context, ports.Delivery) error {
		if got.Add(1) == n {
			close(all)
		}
		return nil
	})
	const publishers = 50
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range publishers {
		wg.Go(func() {
			for i := next.Add(1); i <= n; i = next.Add(1) {
				e := eventstest.SampleEvent(fmt.Sprintf("evt-%d", i))
				if err := l.Publish(ctx, s.Topic, e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		b.Fatalf("received %d of %d", got.Load(), n)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// quiet discards the adapter's warnings, which tests provoke on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestConformanceLocal(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) ports.Broker {
		return openLocal(t, t.TempDir()+"/journal.db")
	})
}

func openLocal(t *testing.T, path string) *pubsublocal.Local {
	t.Helper()
	l, err := pubsublocal.Open(context.Background(), path,
		pubsublocal.WithNackDelay(pubsublocal.ExponentialDelay(5*time.Millisecond, 50*time.Millisecond)),
		pubsublocal.WithLogger(quiet))
	if err != nil {
		t.Fatalf("pubsublocal.Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
