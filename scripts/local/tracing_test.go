package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/scans"
	"github.com/lensflow/lensflow/shared/tracing"
)

// TestTracingUploadToNotification follows one scan from upload to the
// notifications of its job's dispatch and reads the spans the local stack
// kept (GET /dev/api/traces/{traceId}).
//
// Events continue the trace of the request or event that caused them (the
// traceparent CloudEvent extension), so the upload's trace holds the
// upload's server span and the Design delivery's consumer span, child of
// the upload span. Placing the order and moving the job are requests of
// their own: the client continues the upload's trace by sending the
// upload answer's Traceparent header with them (W3C trace context), and
// the events those requests cause continue it in turn: Manufacturing's
// span is a child of the order request's span, each Notifications span a
// child of the lab's status request span. Every log line of those
// requests and deliveries, access lines included, carries the trace id.
func TestTracingUploadToNotification(t *testing.T) {
	logs := &lockedBuffer{}
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: logs})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	north, lab := st.Tokens["demo-north"], st.LabToken

	pid := c.createPatient(north)
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	s, b, h := c.do("POST", "/v1/patients/"+pid+"/scans?eye=OD&lensType=orthok&rx=-3&hvid=11.8", north, sample)
	if s != 201 {
		t.Fatalf("upload %d %s", s, b)
	}
	up, ok := logging.ParseTraceparent(h.Get("Traceparent"))
	if !ok {
		t.Fatalf("upload answer without a valid Traceparent header: %q", h.Get("Traceparent"))
	}
	if h.Get("X-Request-Id") != up.TraceID[:16]+up.SpanID {
		t.Fatalf("X-Request-Id %q is not of the upload's span %s/%s", h.Get("X-Request-Id"), up.TraceID, up.SpanID)
	}
	requestIDs := map[string]bool{h.Get("X-Request-Id"): true}
	var sc struct{ ID string }
	_ = json.Unmarshal(b, &sc)
	v, _ := c.waitDesigned(north, sc.ID, 20*time.Second)
	designID, _ := v["designId"].(string)
	if designID == "" {
		t.Fatalf("designed scan without a design id: %v", v)
	}

	// Later steps continue the upload's trace.
	continued := func(method, path, token, body string) []byte {
		t.Helper()
		s, b, h := c.do(method, path, token, []byte(body), "Content-Type", "application/json", "traceparent", up.Traceparent())
		if s/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, s, b)
		}
		got, ok := logging.ParseTraceparent(h.Get("Traceparent"))
		if !ok || got.TraceID != up.TraceID || got.SpanID == up.SpanID {
			t.Fatalf("%s %s answered Traceparent %q, want a new span of trace %s", method, path, h.Get("Traceparent"), up.TraceID)
		}
		requestIDs[h.Get("X-Request-Id")] = true
		return b
	}
	var o orders.OrderView
	_ = json.Unmarshal(continued("POST", "/v1/orders", north, `{"designId":"`+designID+`","quantity":1}`), &o)
	job := awaitJob(t, c, lab, o.ID)
	for _, status := range []string{"cutting", "inspection", "dispatched"} {
		continued("POST", "/v1/lab/jobs/"+job+"/status", lab, `{"status":"`+status+`"}`)
	}

	handles := func(typ string) string { return "handle " + typ }
	want := map[string]int{ // span name -> how many the trace must hold
		"POST /v1/patients/{patientId}/scans": 1,
		handles(scans.TypeScanReceived):       1,
		"POST /v1/orders":                     1,
		handles(orders.TypeOrderPlaced):       1,
		"POST /v1/lab/jobs/{jobId}/status":    3,
		handles(orders.TypeJobStatusChanged):  3,
	}
	var spans []tracing.Span
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans = traceSpans(t, c, up.TraceID)
		if covers(spans, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !covers(spans, want) {
		t.Fatalf("trace %s holds %v, want at least %v", up.TraceID, names(spans), want)
	}

	byID := map[string]tracing.Span{}
	for _, sp := range spans {
		if sp.TraceID != up.TraceID {
			t.Fatalf("span %s of trace %s served for trace %s", sp.SpanID, sp.TraceID, up.TraceID)
		}
		byID[sp.SpanID] = sp
	}
	parentName := func(sp tracing.Span) string { return byID[sp.ParentSpanID].Name }
	for _, tc := range []struct {
		span, kind, parent string
	}{
		{handles(scans.TypeScanReceived), "consumer", "POST /v1/patients/{patientId}/scans"},
		{"POST /v1/orders", "server", ""}, // its parent is the upload span: checked below
		{handles(orders.TypeOrderPlaced), "consumer", "POST /v1/orders"},
		{"POST /v1/lab/jobs/{jobId}/status", "server", ""},
		{handles(orders.TypeJobStatusChanged), "consumer", "POST /v1/lab/jobs/{jobId}/status"},
	} {
		t.Run(tc.span, func(t *testing.T) {
			for _, sp := range spans {
				if sp.Name != tc.span {
					continue
				}
				if sp.Kind != tc.kind {
					t.Errorf("span %s is a %s span, want %s", sp.SpanID, sp.Kind, tc.kind)
				}
				if tc.parent != "" && parentName(sp) != tc.parent {
					t.Errorf("span %s has parent %q (%s), want a %q span", sp.SpanID, parentName(sp), sp.ParentSpanID, tc.parent)
				}
				if tc.parent == "" && sp.ParentSpanID != up.SpanID {
					t.Errorf("span %s has parent %s, want the upload's span %s", sp.SpanID, sp.ParentSpanID, up.SpanID)
				}
				// A delivery's consumer span links to the push request's
				// own server span, which began a trace of its own.
				if tc.kind == "consumer" && (len(sp.Links) != 1 || sp.Links[0].TraceID == up.TraceID) {
					t.Errorf("consumer span %s links %v, want one link to its push request's span", sp.SpanID, sp.Links)
				}
			}
		})
	}
	if sp, ok := byID[up.SpanID]; !ok || sp.Name != "POST /v1/patients/{patientId}/scans" || sp.Kind != "server" {
		t.Fatalf("the upload's span %s is %+v", up.SpanID, sp)
	}

	// Log lines: every line of these requests and of the consumers'
	// deliveries carries the trace, and each span logged its access line.
	project := "projects/" + localstack.Project + "/traces/"
	logged := map[string]bool{} // span ids of access lines in the trace
	for _, line := range bytes.Split(logs.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var l struct {
			Message   string `json:"message"`
			Function  string `json:"function"`
			RequestID string `json:"requestId"`
			Trace     string `json:"logging.googleapis.com/trace"`
			SpanID    string `json:"logging.googleapis.com/spanId"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		ours := requestIDs[l.RequestID] || l.Function == "Design" || l.Function == "Manufacturing" || l.Function == "Notifications"
		if !ours {
			continue
		}
		if l.Trace != project+up.TraceID {
			t.Errorf("log line of function %s carries trace %q, want %s%s: %s", l.Function, l.Trace, project, up.TraceID, line)
			continue
		}
		if l.Message == "request" {
			logged[l.SpanID] = true
		}
	}
	for _, sp := range spans {
		if (sp.Kind == "server" || sp.Kind == "consumer") && !logged[sp.SpanID] {
			t.Errorf("no access log line with span id %s (%s) in trace %s", sp.SpanID, sp.Name, up.TraceID)
		}
	}

	// The lab's metrics counted the same journey (the local stack keeps
	// them in memory: GET /dev/api/metrics).
	m := labMetrics(t, c)
	for _, w := range []struct {
		name  string
		match map[string]string
		want  int64
	}{
		{metrics.NameScansReceived, map[string]string{metrics.KeyLensType: "orthok"}, 1},
		{metrics.NameDesignsProduced, map[string]string{metrics.KeyLensType: "orthok"}, 1},
		{metrics.NameDesignLatency, map[string]string{metrics.KeyLensType: "orthok"}, 1},
		{metrics.NameDesignsFailed, nil, 0},
		{metrics.NameJobTransitions, map[string]string{metrics.KeyStatus: "queued"}, 1},
		{metrics.NameJobTransitions, map[string]string{metrics.KeyStatus: "cutting"}, 1},
		{metrics.NameJobTransitions, map[string]string{metrics.KeyStatus: "inspection"}, 1},
		{metrics.NameJobTransitions, map[string]string{metrics.KeyStatus: "dispatched"}, 1},
		{metrics.NameEventsFailed, nil, 0},
	} {
		if got := metrics.Total(m, w.name, w.match); got != w.want {
			t.Errorf("metric %s %v = %d, want %d", w.name, w.match, got, w.want)
		}
	}

	// An order placed without the upload's trace starts a trace of its
	// own, whose span links to the span that made the design (the design
	// record keeps its traceparent).
	var designSpan string
	for _, sp := range spans {
		if sp.Name == handles(scans.TypeScanReceived) {
			designSpan = sp.SpanID
		}
	}
	s, b, h = c.do("POST", "/v1/orders", north, []byte(`{"designId":"`+designID+`","quantity":1}`), "Content-Type", "application/json")
	if s != 201 {
		t.Fatalf("second order: %d %s", s, b)
	}
	own, ok := logging.ParseTraceparent(h.Get("Traceparent"))
	if !ok || own.TraceID == up.TraceID {
		t.Fatalf("an order placed without a traceparent answered %q", h.Get("Traceparent"))
	}
	linked := false
	for _, sp := range traceSpans(t, c, own.TraceID) {
		if sp.Name != "POST /v1/orders" {
			continue
		}
		for _, l := range sp.Links {
			linked = linked || (l.TraceID == up.TraceID && l.SpanID == designSpan)
		}
		if !linked {
			t.Errorf("order span links %v, want the design's span %s/%s", sp.Links, up.TraceID, designSpan)
		}
	}
	if !linked {
		t.Errorf("no order span in trace %s links to the design", own.TraceID)
	}
}

// labMetrics reads the stack's metrics from the developer API.
func labMetrics(t *testing.T, c client) []metrics.Series {
	t.Helper()
	s, b, _ := c.do("GET", "/dev/api/metrics", "", nil)
	if s != 200 {
		t.Fatalf("GET /dev/api/metrics: %d %s", s, b)
	}
	var out struct{ Metrics []metrics.Series }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("metrics answer %s: %v", b, err)
	}
	return out.Metrics
}

// awaitJob waits for the manufacturing job of order and returns its id.
func awaitJob(t *testing.T, c client, lab, order string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s, b, _ := c.do("GET", "/v1/lab/jobs?status=queued", lab, nil)
		if s != 200 {
			t.Fatalf("lab jobs: %d %s", s, b)
		}
		var list struct{ Jobs []orders.Job }
		_ = json.Unmarshal(b, &list)
		for _, j := range list.Jobs {
			if j.OrderID == order {
				return j.ID
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no job for order %s", order)
	return ""
}

// traceSpans reads the kept spans of trace id from the developer API.
func traceSpans(t *testing.T, c client, id string) []tracing.Span {
	t.Helper()
	s, b, _ := c.do("GET", "/dev/api/traces/"+id, "", nil)
	if s != 200 {
		t.Fatalf("GET /dev/api/traces/%s: %d %s", id, s, b)
	}
	var out struct {
		TraceID string
		Spans   []tracing.Span
	}
	if err := json.Unmarshal(b, &out); err != nil || out.TraceID != id {
		t.Fatalf("trace answer %s: %v", b, err)
	}
	return out.Spans
}

// covers reports whether spans hold at least want[name] spans of each name.
func covers(spans []tracing.Span, want map[string]int) bool {
	n := map[string]int{}
	for _, sp := range spans {
		n[sp.Name]++
	}
	for name, k := range want {
		if n[name] < k {
			return false
		}
	}
	return true
}

func names(spans []tracing.Span) string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.Name+"("+sp.Kind+")")
	}
	return strings.Join(out, ", ")
}
