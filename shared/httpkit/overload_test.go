package httpkit_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/lensflow/lensflow/shared/httpkit"
)

// TestInFlightLimitSheds: with Max requests in flight the next is answered
// 503 at once, with Retry-After and a problem body; once they finish,
// requests are served again.
func TestInFlightLimitSheds(t *testing.T) {
	const max = 3
	release := make(chan struct{})
	entered := make(chan struct{}, max)
	l := &httpkit.InFlightLimit{Max: max}
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	serve := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}

	var wg sync.WaitGroup
	codes := make([]int, max)
	for i := range max {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i] = serve("/slow").Code }()
	}
	for range max {
		<-entered
	}
	if l.InFlight() != max {
		t.Fatalf("in flight %d", l.InFlight())
	}
	for range 2 {
		rec := serve("/fast")
		var p httpkit.Problem
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" ||
			rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Status != 503 {
			t.Fatalf("at the limit: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
	}
	close(release)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusNoContent {
			t.Fatalf("in-flight request %d: %d", i, c)
		}
	}
	if l.InFlight() != 0 {
		t.Fatalf("in flight after: %d", l.InFlight())
	}
	if rec := serve("/fast"); rec.Code != http.StatusNoContent {
		t.Fatalf("after recovery: %d", rec.Code)
	}
}

// TestInFlightLimitReleasesOnPanic: a handler that panics gives back its slot.
func TestInFlightLimitReleasesOnPanic(t *testing.T) {
	l := &httpkit.InFlightLimit{Max: 1}
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if l.InFlight() != 0 {
		t.Fatalf("in flight after a panic: %d", l.InFlight())
	}
}

// TestInFlightLimitZeroIsUnlimited: Max 0 leaves the handler as it is.
func TestInFlightLimitZeroIsUnlimited(t *testing.T) {
	l := &httpkit.InFlightLimit{}
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 204 {
		t.Fatal(rec.Code)
	}
}
