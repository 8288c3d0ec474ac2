// Package eventstest is the conformance suite every ports.Broker must pass:
// the Pub/Sub adapter against pstest, against the official emulator and as
// the journaled local broker all run the same tests.
//
// Besides ports.Broker's documented behaviour, the suite holds brokers to
// lensflow's dead-letter convention: EnsureSubscription also ensures a
// subscription named DeadLetterSubscription(spec) ("<DeadLetterTopic>-sub")
// on the dead-letter topic, so dead letters are kept and can be replayed.
package eventstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// MaxDeliveryAttempts is the dead-letter threshold the suite uses.
const MaxDeliveryAttempts = 5

// Options adapt the suite to a backend's known gaps. The zero value runs
// every test.
type Options struct {
	// SkipDeadLetter, if non-empty, skips the dead-letter test with this reason.
	SkipDeadLetter string
	// Timeout bounds each wait for a delivery (default 30 s).
	Timeout time.Duration
}

// DeadLetterSubscription returns the subscription the suite expects on s's
// dead-letter topic.
func DeadLetterSubscription(s ports.SubscriptionSpec) string { return s.DeadLetterTopic + "-sub" }

// Run runs the suite. open returns a fresh broker for one subtest and
// arranges (with t.Cleanup) to release whatever backs it; Run closes the
// broker itself at the end of each subtest. Topic and subscription names are
// unique per subtest, so one backend (an emulator) may serve every call.
func Run(t *testing.T, open func(t *testing.T) ports.Broker) {
	RunWithOptions(t, open, Options{})
}

// RunWithOptions is Run with backend-specific options.
func RunWithOptions(t *testing.T, open func(t *testing.T) ports.Broker, o Options) {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b ports.Broker, o Options)
	}{
		{"RoundTrip", testRoundTrip},
		{"InvalidInput", testInvalidInput},
		{"EnsureIdempotent", testEnsureIdempotent},
		{"RedeliveryAfterError", testRedelivery},
		{"AckedNotRedelivered", testAckedNotRedelivered},
		{"DeadLetter", testDeadLetter},
		{"Concurrent", testConcurrent},
		{"ReceiveMissingSubscription", testMissingSubscription},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, b, o)
		})
	}
}

// Spec returns a subscription spec with fresh unique names.
func Spec(t testing.TB) ports.SubscriptionSpec {
	var r [4]byte
	_, _ = rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	return ports.SubscriptionSpec{
		Name:                "sub-" + id,
		Topic:               "topic-" + id,
		DeadLetterTopic:     "dead-" + id,
		MaxDeliveryAttempts: MaxDeliveryAttempts,
		AckDeadline:         10 * time.Second,
	}
}

// SampleEvent returns an event that uses every field.
func SampleEvent(id string) ports.Event {
	return ports.Event{
		ID:      id,
		Type:    "com.lensflow.test.happened.v1",
		Source:  "/lensflow/tests/eventstest",
		Subject: "scans/" + id,
		Time:    time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC),
		Data:    json.RawMessage(`{"scanId":"` + id + `","n":1}`),
		// As the local stack names the schema (shared/eventschema).
		DataSchema: "http://127.0.0.1:8080/schemas/events/com.lensflow.test.happened.v1.json",
		Extras:     map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "lab": "l1"},
	}
}

// Ensure creates s on b or fails the test.
func Ensure(t testing.TB, b ports.Broker, s ports.SubscriptionSpec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.EnsureSubscription(ctx, s); err != nil {
		t.Fatalf("EnsureSubscription(%s): %v", s.Name, err)
	}
}

// Publish publishes e to topic or fails the test.
func Publish(t testing.TB, b ports.Broker, topic string, e ports.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Publish(ctx, topic, e); err != nil {
		t.Fatalf("Publish(%s, %s): %v", topic, e.ID, err)
	}
}

// Receiver runs b.Receive on one subscription in the background and hands
// every delivery to a channel, answering with handle's result.
type Receiver struct {
	C      chan ports.Delivery
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Receive starts a Receiver; t.Cleanup stops it. handle may be nil (ack all).
func Receive(t testing.TB, b ports.Broker, sub string, handle func(d ports.Delivery) error) *Receiver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Receiver{C: make(chan ports.Delivery, 1000), cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- b.Receive(ctx, sub, func(ctx context.Context, d ports.Delivery) error {
			select {
			case r.C <- d:
			default:
			}
			if handle != nil {
				return handle(d)
			}
			return nil
		})
	}()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Stop ends the Receive and reports an error it returned. Stop is idempotent.
func (r *Receiver) Stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Receive returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Receive did not return within 30s of cancel")
		}
	})
}

// Next waits for the next delivery.
func (r *Receiver) Next(t testing.TB, timeout time.Duration) ports.Delivery {
	t.Helper()
	select {
	case d := <-r.C:
		return d
	case <-time.After(timeout):
		t.Fatalf("no delivery within %v", timeout)
		return ports.Delivery{}
	}
}

// Quiet asserts that nothing is delivered for d.
func (r *Receiver) Quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case got := <-r.C:
		t.Errorf("unexpected delivery of %s (attempt %d)", got.Event.ID, got.Attempt)
	case <-time.After(d):
	}
}

// SameEvent reports the differences between two events, comparing Time
// to the microsecond and treating nil and empty Data/Extras alike.
func SameEvent(got, want ports.Event) error {
	var diffs []string
	chk := func(field string, ok bool, g, w any) {
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w))
		}
	}
	chk("ID", got.ID == want.ID, got.ID, want.ID)
	chk("Type", got.Type == want.Type, got.Type, want.Type)
	chk("Source", got.Source == want.Source, got.Source, want.Source)
	chk("Subject", got.Subject == want.Subject, got.Subject, want.Subject)
	chk("Time", got.Time.Truncate(time.Microsecond).Equal(want.Time.Truncate(time.Microsecond)), got.Time, want.Time)
	chk("DataSchema", got.DataSchema == want.DataSchema, got.DataSchema, want.DataSchema)
	chk("Data", bytes.Equal(got.Data, want.Data), string(got.Data), string(want.Data))
	chk("Extras", len(got.Extras) == len(want.Extras) && (len(want.Extras) == 0 || maps.Equal(got.Extras, want.Extras)), got.Extras, want.Extras)
	if len(diffs) > 0 {
		return fmt.Errorf("event differs: %v", diffs)
	}
	return nil
}

func testRoundTrip(t *testing.T, b ports.Broker, o Options) {
	s := Spec(t)
	Ensure(t, b, s)
	full := SampleEvent("evt-full")
	minimal := ports.Event{ID: "evt-min", Type: "com.lensflow.test.min.v1", Source: "/lensflow/tests"}
	before := time.Now().Add(-time.Minute)
	Publish(t, b, s.Topic, full)
	Publish(t, b, s.Topic, minimal)
	r := Receive(t, b, s.Name, nil)
	want := map[string]ports.Event{full.ID: full, minimal.ID: minimal}
	for len(want) > 0 {
		d := r.Next(t, o.Timeout)
		w, ok := want[d.Event.ID]
		if !ok {
			continue // an at-least-once duplicate
		}
		delete(want, d.Event.ID)
		if err := SameEvent(d.Event, w); err != nil {
			t.Errorf("%s: %v", w.ID, err)
		}
		if d.MessageID == "" {
			t.Errorf("%s: empty MessageID", w.ID)
		}
		if d.Subscription != s.Name {
			t.Errorf("%s: Subscription = %q, want %q", w.ID, d.Subscription, s.Name)
		}
		if d.Attempt != 1 {
			t.Errorf("%s: Attempt = %d, want 1", w.ID, d.Attempt)
		}
		if d.PublishTime.Before(before) || d.PublishTime.After(time.Now().Add(time.Minute)) {
			t.Errorf("%s: PublishTime = %v, want about now", w.ID, d.PublishTime)
		}
	}
}

func testInvalidInput(t *testing.T, b ports.Broker, o Options) {
	ctx := context.Background()
	s := Spec(t)
	Ensure(t, b, s)
	bad := []struct {
		name string
		e    ports.Event
	}{
		{"no id", ports.Event{Type: "t", Source: "/s"}},
		{"no type", ports.Event{ID: "i", Source: "/s"}},
		{"no source", ports.Event{ID: "i", Type: "t"}},
		{"bad extension name", ports.Event{ID: "i", Type: "t", Source: "/s", Extras: map[string]string{"Trace-Parent": "x"}}},
		{"core attribute as extension", ports.Event{ID: "i", Type: "t", Source: "/s", Extras: map[string]string{"id": "x"}}},
		{"relative dataschema", ports.Event{ID: "i", Type: "t", Source: "/s", DataSchema: "schemas/events/t.json"}},
	}
	for _, tc := range bad {
		t.Run("publish "+tc.name, func(t *testing.T) {
			if err := b.Publish(ctx, s.Topic, tc.e); !errs.Is(errs.Invalid, err) {
				t.Errorf("Publish = %v, want errs.Invalid", err)
			}
		})
	}
	specs := []struct {
		name string
		mod  func(*ports.SubscriptionSpec)
	}{
		{"no dead-letter topic", func(s *ports.SubscriptionSpec) { s.DeadLetterTopic = "" }},
		{"too few attempts", func(s *ports.SubscriptionSpec) { s.MaxDeliveryAttempts = 4 }},
		{"too many attempts", func(s *ports.SubscriptionSpec) { s.MaxDeliveryAttempts = 101 }},
		{"no name", func(s *ports.SubscriptionSpec) { s.Name = "" }},
		{"no topic", func(s *ports.SubscriptionSpec) { s.Topic = "" }},
	}
	for _, tc := range specs {
		t.Run("subscription "+tc.name, func(t *testing.T) {
			s := Spec(t)
			tc.mod(&s)
			if err := b.EnsureSubscription(ctx, s); !errs.Is(errs.Invalid, err) {
				t.Errorf("EnsureSubscription = %v, want errs.Invalid", err)
			}
		})
	}
}

func testEnsureIdempotent(t *testing.T, b ports.Broker, o Options) {
	ctx := context.Background()
	s := Spec(t)
	for i := range 2 {
		if err := b.EnsureTopic(ctx, s.Topic); err != nil {
			t.Fatalf("EnsureTopic #%d: %v", i+1, err)
		}
	}
	for i := range 2 {
		if err := b.EnsureSubscription(ctx, s); err != nil {
			t.Fatalf("EnsureSubscription #%d: %v", i+1, err)
		}
	}
	// A second spec on the same topic and dead-letter topic also works.
	s2 := s
	s2.Name += "-b"
	Ensure(t, b, s2)
	// The same name on another topic is a conflict, not a silent success.
	other := s
	other.Topic += "-other"
	if err := b.EnsureSubscription(ctx, other); !errs.Is(errs.Conflict, err) {
		t.Errorf("EnsureSubscription on another topic = %v, want errs.Conflict", err)
	}
	// Both subscriptions get every event once; re-ensuring lost nothing.
	e := SampleEvent("evt-idem")
	Publish(t, b, s.Topic, e)
	for _, sub := range []string{s.Name, s2.Name} {
		r := Receive(t, b, sub, nil)
		if d := r.Next(t, o.Timeout); d.Event.ID != e.ID {
			t.Errorf("%s got %s, want %s", sub, d.Event.ID, e.ID)
		}
	}
}

func testRedelivery(t *testing.T, b ports.Broker, o Options) {
	s := Spec(t)
	Ensure(t, b, s)
	e := SampleEvent("evt-retry")
	Publish(t, b, s.Topic, e)
	var mu sync.Mutex
	fails := 2
	r := Receive(t, b, s.Name, func(d ports.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return errs.Ef("eventstest", errs.Unavailable, "transient failure")
		}
		return nil
	})
	for want := 1; want <= 3; want++ {
		d := r.Next(t, o.Timeout)
		if d.Event.ID != e.ID {
			t.Fatalf("got %s, want %s", d.Event.ID, e.ID)
		}
		if d.Attempt != want {
			t.Errorf("delivery %d: Attempt = %d, want %d", want, d.Attempt, want)
		}
		if err := SameEvent(d.Event, e); err != nil {
			t.Errorf("delivery %d: %v", want, err)
		}
	}
	r.Quiet(t, 2*time.Second)
}

func testAckedNotRedelivered(t *testing.T, b ports.Broker, o Options) {
	s := Spec(t)
	Ensure(t, b, s)
	const n = 5
	for i := range n {
		Publish(t, b, s.Topic, SampleEvent(fmt.Sprintf("evt-ack-%d", i)))
	}
	r := Receive(t, b, s.Name, nil)
	seen := map[string]bool{}
	for len(seen) < n {
		seen[r.Next(t, o.Timeout).Event.ID] = true
	}
	r.Quiet(t, 2*time.Second)
	r.Stop(t)
	// A new subscriber session sees nothing either.
	r2 := Receive(t, b, s.Name, nil)
	r2.Quiet(t, 2*time.Second)
}

func testDeadLetter(t *testing.T, b ports.Broker, o Options) {
	if o.SkipDeadLetter != "" {
		t.Skip(o.SkipDeadLetter)
	}
	s := Spec(t)
	Ensure(t, b, s)
	e := SampleEvent("evt-poison")
	Publish(t, b, s.Topic, e)
	r := Receive(t, b, s.Name, func(ports.Delivery) error {
		return errs.Ef("eventstest", errs.Invalid, "poison")
	})
	dead := Receive(t, b, DeadLetterSubscription(s), nil)
	var attempts []int
	var got ports.Delivery
	deadline := time.After(o.Timeout + 5*time.Duration(MaxDeliveryAttempts)*time.Second)
loop:
	for {
		select {
		case d := <-r.C:
			attempts = append(attempts, d.Attempt)
		case got = <-dead.C:
			break loop
		case <-deadline:
			t.Fatalf("not dead-lettered; attempts so far %v", attempts)
		}
	}
	if len(attempts) != MaxDeliveryAttempts {
		t.Errorf("attempts before dead-lettering = %v, want %d", attempts, MaxDeliveryAttempts)
	}
	for i, a := range attempts {
		if a != i+1 {
			t.Errorf("attempts = %v, want 1..%d in order", attempts, MaxDeliveryAttempts)
			break
		}
	}
	if err := SameEvent(got.Event, e); err != nil {
		t.Errorf("dead letter: %v", err)
	}
	if got.Subscription != DeadLetterSubscription(s) {
		t.Errorf("dead letter Subscription = %q, want %q", got.Subscription, DeadLetterSubscription(s))
	}
	r.Quiet(t, time.Second)
	dead.Quiet(t, time.Second)
}

func testConcurrent(t *testing.T, b ports.Broker, o Options) {
	s := Spec(t)
	Ensure(t, b, s)
	const n = 50
	r := Receive(t, b, s.Name, nil)
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
			defer cancel()
			if err := b.Publish(ctx, s.Topic, SampleEvent(fmt.Sprintf("evt-c-%02d", i))); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("Publish: %v", err)
	}
	seen := map[string]bool{}
	for len(seen) < n {
		seen[r.Next(t, o.Timeout).Event.ID] = true
	}
	t.Logf("%d concurrent events published and received in %v", n, time.Since(start).Round(time.Millisecond))
}

func testMissingSubscription(t *testing.T, b ports.Broker, o Options) {
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	err := b.Receive(ctx, Spec(t).Name, func(context.Context, ports.Delivery) error { return nil })
	if !errs.Is(errs.NotFound, err) {
		t.Errorf("Receive on a missing subscription = %v, want errs.NotFound", err)
	}
}
