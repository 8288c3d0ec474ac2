package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// dashState is the part of GET /dev/api/state the test reads.
type dashState struct {
	Functions map[string]json.RawMessage
	Requests  []struct {
		Route, Function, TraceID, RequestID string
		Status                              int
	}
	Events []struct {
		Subscription, Topic, EventID, EventType, Outcome, TraceID string
		Attempt, Status                                           int
	}
	DeadLetters []struct {
		Subscription string
		Waiting      int
		Events       []struct{ EventID string }
	}
}

func (c client) dashboard() dashState {
	c.t.Helper()
	s, b, h := c.do("GET", "/dev/api/state", "", nil)
	var st dashState
	if s != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || json.Unmarshal(b, &st) != nil {
		c.t.Fatalf("state: %d %.300s", s, b)
	}
	return st
}

// awaitDashboard polls the state until ok holds.
func (c client) awaitDashboard(what string, timeout time.Duration, ok func(dashState) bool) dashState {
	c.t.Helper()
	for end := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		st := c.dashboard()
		if ok(st) {
			return st
		}
		if time.Now().After(end) {
			c.t.Fatalf("dashboard: %s not shown within %s", what, timeout)
		}
	}
}

// TestDeveloperDashboard runs the dashboard on the stack: its tokens work
// against the API; an upload shows as a request (route, 201, trace and
// request id) and its scan-received event as a 2xx delivery to Design in
// the upload's trace (the trace holding the delivery's consumer span); a
// poison event shows as dead-lettered and the replay button's route
// replays it; the page is served under a CSP.
func TestDeveloperDashboard(t *testing.T) {
	st := start(t, "127.0.0.1:0", t.TempDir())
	defer st.Shutdown()
	c := client{base: st.URL, t: t}

	s, b, _ := c.do("GET", "/dev/tokens", "", nil)
	var toks struct {
		Clinics map[string]string
		Lab     string
	}
	if s != 200 || json.Unmarshal(b, &toks) != nil || toks.Clinics["demo-north"] == "" || toks.Clinics["demo-south"] == "" || toks.Lab == "" {
		t.Fatalf("tokens: %d %s", s, b)
	}
	if s, b, _ := c.do("GET", "/v1/lab/jobs", toks.Lab, nil); s != 200 {
		t.Fatalf("lab token: %d %s", s, b)
	}

	north := toks.Clinics["demo-north"]
	pid := c.createPatient(north)
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	s, b, h := c.do("POST", "/v1/patients/"+pid+"/scans?eye=OD&lensType=rgp&rx=-2.5&hvid=11.8", north, sample,
		"Content-Type", "text/csv", "Idempotency-Key", "dash-1")
	if s != 201 {
		t.Fatalf("upload: %d %s", s, b)
	}
	reqID := h.Get("X-Request-Id")
	var sc struct{ ID string }
	_ = json.Unmarshal(b, &sc)
	c.waitDesigned(north, sc.ID, 30*time.Second)

	design, _ := platform.Lookup("Design")
	spec := platform.Subscriptions(design)[0]
	state := c.awaitDashboard("the scan-received delivery to Design", 30*time.Second, func(d dashState) bool {
		for _, e := range d.Events {
			if e.Subscription == spec.Name && e.EventType == scans.TypeScanReceived && e.Status >= 200 && e.Status < 300 && e.Outcome == "ok" {
				return true
			}
		}
		return false
	})
	if _, ok := state.Functions["Design"]; !ok {
		t.Fatalf("functions %v lack Design", state.Functions)
	}
	found, uploadTrace := false, ""
	for _, r := range state.Requests {
		if strings.Contains(r.Route, "?") || strings.Contains(r.Route, pid) {
			t.Fatalf("a recorded route holds a URL: %q", r.Route)
		}
		if r.RequestID == reqID {
			found = true
			if r.Route != "POST /v1/patients/{patientId}/scans" || r.Function != "Scans" || r.Status != 201 ||
				len(r.TraceID) != 32 || r.TraceID[:16] != reqID[:16] {
				t.Fatalf("upload recorded as %+v", r)
			}
			uploadTrace = r.TraceID
		}
		if strings.HasPrefix(r.Route, "GET /dev/") {
			t.Fatalf("the dashboard's own request is listed: %+v", r)
		}
	}
	if !found {
		t.Fatalf("upload (request id %q) not among %d requests", reqID, len(state.Requests))
	}
	for _, e := range state.Events {
		if e.Subscription == spec.Name && e.EventType == scans.TypeScanReceived && e.Outcome == "ok" && e.TraceID != uploadTrace {
			t.Errorf("the Design delivery %s is shown in trace %q, want the upload's trace %s", e.EventID, e.TraceID, uploadTrace)
		}
	}

	poison := ports.Event{ID: "poison-dashboard", Type: scans.TypeScanReceived, Source: scans.EventSource, Subject: "scans/x",
		Time: time.Now().UTC(), Data: json.RawMessage(`{"note":"no scan id"}`)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := st.Local.Broker.Publish(ctx, spec.Topic, poison); err != nil {
		t.Fatal(err)
	}
	c.awaitDashboard("the poison event dead-lettered", 60*time.Second, func(d dashState) bool {
		dead := false
		for _, e := range d.Events {
			dead = dead || (e.EventID == poison.ID && e.Outcome == "dead-lettered" && e.Attempt == spec.MaxDeliveryAttempts)
		}
		for _, dl := range d.DeadLetters {
			if dl.Subscription == spec.Name && dl.Waiting >= 1 && len(dl.Events) >= 1 && dl.Events[0].EventID == poison.ID {
				return dead
			}
		}
		return false
	})
	if s, b, _ := c.do("POST", "/dev/api/dead-letters/replay", "", nil, localstack.DevHeader, "1", "Origin", "http://evil.example"); s != 403 {
		t.Fatalf("cross-origin replay: %d %s", s, b)
	}
	if s, b, _ := c.do("POST", "/dev/api/dead-letters/replay", "", nil, "Origin", st.URL); s != 403 || !strings.Contains(string(b), localstack.DevHeader) {
		t.Fatalf("replay without %s: %d %s", localstack.DevHeader, s, b)
	}
	var replayed struct{ Replayed int }
	for replayed.Replayed < 1 { // the dead letter may still be on its way to the dead-letter subscription
		s, b, _ := c.do("POST", "/dev/api/dead-letters/replay", "", nil, localstack.DevHeader, "1", "Origin", st.URL)
		if s != 200 || json.Unmarshal(b, &replayed) != nil {
			t.Fatalf("replay: %d %s", s, b)
		}
		if ctx.Err() != nil {
			t.Fatal("nothing replayed")
		}
	}

	s, b, h = c.do("GET", "/dev/", "", nil)
	if s != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") ||
		!strings.Contains(string(b), "/dev/static/dashboard.js") {
		t.Fatalf("page: %d %v %.200s", s, h, b)
	}
}
