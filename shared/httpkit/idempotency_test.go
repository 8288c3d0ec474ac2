package httpkit_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/httpkit"
)

func idemServer(t *testing.T, h http.Handler) (*httpkit.Idempotency, http.Handler) {
	t.Helper()
	docs, err := boltdocs.Open(filepath.Join(t.TempDir(), "docs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docs.Close() })
	i := &httpkit.Idempotency{Docs: docs, MaxBody: 1 << 20}
	wrapped := i.Wrap(h)
	return i, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clinic := r.Header.Get("X-Test-Clinic")
		r = r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Subject: "s-" + clinic, ClinicID: clinic, Role: auth.RolePractitioner}))
		wrapped.ServeHTTP(w, r)
	})
}

func do(h http.Handler, clinic, key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/v1/things?x=1", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Test-Clinic", clinic)
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestIdempotencyReplayMismatchAndScope(t *testing.T) {
	var calls atomic.Int32
	_, h := idemServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Location", "/v1/things/1")
		httpkit.JSON(w, http.StatusCreated, map[string]any{"call": n, "echo": string(b)})
	}))
	first := do(h, "north", "k1", `{"a":1}`)
	if first.Code != 201 {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	replay := do(h, "north", "k1", `{"a":1}`)
	if replay.Code != 201 || replay.Body.String() != first.Body.String() || replay.Header().Get("Idempotent-Replayed") != "true" ||
		replay.Header().Get("Location") != "/v1/things/1" {
		t.Fatalf("replay: %d %q %v", replay.Code, replay.Body, replay.Header())
	}
	if calls.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", calls.Load())
	}
	if mismatch := do(h, "north", "k1", `{"a":2}`); mismatch.Code != 422 {
		t.Fatalf("different body with the same key: %d, want 422", mismatch.Code)
	}
	if other := do(h, "south", "k1", `{"a":1}`); other.Code != 201 || calls.Load() != 2 {
		t.Fatalf("another clinic's identical key must not replay: %d, calls %d", other.Code, calls.Load())
	}
	if none := do(h, "north", "", `{"a":1}`); none.Code != 201 || calls.Load() != 3 {
		t.Fatalf("no key: %d, calls %d", none.Code, calls.Load())
	}
}

func TestIdempotencyConcurrentDuplicateIs409(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	_, h := idemServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		httpkit.JSON(w, http.StatusCreated, map[string]string{"ok": "yes"})
	}))
	var wg sync.WaitGroup
	var first *httptest.ResponseRecorder
	wg.Add(1)
	go func() { defer wg.Done(); first = do(h, "north", "k", `{}`) }()
	<-entered
	dup := do(h, "north", "k", `{}`)
	close(release)
	wg.Wait()
	if dup.Code != http.StatusConflict {
		t.Fatalf("concurrent duplicate: %d, want 409", dup.Code)
	}
	if first.Code != 201 {
		t.Fatalf("first: %d", first.Code)
	}
}

func TestIdempotencyForgetsServerErrorsAndTakesOverStaleClaims(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	_, h := idemServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "boom", http.StatusServiceUnavailable)
			return
		}
		httpkit.JSON(w, http.StatusCreated, map[string]string{"ok": "yes"})
	}))
	if rec := do(h, "north", "k", `{}`); rec.Code != 503 {
		t.Fatalf("first: %d", rec.Code)
	}
	fail.Store(false)
	if rec := do(h, "north", "k", `{}`); rec.Code != 201 {
		t.Fatalf("retry after a server error must run again: %d", rec.Code)
	}

}

func TestIdempotencyStaleClaimIsTakenOver(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	var calls atomic.Int32
	hang := make(chan struct{})
	defer close(hang)
	i, h := idemServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-hang // the first attempt never finishes, as if its instance died
			return
		}
		httpkit.JSON(w, http.StatusCreated, map[string]string{"ok": "yes"})
	}))
	i.Now = func() time.Time { return time.Unix(0, now.Load()) }
	go do(h, "north", "k", `{}`)
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if rec := do(h, "north", "k", `{}`); rec.Code != 409 {
		t.Fatalf("while the first is in flight: %d, want 409", rec.Code)
	}
	now.Add(int64(2 * time.Minute))
	if rec := do(h, "north", "k", `{}`); rec.Code != 201 {
		t.Fatalf("after the claim went stale: %d, want 201", rec.Code)
	}
}

func TestIdempotencyPanicReleasesClaim(t *testing.T) {
	var calls atomic.Int32
	_, h := idemServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		httpkit.JSON(w, http.StatusCreated, map[string]string{"ok": "yes"})
	}))
	srv := httpkit.Serve(slog.New(slog.DiscardHandler), "test", h)
	if rec := do(srv, "north", "k", `{}`); rec.Code != 500 {
		t.Fatalf("panic: %d", rec.Code)
	}
	if rec := do(srv, "north", "k", `{}`); rec.Code != 201 {
		t.Fatalf("retry after a panic: %d, want 201", rec.Code)
	}
}

// An Idempotency-Key header that is there but empty or blank, or given
// twice, is 400 naming the header and the handler never runs: a client
// that meant to send a key must not have its retries create twice.
func TestIdempotencyEmptyOrRepeatedKeyIs400(t *testing.T) {
	var calls atomic.Int32
	_, h := idemServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		httpkit.JSON(w, http.StatusCreated, map[string]any{})
	}))
	for _, tc := range []struct {
		name   string
		values []string
		detail string
	}{
		{"empty", []string{""}, "Idempotency-Key: is empty"},
		{"blank", []string{"  \t "}, "Idempotency-Key: is empty"},
		{"twice", []string{"k1", "k2"}, "Idempotency-Key: must be given once"},
		{"twice the same", []string{"k1", "k1"}, "Idempotency-Key: must be given once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/things", strings.NewReader(`{"a":1}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header["Idempotency-Key"] = tc.values
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			var p httpkit.Problem
			if rec.Code != 400 || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Field != "Idempotency-Key" || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
	if calls.Load() != 0 {
		t.Fatalf("the handler ran %d times", calls.Load())
	}
	if rec := do(h, "north", "", `{"a":1}`); rec.Code != 201 || calls.Load() != 1 {
		t.Fatalf("no header at all: %d", rec.Code)
	}
}
