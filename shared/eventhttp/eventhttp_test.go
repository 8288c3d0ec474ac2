package eventhttp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents"
	"github.com/lensflow/lensflow/shared/adapters/pubsublocal"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/eventstest"
)

func init() { slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func sampleDelivery() ports.Delivery {
	return ports.Delivery{
		Event:        eventstest.SampleEvent("evt-1"),
		MessageID:    "1234567890",
		Subscription: "scan-received-designer",
		Attempt:      3,
		PublishTime:  time.Date(2026, 3, 4, 5, 6, 8, 500000000, time.UTC),
	}
}

// capture returns a Handler that records the CloudEvent it got.
func capture(t *testing.T) (http.Handler, func() cloudevents.Event) {
	var mu sync.Mutex
	var got *cloudevents.Event
	h := eventhttp.Handler(func(_ context.Context, e cloudevents.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = &e
		return nil
	})
	return h, func() cloudevents.Event {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if got == nil {
			t.Fatal("function not called")
		}
		return *got
	}
}

func sameDelivery(t *testing.T, got, want ports.Delivery) {
	t.Helper()
	if err := eventstest.SameEvent(got.Event, want.Event); err != nil {
		t.Error(err)
	}
	if got.MessageID != want.MessageID || got.Subscription != want.Subscription || got.Attempt != want.Attempt || !got.PublishTime.Equal(want.PublishTime) {
		t.Errorf("delivery = %+v\nwant %+v", got, want)
	}
}

func TestEventarcRoundTrip(t *testing.T) {
	d := sampleDelivery()
	req, err := eventhttp.NewPushRequest(context.Background(), "http://svc.local/", d, "proj", "scan-received")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Ce-Specversion": "1.0", "Ce-Id": d.MessageID, "Ce-Type": eventhttp.MessagePublished,
		"Ce-Source": "//pubsub.googleapis.com/projects/proj/topics/scan-received",
		"Ce-Time":   "2026-03-04T05:06:08.5Z", "Content-Type": "application/json",
	} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	var raw struct {
		Subscription    string
		DeliveryAttempt int
		Message         struct {
			Data        string
			Attributes  map[string]string
			MessageID   string
			PublishTime string
		}
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Subscription != "projects/proj/subscriptions/scan-received-designer" || raw.DeliveryAttempt != 3 ||
		raw.Message.MessageID != d.MessageID || raw.Message.Attributes["ce-id"] != "evt-1" ||
		raw.Message.Data != base64.StdEncoding.EncodeToString(d.Event.Data) {
		t.Errorf("body = %s", body)
	}

	h, got := capture(t)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204; body %s", rec.Code, rec.Body)
	}
	e := got()
	if e.ID() != d.MessageID || e.Type() != eventhttp.MessagePublished {
		t.Errorf("CloudEvent id/type = %s/%s", e.ID(), e.Type())
	}
	back, err := eventhttp.Unwrap(e)
	if err != nil {
		t.Fatal(err)
	}
	sameDelivery(t, back, d)
}

func TestRawPushEnvelope(t *testing.T) {
	d := sampleDelivery()
	tests := []struct {
		name, url, wantSource string
	}{
		{"topic in path", "http://svc.local/projects/proj/topics/scan-received?x=1", "//pubsub.googleapis.com/projects/proj/topics/scan-received"},
		{"no topic in path", "http://svc.local/", "//pubsub.googleapis.com/projects/proj/subscriptions/scan-received-designer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := eventhttp.NewRawPushRequest(context.Background(), tc.url, d, "proj")
			if err != nil {
				t.Fatal(err)
			}
			if req.Header.Get("Ce-Id") != "" {
				t.Fatal("raw push request carries CloudEvent headers")
			}
			h, got := capture(t)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNoContent {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			e := got()
			if e.Source() != tc.wantSource || e.Type() != eventhttp.MessagePublished || e.ID() != d.MessageID || !e.Time().Equal(d.PublishTime) {
				t.Errorf("CloudEvent = %s", e)
			}
			back, err := eventhttp.Unwrap(e)
			if err != nil {
				t.Fatal(err)
			}
			sameDelivery(t, back, d)
		})
	}
}

func TestStructuredCloudEvent(t *testing.T) {
	env, err := eventhttp.NewEnvelope(sampleDelivery(), "proj")
	if err != nil {
		t.Fatal(err)
	}
	ce := map[string]any{
		"specversion": "1.0", "id": "m-1", "type": eventhttp.MessagePublished,
		"source": "//pubsub.googleapis.com/projects/proj/topics/t", "datacontenttype": "application/json", "data": env,
	}
	body, _ := json.Marshal(ce)
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	h, got := capture(t)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
	}
	if d, err := eventhttp.Unwrap(got()); err != nil || d.Event.ID != "evt-1" {
		t.Errorf("Unwrap = %+v, %v", d, err)
	}
}

func TestHandlerStatuses(t *testing.T) {
	good, err := eventhttp.NewEnvelope(sampleDelivery(), "proj")
	if err != nil {
		t.Fatal(err)
	}
	goodBody, _ := json.Marshal(good)
	tests := []struct {
		name   string
		method string
		body   []byte
		fnErr  error
		panics bool
		want   int
	}{
		{"success", http.MethodPost, goodBody, nil, false, http.StatusNoContent},
		{"transient error", http.MethodPost, goodBody, errs.Ef("t", errs.Unavailable, "down"), false, http.StatusInternalServerError},
		{"permanent error still nacks", http.MethodPost, goodBody, errs.Ef("t", errs.Invalid, "bad"), false, http.StatusInternalServerError},
		{"panic", http.MethodPost, goodBody, nil, true, http.StatusInternalServerError},
		{"not json", http.MethodPost, []byte("hello"), nil, false, http.StatusBadRequest},
		{"no message id", http.MethodPost, []byte(`{"message":{"data":"e30="}}`), nil, false, http.StatusBadRequest},
		{"too large", http.MethodPost, bytes.Repeat([]byte(" "), eventhttp.MaxBodyBytes+1), nil, false, http.StatusRequestEntityTooLarge},
		{"GET", http.MethodGet, nil, nil, false, http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var called bool
			h := eventhttp.Handler(func(context.Context, cloudevents.Event) error {
				called = true
				if tc.panics {
					panic("boom")
				}
				return tc.fnErr
			})
			req := httptest.NewRequest(tc.method, "/projects/p/topics/t", bytes.NewReader(tc.body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
				t.Errorf("error content type = %q", rec.Header().Get("Content-Type"))
			}
			if tc.want == http.StatusInternalServerError && strings.Contains(rec.Body.String(), "bad") {
				t.Errorf("error text leaked into the response: %s", rec.Body)
			}
			if wantCall := tc.want == 204 || tc.want == 500; called != wantCall {
				t.Errorf("function called = %v, want %v", called, wantCall)
			}
		})
	}
}

func TestUnwrapErrors(t *testing.T) {
	mk := func(typ string, data any) cloudevents.Event {
		e := cloudevents.NewEvent()
		e.SetID("m")
		e.SetSource("//pubsub.googleapis.com/projects/p/topics/t")
		e.SetType(typ)
		if err := e.SetData("application/json", data); err != nil {
			t.Fatal(err)
		}
		return e
	}
	noID := eventhttp.Envelope{Message: eventhttp.Message{MessageID: "m", Attributes: map[string]string{"ce-type": "t", "ce-source": "/s"}}}
	tests := []struct {
		name  string
		e     cloudevents.Event
		field string
	}{
		{"wrong type", mk("com.example.other", map[string]any{}), "type"},
		{"data not an envelope", mk(eventhttp.MessagePublished, []int{1, 2}), "data"},
		{"message without ce-id", mk(eventhttp.MessagePublished, noID), "ce-id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eventhttp.Unwrap(tc.e)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field {
				t.Errorf("Unwrap = %v (field %q), want errs.Invalid on %q", err, errs.FieldOf(err), tc.field)
			}
		})
	}
}

func TestAcked(t *testing.T) {
	for status, want := range map[int]bool{102: true, 200: true, 201: true, 202: true, 204: true, 203: false, 301: false, 400: false, 429: false, 500: false, 503: false} {
		if got := eventhttp.Acked(status); got != want {
			t.Errorf("Acked(%d) = %v, want %v", status, got, want)
		}
	}
}

func openLocal(t *testing.T) *pubsublocal.Local {
	t.Helper()
	l, err := pubsublocal.Open(context.Background(), filepath.Join(t.TempDir(), "j.db"),
		pubsublocal.WithNackDelay(pubsublocal.ExponentialDelay(5*time.Millisecond, 50*time.Millisecond)),
		pubsublocal.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

type result struct {
	d      ports.Delivery
	status int
	err    error
}

// startPush runs Push in the background and returns its results.
func startPush(t *testing.T, l *pubsublocal.Local, s ports.SubscriptionSpec, h http.Handler, raw bool) <-chan result {
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan result, 100)
	done := make(chan error, 1)
	go func() {
		done <- eventhttp.Push(ctx, l, s, l.Project(), h, eventhttp.PushOptions{
			Raw:      raw,
			Token:    func(context.Context) (string, error) { return "tok-123", nil },
			OnResult: func(d ports.Delivery, status int, err error) { results <- result{d, status, err} },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Push: %v", err)
		}
	})
	return results
}

func TestPushRetriesUntilSuccess(t *testing.T) {
	for _, raw := range []bool{false, true} {
		name := map[bool]string{false: "eventarc", true: "raw push"}[raw]
		t.Run(name, func(t *testing.T) {
			l := openLocal(t)
			s := eventstest.Spec(t)
			eventstest.Ensure(t, l, s)
			e := eventstest.SampleEvent("evt-push")
			var calls atomic.Int32
			var mu sync.Mutex
			var handled []ports.Delivery
			fn := func(_ context.Context, ce cloudevents.Event) error {
				if calls.Add(1) <= 2 {
					return errs.Ef("test", errs.Unavailable, "not yet")
				}
				d, err := eventhttp.Unwrap(ce)
				if err != nil {
					return err
				}
				mu.Lock()
				handled = append(handled, d)
				mu.Unlock()
				return nil
			}
			var auth atomic.Value
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth.Store(r.Header.Get("Authorization"))
				eventhttp.Handler(fn).ServeHTTP(w, r)
			})
			results := startPush(t, l, s, h, raw)
			eventstest.Publish(t, l, s.Topic, e)
			var statuses []int
			for len(statuses) < 3 {
				select {
				case r := <-results:
					if r.err != nil {
						t.Fatal(r.err)
					}
					statuses = append(statuses, r.status)
				case <-time.After(10 * time.Second):
					t.Fatalf("statuses so far %v", statuses)
				}
			}
			if want := []int{500, 500, 204}; !slices.Equal(statuses, want) {
				t.Errorf("statuses = %v, want %v", statuses, want)
			}
			select {
			case r := <-results:
				t.Errorf("unexpected further delivery: %+v", r)
			case <-time.After(500 * time.Millisecond):
			}
			mu.Lock()
			defer mu.Unlock()
			if len(handled) != 1 {
				t.Fatalf("handled %d times, want 1", len(handled))
			}
			if handled[0].Attempt != 3 {
				t.Errorf("Attempt = %d, want 3", handled[0].Attempt)
			}
			if err := eventstest.SameEvent(handled[0].Event, e); err != nil {
				t.Error(err)
			}
			if got := auth.Load(); got != "Bearer tok-123" {
				t.Errorf("Authorization = %v", got)
			}
		})
	}
}

func TestPushAlwaysFailingIsDeadLettered(t *testing.T) {
	l := openLocal(t)
	s := eventstest.Spec(t)
	eventstest.Ensure(t, l, s)
	e := eventstest.SampleEvent("evt-doomed")
	h := eventhttp.Handler(func(context.Context, cloudevents.Event) error {
		return errs.Ef("test", errs.Invalid, "never")
	})
	results := startPush(t, l, s, h, false)
	dead := eventstest.Receive(t, l, pubsubevents.DeadLetterSubscription(s), nil)
	eventstest.Publish(t, l, s.Topic, e)
	d := dead.Next(t, 15*time.Second)
	if err := eventstest.SameEvent(d.Event, e); err != nil {
		t.Error(err)
	}
	attempts := 0
	for len(results) > 0 {
		r := <-results
		if r.status != 500 {
			t.Errorf("status %d, want 500", r.status)
		}
		attempts++
	}
	if attempts != eventstest.MaxDeliveryAttempts {
		t.Errorf("%d push attempts, want %d", attempts, eventstest.MaxDeliveryAttempts)
	}
}

func TestPushToURL(t *testing.T) {
	l := openLocal(t)
	s := eventstest.Spec(t)
	eventstest.Ensure(t, l, s)
	h, got := capture(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	results := startPush(t, l, s, eventhttp.URLHandler(srv.URL, srv.Client()), false)
	eventstest.Publish(t, l, s.Topic, eventstest.SampleEvent("evt-url"))
	select {
	case r := <-results:
		if r.status != 204 || r.err != nil {
			t.Fatalf("result %d %v", r.status, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no push")
	}
	if d, err := eventhttp.Unwrap(got()); err != nil || d.Event.ID != "evt-url" {
		t.Errorf("Unwrap = %+v, %v", d, err)
	}
}

func TestPushTokenErrorNacks(t *testing.T) {
	l := openLocal(t)
	s := eventstest.Spec(t)
	eventstest.Ensure(t, l, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan result, 10)
	var fail atomic.Bool
	fail.Store(true)
	go eventhttp.Push(ctx, l, s, l.Project(), eventhttp.Handler(func(context.Context, cloudevents.Event) error { return nil }), eventhttp.PushOptions{
		Token: func(context.Context) (string, error) {
			if fail.Swap(false) {
				return "", errors.New("metadata server down")
			}
			return "t", nil
		},
		OnResult: func(d ports.Delivery, status int, err error) { results <- result{d, status, err} },
	})
	eventstest.Publish(t, l, s.Topic, eventstest.SampleEvent("evt-tok"))
	first, second := <-results, <-results
	if first.err == nil || first.status != 0 {
		t.Errorf("first = %d %v, want a token error", first.status, first.err)
	}
	if second.err != nil || second.status != 204 || second.d.Attempt != 2 {
		t.Errorf("second = %d %v attempt %d, want 204 on attempt 2", second.status, second.err, second.d.Attempt)
	}
}
