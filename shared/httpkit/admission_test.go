package httpkit_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/httpkit"
)

// admitServer serves a route as the platform builds it, with a in front:
// the handler reads the body, then waits on hold (if set) before 204.
func admitServer(t *testing.T, a *httpkit.Admission, hold chan struct{}) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := httpkit.ReadBody(w, r, 1<<20); err != nil {
			httpkit.Error(w, r, err)
			return
		}
		if hold != nil {
			<-hold
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(httpkit.Authenticate(rlPrincipals, []auth.Role{auth.RolePractitioner}, a.Wrap(h)))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, token string, body []byte) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestClinicShareOfRequestsInFlight: a clinic with its share of requests in
// flight gets 429 with Retry-After; another clinic is still served.
func TestClinicShareOfRequestsInFlight(t *testing.T) {
	hold := make(chan struct{})
	a := &httpkit.Admission{Slots: &admission.Pool{Capacity: 8, PerKey: 2}}
	srv := admitServer(t, a, hold)
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c, _, _ := post(t, srv.URL, "north-1", []byte("{}")); codes <- c }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for n, _ := a.Slots.InUse("clinic:north"); n < 2 && time.Now().Before(deadline); n, _ = a.Slots.InUse("clinic:north") {
		time.Sleep(5 * time.Millisecond)
	}
	code, body, hdr := post(t, srv.URL, "north-2", []byte("{}")) // same clinic, another practitioner
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || !strings.Contains(body, "in flight") {
		t.Fatalf("third request of a clinic holding its share: %d %s (Retry-After %q)", code, body, hdr.Get("Retry-After"))
	}
	go func() { time.Sleep(100 * time.Millisecond); close(hold) }()
	if code, body, _ := post(t, srv.URL, "south-1", []byte("{}")); code != http.StatusNoContent {
		t.Fatalf("another clinic: %d %s", code, body)
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusNoContent {
			t.Fatalf("a held request ended %d", c)
		}
	}
}

// TestMemoryBudgetIs503: a body whose working memory the budget (or the
// clinic's share of it) cannot hold now is 503 with Retry-After, and
// nothing is read; once the memory is free it is served.
func TestMemoryBudgetIs503(t *testing.T) {
	hold := make(chan struct{})
	a := &httpkit.Admission{Memory: &admission.Pool{Capacity: 4000, PerKey: 3000}, MaxBody: 1 << 20, BodyMemory: 2}
	srv := admitServer(t, a, hold)
	done := make(chan int)
	go func() { c, _, _ := post(t, srv.URL, "north-1", make([]byte, 1400)); done <- c }() // charges 2800
	deadline := time.Now().Add(5 * time.Second)
	for n, _ := a.Memory.InUse(""); n == 0 && time.Now().Before(deadline); n, _ = a.Memory.InUse("") {
		time.Sleep(5 * time.Millisecond)
	}
	code, body, hdr := post(t, srv.URL, "north-2", make([]byte, 200)) // 400 more: beyond north's 3000
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(body, "share") {
		t.Fatalf("beyond the clinic's share: %d %s", code, body)
	}
	code, body, _ = post(t, srv.URL, "south-1", make([]byte, 700)) // 1400 more: beyond the 4000 in all
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "memory for request bodies is in use") {
		t.Fatalf("beyond the budget: %d %s", code, body)
	}
	close(hold)
	if c := <-done; c != http.StatusNoContent {
		t.Fatalf("the admitted request ended %d", c)
	}
	if code, body, _ := post(t, srv.URL, "south-1", make([]byte, 700)); code != http.StatusNoContent {
		t.Fatalf("after the memory was released: %d %s", code, body)
	}
	if n, _ := a.Memory.InUse(""); n != 0 {
		t.Fatalf("%d bytes still charged after every request ended", n)
	}
}

// TestMinimumBodyRateIs408: after the grace period a body arriving slower
// than the minimum rate is cut with 408, long before the whole-body
// timeout; a body arriving faster is read whole.
func TestMinimumBodyRateIs408(t *testing.T) {
	a := &httpkit.Admission{Rate: httpkit.BodyRate{Grace: 300 * time.Millisecond, MinRate: 2000}}
	srv := admitServer(t, a, nil)
	trickle := func(size int, every time.Duration, chunk int) (int, string, time.Duration) {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		start := time.Now()
		fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer north-1\r\nContent-Length: %d\r\n\r\n", size)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for sent := 0; sent < size; sent += chunk {
				select {
				case <-stop:
					return
				case <-time.After(every):
				}
				if _, err := conn.Write(bytes.Repeat([]byte("x"), min(chunk, size-sent))); err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}
	// 10 bytes every 50 ms is 200 bytes/s: a tenth of the minimum.
	code, body, took := trickle(100000, 50*time.Millisecond, 10)
	if code != http.StatusRequestTimeout || !strings.Contains(body, "bytes/s") {
		t.Fatalf("trickled body: %d %s", code, body)
	}
	if took > 5*time.Second {
		t.Fatalf("trickled body cut after %v: the rate was not enforced", took)
	}
	// 400 bytes every 50 ms is 8000 bytes/s: above it, read whole.
	if code, body, _ := trickle(8000, 50*time.Millisecond, 400); code != http.StatusNoContent {
		t.Fatalf("body at four times the minimum rate: %d %s", code, body)
	}
}
