package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// canaryAnswers are the routes whose answers to the owning clinic may carry
// the canary: they return the practitioner's own free text (order notes,
// assessment notes), decrypted, to the clinic that wrote it, and the
// clinic's patient list returns its own patients' names and birth dates to
// that clinic. The order's conversation is also the lab's (labAnswers): a
// practitioner's comment is written for lab staff to read. No other route
// returns a patient's name or birth date, and none a chart number or device
// serial.
var canaryAnswers = []string{
	"POST /v1/orders", "GET /v1/orders/{orderId}",
	"POST /v1/orders/{orderId}/assessments", "GET /v1/orders/{orderId}/assessments",
	"POST /v1/orders/{orderId}/comments", "GET /v1/orders/{orderId}/comments",
	"GET /v1/patients",
}

// labAnswers are the canaryAnswers lab staff may see too.
var labAnswers = []string{"GET /v1/orders/{orderId}/comments"}

// portalReads are the portal's read routes, each read by the owning clinic
// and by another one, so that their answers are searched too.
var portalReads = []struct{ route, target string }{
	{"GET /v1/patients", "/v1/patients"},
	{"GET /v1/patients/{patientId}/scans", "/v1/patients/{patient}/scans"},
	{"GET /v1/scans/{scanId}/map", "/v1/scans/{scan}/map"},
	{"GET /v1/orders", "/v1/orders"},
	{"GET /v1/follow-ups", "/v1/follow-ups"},
}

// logKeys are the top-level members a structured log line may have: every
// key the code logs, each reviewed to carry ids, statuses, counts, kinds,
// topic or route names and timings only (and every value is searched for
// the canary regardless). A new key fails TestPHICanary until it is
// reviewed and added here.
var logKeys = []string{
	// logging: Cloud Logging's structured fields.
	"time", "severity", "message",
	"logging.googleapis.com/trace", "logging.googleapis.com/spanId", "logging.googleapis.com/trace_sampled",
	// httpkit.Serve: the access line (route pattern, never the raw URL or
	// query) and panics (the panic value and the stack of function names).
	"function", "httpRequest", "requestId", "panic", "stack",
	// httpkit.Error on 5xx: the error's text and kind.
	"error", "kind",
	// platform.Consume, the local stack's delivery and schedulers, the
	// outbox relay: event ids and types, attempts, statuses, task paths,
	// subscription and topic names, counts.
	"eventId", "type", "attempt", "status", "subscription", "topic", "path", "published", "count",
	// eventhttp.Handler's failed delivery: the CloudEvent's id, type and
	// source (a topic name).
	"event_id", "event_type", "source",
	// pubsubevents: malformed messages (message id and the field at fault).
	"message_id", "problem",
	// platform.Serve in a deployed function: drain timeout and port.
	"timeout", "port",
	// smtpsink (local only): the stored file's name, size and recipient count.
	"file", "bytes", "recipients", "err",
}

// TestPHICanary uploads a patient named by the canary, with a scan whose
// vendor header carries the name, a birth date, a chart number and a
// device serial, and runs the whole flow: design, order (with notes),
// manufacture to dispatch, webhook and email notifications, follow-ups, an
// adjusting assessment (with notes) and a reorder, plus refused requests
// and hostile inputs carrying the canary. Then it looks everywhere: every
// log line, every audit record, every event on every topic, every stored
// object name, every document (id and body, base64 fields decoded) in the
// document store and the event journal, every answer's body and headers,
// every webhook and email, and every byte of the data directory. The
// canary may appear only in the owning clinic's authenticated answers that
// return its own notes (canaryAnswers). Every log line must be JSON with a
// severity and a message and only reviewed top-level keys (logKeys), and
// nothing may log around the structured logger.
func TestPHICanary(t *testing.T) {
	stray := &lockedBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(stray, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	ts := newTrustStack(t)
	hostile(t, ts)
	for _, r := range portalReads {
		target := strings.NewReplacer("{patient}", ts.ids.patient, "{scan}", ts.ids.scan).Replace(r.target)
		ts.c.must(200, pOwner, r.route, "GET", target, ts.tok.good[pOwner], nil)
		want := 200
		if strings.Contains(r.target, "{") {
			want = 404
		}
		ts.c.must(want, pOther, r.route, "GET", target, ts.tok.good[pOther], nil)
	}
	ts.c.must(200, pService, "POST /v1/tasks/notifications", "POST", "/v1/tasks/notifications", ts.tok.good[pService], nil)
	ts.c.must(200, pService, "POST /v1/tasks/outbox", "POST", "/v1/tasks/outbox", ts.tok.good[pService], nil)
	time.Sleep(500 * time.Millisecond) // let the last deliveries reach the taps
	ts.events.close()

	ctx := context.Background()
	var found []string
	hit := func(where string, hits []string) {
		if len(hits) > 0 {
			found = append(found, fmt.Sprintf("%s: %v", where, hits))
		}
	}

	// Logs.
	logLines, seenKeys := checkLogLines(t, ts.logs.Bytes())
	for i, l := range logLines {
		hit(fmt.Sprintf("log line %d", i+1), canaryHitsDeep(l))
	}
	if s := stray.Bytes(); len(s) > 0 {
		t.Errorf("lines logged around the structured logger:\n%s", s)
	}

	// Audit log.
	_, rawAudit := ts.auditLog(t)
	auditLines := bytes.Split(bytes.TrimSpace(rawAudit), []byte("\n"))
	for i, l := range auditLines {
		hit(fmt.Sprintf("audit line %d", i+1), canaryHitsDeep(l))
	}

	// Events: every message on every topic (and dead-letter topic).
	deliveries := ts.events.deliveries()
	for _, d := range deliveries {
		b, _ := json.Marshal(d)
		hit("event "+d.Event.Type+" "+d.Event.ID, canaryHitsDeep(b))
	}

	// Object names.
	objects, err := ts.st.App.Blobs.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		hit("object name "+o, canaryHits([]byte(o)))
	}

	// Answers: bodies (except the allowed ones) and every header.
	allowedHits := map[string]int{}
	exchanges := ts.c.exchanges()
	for _, x := range exchanges {
		for k, vs := range x.header {
			hit(fmt.Sprintf("header %s of %s %s", k, x.method, x.target), canaryHits([]byte(k+": "+strings.Join(vs, ", "))))
		}
		h := canaryHits(x.body)
		if len(h) > 0 && x.status < 300 && (x.who == pOwner && slices.Contains(canaryAnswers, x.route) ||
			x.who == pLab && slices.Contains(labAnswers, x.route)) {
			allowedHits[x.route]++
			continue
		}
		hit(fmt.Sprintf("answer %d to %s %s (%s)", x.status, x.method, x.target, x.who), h)
	}

	// Notifications.
	hooks := ts.hooks.received()
	for i, c := range hooks {
		hdr, _ := json.Marshal(c.header)
		hit(fmt.Sprintf("webhook %d", i+1), canaryHitsDeep(append(append([]byte(c.target+"\n"), hdr...), c.body...)))
	}
	mails := ts.mails(t)
	for _, m := range mails {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		hit("email "+filepath.Base(m), canaryHits(b))
	}

	// At rest, with the stack stopped: every document and journal entry
	// (ids and bodies, base64 decoded), then every byte of every file.
	if err := ts.st.Shutdown(); err != nil {
		t.Fatal(err)
	}
	docs := 0
	for _, db := range []string{"documents.db", "events.db"} {
		docs += walkBolt(t, filepath.Join(ts.dir, db), func(where string, k, v []byte) {
			hit(db+" "+where+" key", canaryHits(k))
			hit(db+" "+where+" "+string(k), canaryHitsDeep(v))
		})
	}
	files := 0
	err = filepath.WalkDir(ts.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(ts.dir, p)
		hit("file "+rel, canaryHits(append([]byte(rel+"\n"), b...)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, f := range found {
		t.Error("canary found in " + f)
	}
	if len(hooks) < 5 || len(mails) < 5 || len(deliveries) == 0 || len(objects) == 0 {
		t.Fatalf("the flow did not run: %d webhooks, %d emails, %d events, %d objects", len(hooks), len(mails), len(deliveries), len(objects))
	}
	routes := make([]string, 0, len(allowedHits))
	for r, n := range allowedHits {
		routes = append(routes, fmt.Sprintf("%s (%d)", r, n))
	}
	sort.Strings(routes)
	t.Logf("canary hits: %d outside the allowed answers; allowed (the clinic's own notes and patient list): %s", len(found), strings.Join(routes, ", "))
	t.Logf("scanned: %d log lines, %d audit records, %d events, %d object names, %d answers, %d webhooks, %d emails, %d stored documents and journal entries, %d files",
		len(logLines), len(auditLines), len(deliveries), len(objects), len(exchanges), len(hooks), len(mails), docs, files)
	t.Logf("log keys seen: %s", strings.Join(seenKeys, ", "))
}

// hostile sends refused and malformed requests that carry the canary, so
// that error answers and their logs are searched too.
func hostile(t *testing.T, ts *trustStack) {
	t.Helper()
	c, north, south := ts.c, ts.tok.good[pOwner], ts.tok.good[pOther]
	jsonCT := []string{"Content-Type", "application/json"}
	ragged := append(canaryCSO(t), []byte("0.1;0.2\n")...)
	for _, tc := range []struct {
		route, method, target, token string
		body                         []byte
		hdr                          []string
		want                         int
	}{
		{"POST /v1/patients", "POST", "/v1/patients", north, []byte(`{"name":"` + canaryName + `\u0001","birthDate":"` + canaryBirth + `"}`), jsonCT, 400},
		{"POST /v1/patients", "POST", "/v1/patients", north, []byte(`{"name":"` + canaryName + `","birthDate":"` + canaryHeaderBirth + `"}`), jsonCT, 400},
		{"POST /v1/patients", "POST", "/v1/patients", north, []byte(`{"name":"` + canaryName + `","birthDate":"` + canaryBirth + `","chart":"` + canaryChart + `"}`), jsonCT, 400},
		{"POST /v1/patients/{patientId}/scans", "POST", "/v1/patients/" + ts.ids.patient + "/scans?eye=OD&lensType=orthok", north, ragged, []string{"Content-Type", "text/csv"}, 400},
		{"POST /v1/patients/{patientId}/scans", "POST", "/v1/patients/" + ts.ids.patient + "/scans?eye=OS&lensType=orthok", north, canaryCSO(t), []string{"Content-Type", "text/csv"}, 400},
		{"POST /v1/patients/{patientId}/scans", "POST", "/v1/patients/" + ts.ids.patient + "/scans?eye=OD&lensType=orthok", south, canaryCSO(t), []string{"Content-Type", "text/csv"}, 404},
		{"POST /v1/orders", "POST", "/v1/orders", north, []byte(`{"designId":"` + ts.ids.design2 + `","quantity":1,"notes":"` + canaryNote + `\u0007"}`), jsonCT, 400},
		{"POST /v1/orders", "POST", "/v1/orders", south, []byte(`{"designId":"` + ts.ids.design2 + `","quantity":1,"notes":"` + canaryNote + `"}`), jsonCT, 404},
		{"POST /v1/orders/{orderId}/assessments", "POST", "/v1/orders/" + ts.ids.order + "/assessments", north,
			[]byte(`{"visitKey":"week-2","visualAcuity":"6/6","comfort":8,"outcome":"continue","fluoresceinNotes":"` + canaryNote + `","x":1}`), jsonCT, 400},
		{"POST /v1/orders/{orderId}/comments", "POST", "/v1/orders/" + ts.ids.order + "/comments", north, []byte(`{"text":"` + canaryNote + `\u0007"}`), jsonCT, 400},
		{"POST /v1/orders/{orderId}/comments", "POST", "/v1/orders/" + ts.ids.order + "/comments", south, []byte(`{"text":"` + canaryNote + `"}`), jsonCT, 404},
		{"GET /v1/orders/{orderId}/comments", "GET", "/v1/orders/" + ts.ids.order + "/comments", south, nil, nil, 404},
		{"GET /v1/orders/{orderId}", "GET", "/v1/orders/" + ts.ids.order, south, nil, nil, 404},
		{"GET /v1/orders/{orderId}/assessments", "GET", "/v1/orders/" + ts.ids.order + "/assessments", south, nil, nil, 404},
		{"GET /v1/scans/{scanId}", "GET", "/v1/scans/" + ts.ids.scan, ts.tok.bad[pExpired][auth.RolePractitioner], nil, nil, 401},
	} {
		c.must(tc.want, pOwner, tc.route, tc.method, tc.target, tc.token, tc.body, tc.hdr...)
	}
	// A poison event carrying the canary: the consumer refuses it (500, so
	// Pub/Sub retries and dead-letters it) and logs only its id and kind.
	poison := authzPushed("Design", func(*trustStack) ports.Event {
		return authzEvent(scans.TypeScanReceived, "scans/poison", map[string]string{"note": canaryNote})
	})
	req, body := poison(ts, pService)
	if x := c.send(pService, "POST /internal/events/Design", req, body, ts.tok.good[pService]); x.status != http.StatusInternalServerError {
		t.Fatalf("poison event: %d %s", x.status, x.body)
	}
}

// checkLogLines splits the captured log into lines and checks each is a
// JSON object with a string severity and message and only logKeys.
func checkLogLines(t *testing.T, raw []byte) ([][]byte, []string) {
	t.Helper()
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	unknown := map[string]int{}
	seen := map[string]bool{}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Errorf("log line %d is not JSON: %s", i+1, l)
			continue
		}
		if err := cloudLoggingLine(m); err != nil {
			t.Errorf("log line %d is not Cloud Logging's structured JSON (%v): %s", i+1, err, l)
		}
		if s, _ := m["severity"].(string); s == "" {
			t.Errorf("log line %d has no severity: %s", i+1, l)
		}
		if s, _ := m["message"].(string); s == "" {
			t.Errorf("log line %d has no message: %s", i+1, l)
		}
		for k := range m {
			seen[k] = true
			if !slices.Contains(logKeys, k) {
				if unknown[k] == 0 {
					t.Errorf("log line %d has the unreviewed key %q (review it, then add it to logKeys): %s", i+1, k, l)
				}
				unknown[k]++
			}
		}
	}
	if len(lines) < 20 {
		t.Fatalf("only %d log lines captured", len(lines))
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return lines, keys
}

// untraced are the messages a line may carry without a trace: lines of
// the local stack's stand-ins for outside systems (the SMTP server that
// receives the stack's email), which no request or event runs in. Every
// other line belongs to a request or an event delivery and must carry its
// trace.
var untraced = []string{"smtpsink: "}

var (
	traceRE   = regexp.MustCompile(`^projects/` + localstack.Project + `/traces/[0-9a-f]{32}$`)
	spanRE    = regexp.MustCompile(`^[0-9a-f]{16}$`)
	latencyRE = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,9})?s$`)
)

// cloudLoggingLine checks m has the shape Cloud Logging's agent reads as
// special fields: a known severity, an RFC 3339 time, a qualified trace
// with its span id when the line belongs to a request or event, and an
// httpRequest whose latency is a protobuf Duration.
func cloudLoggingLine(m map[string]any) error {
	switch m["severity"] {
	case "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL":
	default:
		return fmt.Errorf("severity %v", m["severity"])
	}
	if ts, _ := m["time"].(string); ts == "" {
		return errors.New("no time")
	} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return fmt.Errorf("time: %v", err)
	}
	tr, traced := m["logging.googleapis.com/trace"].(string)
	msg, _ := m["message"].(string)
	if !traced && !slices.ContainsFunc(untraced, func(p string) bool { return strings.HasPrefix(msg, p) }) {
		return errors.New("no trace on a line of a request or event")
	}
	if traced {
		if !traceRE.MatchString(tr) {
			return fmt.Errorf("trace %q", tr)
		}
		if sp, _ := m["logging.googleapis.com/spanId"].(string); !spanRE.MatchString(sp) {
			return fmt.Errorf("spanId %q", sp)
		}
		if _, ok := m["logging.googleapis.com/trace_sampled"].(bool); !ok {
			return errors.New("trace_sampled is not a boolean")
		}
	}
	if h, ok := m["httpRequest"]; ok {
		r, _ := h.(map[string]any)
		if r == nil {
			return errors.New("httpRequest is not an object")
		}
		if l, _ := r["latency"].(string); !latencyRE.MatchString(l) {
			return fmt.Errorf("httpRequest.latency %q is not a Duration", l)
		}
		if s, _ := r["status"].(float64); s < 100 || s > 599 {
			return fmt.Errorf("httpRequest.status %v", r["status"])
		}
		if meth, _ := r["requestMethod"].(string); meth == "" {
			return errors.New("httpRequest.requestMethod missing")
		}
	}
	return nil
}

// walkBolt calls fn for every key and value of every bucket (nested ones
// included) of the bbolt file at path, and returns how many it saw.
func walkBolt(t *testing.T, path string, fn func(where string, k, v []byte)) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	var walk func(where string, b *bolt.Bucket) error
	walk = func(where string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					return walk(where+"/"+string(k), nb)
				}
				return nil
			}
			n++
			fn(where, k, v)
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			fn("bucket", name, nil)
			return walk(string(name), b)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
