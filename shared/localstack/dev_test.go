package localstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/auth/devissuer"
	"github.com/lensflow/lensflow/shared/bootstrap/standins"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/ports"
)

// devMux is a mux with only the developer routes of a stack with its
// development issuer, as Start leaves them.
func devMux(t *testing.T) (*Stack, *http.ServeMux) {
	t.Helper()
	di, err := devissuer.Open(filepath.Join(t.TempDir(), "k.pem"), "http://127.0.0.1:8080/dev-issuer", devissuer.Audience)
	if err != nil {
		t.Fatal(err)
	}
	st := &Stack{Local: &standins.Local{DevIssuer: di}, dev: newDevBoard()}
	mux := http.NewServeMux()
	st.mountDev(mux, map[string]any{})
	return st, mux
}

// TestDevRoutesAnswerOnlyLoopback: the tokens (and every developer route)
// are refused with 403 problem+json unless the request comes from a
// loopback address and names a loopback host; a cross-origin replay is
// refused too.
func TestDevRoutesAnswerOnlyLoopback(t *testing.T) {
	_, mux := devMux(t)
	for _, tc := range []struct {
		name, method, path, remote, host, origin string
		want                                     int
	}{
		{"ipv4 loopback", "GET", "/dev/tokens", "127.0.0.1:50000", "127.0.0.1:8080", "", 200},
		{"ipv6 loopback", "GET", "/dev/tokens", "[::1]:50000", "[::1]:8080", "", 200},
		{"localhost name", "GET", "/dev/tokens", "127.0.0.1:50000", "localhost:8080", "", 200},
		{"another machine", "GET", "/dev/tokens", "192.0.2.7:50000", "127.0.0.1:8080", "", 403},
		{"private network", "GET", "/dev/tokens", "10.1.2.3:50000", "10.1.2.4:8080", "", 403},
		{"dns rebinding", "GET", "/dev/tokens", "127.0.0.1:50000", "evil.example:8080", "", 403},
		{"state from another machine", "GET", "/dev/api/state", "192.0.2.7:50000", "127.0.0.1:8080", "", 403},
		{"page from another machine", "GET", "/dev/", "192.0.2.7:50000", "127.0.0.1:8080", "", 403},
		{"replay from another origin", "POST", "/dev/api/dead-letters/replay", "127.0.0.1:50000", "127.0.0.1:8080", "http://evil.example", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://"+tc.host+tc.path, nil)
			req.RemoteAddr, req.Host = tc.remote, tc.host
			req.Header.Set(DevHeader, "1") // so that the refusals here are for the reason each case names
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want == 403 {
				var p httpkit.Problem
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Status != 403 || p.Detail == "" {
					t.Fatalf("not a problem: %s %s", ct, rec.Body)
				}
				if strings.Contains(rec.Body.String(), "eyJ") { // a JWT's header
					t.Fatalf("refusal carries a token: %s", rec.Body)
				}
				return
			}
			var got struct {
				Clinics map[string]string
				Lab     string
			}
			jwt := func(s string) bool { return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2 }
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !jwt(got.Clinics["demo-north"]) ||
				!jwt(got.Clinics["demo-south"]) || !jwt(got.Lab) || got.Clinics["demo-north"] == got.Clinics["demo-south"] {
				t.Fatalf("tokens: %v %s", err, rec.Body)
			}
		})
	}
}

// TestDevWritesNeedTheDevHeader: a state-changing developer request (any
// method but GET, HEAD and OPTIONS) is refused with 403 problem+json naming
// the header unless it carries X-Lensflow-Dev: 1 and no sign of another
// origin; a request shaped like a webhook delivery (only its fixed headers)
// is refused; reads need no header.
func TestDevWritesNeedTheDevHeader(t *testing.T) {
	h := devOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	webhook := []string{"Content-Type", "application/json", "User-Agent", "lensflow-webhooks/1", "Webhook-Id", "ntf_1",
		"Webhook-Timestamp", "1700000000", "Webhook-Signature", "v1,abc", "Accept-Encoding", "gzip"}
	for _, tc := range []struct {
		name, method string
		hdr          []string
		want         int
		detail       string
	}{
		{"post without the header", "POST", nil, 403, "X-Lensflow-Dev: 1"},
		{"a webhook delivery", "POST", webhook, 403, "X-Lensflow-Dev: 1"},
		{"put without the header", "PUT", nil, 403, "X-Lensflow-Dev"},
		{"delete without the header", "DELETE", nil, 403, "X-Lensflow-Dev"},
		{"patch without the header", "PATCH", nil, 403, "X-Lensflow-Dev"},
		{"another value", "POST", []string{DevHeader, "0"}, 403, "X-Lensflow-Dev"},
		{"the header", "POST", []string{DevHeader, "1"}, 204, ""},
		{"the dashboard's fetch", "POST", []string{DevHeader, "1", "Origin", "http://127.0.0.1:8080", "Sec-Fetch-Site", "same-origin"}, 204, ""},
		{"the header from another origin", "POST", []string{DevHeader, "1", "Origin", "http://evil.example"}, 403, "cross-origin"},
		{"the header from another site", "POST", []string{DevHeader, "1", "Sec-Fetch-Site", "cross-site"}, 403, "cross-origin"},
		{"a read", "GET", nil, 204, ""},
		{"a head", "HEAD", nil, 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:8080/dev/api/x", nil)
			req.RemoteAddr = "127.0.0.1:50000"
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want == 403 {
				var p httpkit.Problem
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil ||
					p.Status != 403 || !strings.Contains(p.Detail, tc.detail) {
					t.Fatalf("refusal %s %s, want a problem mentioning %q", ct, rec.Body, tc.detail)
				}
			}
		})
	}

	// The mounted replay route is refused before it runs (this stack has no
	// broker: running it would fail differently).
	_, mux := devMux(t)
	req := httptest.NewRequest("POST", "http://127.0.0.1:8080/dev/api/dead-letters/replay", strings.NewReader(`{}`))
	req.RemoteAddr = "127.0.0.1:50000"
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), DevHeader) {
		t.Fatalf("replay without the header: %d %s", rec.Code, rec.Body)
	}
}

// TestDashboardScriptSendsTheDevHeader: the dashboard's own script sends
// the header on its one state-changing request.
func TestDashboardScriptSendsTheDevHeader(t *testing.T) {
	js, err := devUI.ReadFile("devui/dashboard.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(js), "\n") {
		if strings.Contains(line, `method: "POST"`) && !strings.Contains(line, `"`+DevHeader+`": "1"`) {
			t.Errorf("a POST without the header: %s", strings.TrimSpace(line))
		}
	}
	if !strings.Contains(string(js), `"`+DevHeader+`": "1"`) {
		t.Fatal("the dashboard never sends the header")
	}
}

// TestDevPageIsServedWithCSP: the dashboard page and its script and style
// are embedded and served under a content security policy that allows
// nothing from elsewhere.
func TestDevPageIsServedWithCSP(t *testing.T) {
	_, mux := devMux(t)
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/dev/", "text/html", `src="/dev/static/dashboard.js"`},
		{"/dev/static/dashboard.js", "javascript", "/dev/api/state"},
		{"/dev/static/dashboard.css", "text/css", ".panel"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://127.0.0.1:8080"+tc.path, nil)
			req.RemoteAddr = "127.0.0.1:50000"
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), tc.contentType) || !strings.Contains(rec.Body.String(), tc.contains) {
				t.Fatalf("%d %q: %.200s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Fatalf("CSP %q lacks %q", csp, want)
				}
			}
		})
	}
}

// TestRecordRequests: each request is recorded with its route pattern
// (never the URL or its query), its function, status, trace id and request
// id; a request without a traceparent gets the trace it is recorded under;
// the dashboard's own requests are not recorded; only the last 500 are kept.
func TestRecordRequests(t *testing.T) {
	b := newDevBoard()
	b.functions["GET /v1/scans/{scanId}"] = "Scans"
	mux := http.NewServeMux()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	seen := map[string]string{} // trace the handler saw, by path
	mux.Handle("GET /v1/scans/{scanId}", httpkit.Serve(log, "Scans", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen[r.URL.Path] = r.Header.Get("traceparent")
		if r.PathValue("scanId") == "missing" {
			httpkit.Error(w, r, errs.Ef("scan", errs.NotFound, "no such scan"))
			return
		}
		httpkit.JSON(w, 200, map[string]string{"ok": "yes"})
	})))
	mux.HandleFunc("GET /dev/api/state", func(w http.ResponseWriter, r *http.Request) {})
	h := b.recordRequests(mux)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		name, path, traceparent string
		status                  int
	}{
		{"given trace", "/v1/scans/abc123?eye=OD", parent, 200},
		{"new trace", "/v1/scans/missing", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.traceparent != "" {
				req.Header.Set("traceparent", tc.traceparent)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := b.state(nil).Requests[0]
			if got.Route != "GET /v1/scans/{scanId}" || got.Function != "Scans" || got.Status != tc.status || got.Method != "GET" {
				t.Fatalf("recorded %+v", got)
			}
			if got.RequestID == "" || got.RequestID != rec.Header().Get("X-Request-Id") || got.TraceID[:16] != got.RequestID[:16] {
				t.Fatalf("request id %q (header %q), trace %q", got.RequestID, rec.Header().Get("X-Request-Id"), got.TraceID)
			}
			if tc.traceparent != "" && got.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Fatalf("trace %q, want the given one", got.TraceID)
			}
			if !strings.Contains(seen[req.URL.Path], got.TraceID) {
				t.Fatalf("the handler saw traceparent %q, recorded trace %q", seen[req.URL.Path], got.TraceID)
			}
		})
	}
	t.Run("dashboard not recorded", func(t *testing.T) {
		before := len(b.state(nil).Requests)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/dev/api/state", nil))
		if n := len(b.state(nil).Requests); n != before {
			t.Fatalf("%d requests recorded, want %d", n, before)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		for i := range devMaxRequests + 40 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/v1/scans/s%d", i), nil))
		}
		got := b.state(nil).Requests
		if len(got) != devMaxRequests || got[0].Time.Before(got[len(got)-1].Time) {
			t.Fatalf("%d requests kept, want %d newest first", len(got), devMaxRequests)
		}
	})
}

// TestDeliveredOutcomes: a delivery is ok when acked, a retry when it
// fails before the last attempt, and dead-lettered when the last attempt
// fails; dead letters are listed until a replay that began after them.
func TestDeliveredOutcomes(t *testing.T) {
	spec := ports.SubscriptionSpec{Name: "scan-received-to-design", Topic: "scan-received", DeadLetterTopic: "scan-received-to-design-dead-letter", MaxDeliveryAttempts: 5}
	for _, tc := range []struct {
		name    string
		attempt int
		status  int
		err     error
		want    string
	}{
		{"acked", 1, 200, nil, "ok"},
		{"no content", 2, 204, nil, "ok"},
		{"server error", 1, 500, nil, "retry"},
		{"transport error", 4, 0, errs.E("push", errs.Unavailable, errors.New("token")), "retry"},
		{"conflict on the last attempt", 5, 409, nil, "dead-lettered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newDevBoard()
			h := b.timed(spec.Name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Millisecond) }))
			req := httptest.NewRequest("POST", "/", nil)
			req.Header.Set("Ce-Id", "m1")
			h.ServeHTTP(httptest.NewRecorder(), req)
			d := ports.Delivery{Event: ports.Event{ID: "e1", Type: "lensflow.scan.received"}, MessageID: "m1", Attempt: tc.attempt}
			b.delivered("Design", spec, d, tc.status, tc.err)
			s := b.state(nil)
			if len(s.Events) != 1 || s.Events[0].Outcome != tc.want || s.Events[0].EventID != "e1" || s.Events[0].Topic != spec.Topic ||
				s.Events[0].Attempt != tc.attempt || s.Events[0].Status != tc.status || s.Events[0].LatencyMs <= 0 {
				t.Fatalf("events %+v", s.Events)
			}
			if len(b.timings) != 0 {
				t.Fatalf("timings kept: %v", b.timings)
			}
			waiting := 0
			if tc.want == "dead-lettered" {
				waiting = 1
			}
			if len(s.DeadLetters) != 1 || s.DeadLetters[0].Waiting != waiting || len(s.DeadLetters[0].Events) != waiting {
				t.Fatalf("dead letters %+v", s.DeadLetters)
			}
			b.replayed(time.Now().Add(time.Second))
			if dl := b.state(nil).DeadLetters[0]; dl.Waiting != 0 || len(dl.Events) != 0 {
				t.Fatalf("after a replay: %+v", dl)
			}
		})
	}
	t.Run("bounded per subscription", func(t *testing.T) {
		b := newDevBoard()
		for i := range devMaxDeliveries + 10 {
			b.delivered("Design", spec, ports.Delivery{Event: ports.Event{ID: fmt.Sprint(i)}, Attempt: 1}, 200, nil)
		}
		s := b.state(nil)
		if len(s.Events) != devMaxDeliveries || s.Events[0].EventID != fmt.Sprint(devMaxDeliveries+9) || s.Subscriptions[0].Delivered != devMaxDeliveries+10 {
			t.Fatalf("%d events, newest %q, delivered %d", len(s.Events), s.Events[0].EventID, s.Subscriptions[0].Delivered)
		}
	})
}

// A browser opening the stack's address lands on the portal; API clients
// (curl's */*, or asking for JSON) still get the JSON index.
func TestRootSendsBrowsersToThePortal(t *testing.T) {
	h := rootHandler([]string{"Scans"})
	for _, tc := range []struct {
		accept   string
		status   int
		location string
	}{
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", http.StatusSeeOther, "/portal/"},
		{"*/*", http.StatusOK, ""},
		{"", http.StatusOK, ""},
		{"application/json, text/html", http.StatusOK, ""},
		{"application/problem+json", http.StatusOK, ""},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Accept", tc.accept)
		h(rec, req)
		if rec.Code != tc.status || rec.Header().Get("Location") != tc.location {
			t.Errorf("Accept %q: %d, Location %q; want %d, %q", tc.accept, rec.Code, rec.Header().Get("Location"), tc.status, tc.location)
		}
		if tc.status == http.StatusOK && !strings.Contains(rec.Body.String(), `"functions":["Scans"]`) {
			t.Errorf("Accept %q: body %s, want the JSON index", tc.accept, rec.Body.String())
		}
	}
}
