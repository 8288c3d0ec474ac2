// Package audit records who touched which protected health information, when,
// and with what outcome: one record per PHI read or write. Records go to their
// own log (a Cloud Logging log name in production, a JSON-lines file locally)
// that infrastructure keeps for six years.
//
// A record holds ids only: never names, birth dates or scan contents.
package audit

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/lensflow/lensflow/shared/logging"
)

// Outcome of an audited action.
const (
	Success = "success"
	Denied  = "denied"
	Failure = "failure"
)

// Record is one audited access.
type Record struct {
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`  // token subject
	Role      string    `json:"role"`   // practitioner, lab, service
	Clinic    string    `json:"clinic"` // clinic id from the token (or of the resource, for services and lab staff)
	Action    string    `json:"action"` // e.g. "scan.create", "scan.read", "design.read"
	Resource  string    `json:"resource"`
	Outcome   string    `json:"outcome"`
	RequestID string    `json:"requestId"`
}

// Logger writes audit records. Write must be safe for concurrent use; an
// error means the record may be lost and the caller should fail the request.
type Logger interface {
	Write(ctx context.Context, r Record) error
}

// JSONLines writes each record as one JSON line, in the shape Cloud Logging
// reads from stdout (severity, message, and the record under "audit", labelled
// with the log it belongs to).
type JSONLines struct {
	// Project, when set, qualifies the trace of each line as Cloud Logging
	// wants it (projects/P/traces/T), as the request's log lines do.
	Project string

	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewJSONLines returns a Logger writing to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{w: w} }

type line struct {
	Severity string            `json:"severity"`
	Message  string            `json:"message"`
	Labels   map[string]string `json:"logging.googleapis.com/labels"`
	Trace    string            `json:"logging.googleapis.com/trace,omitempty"`
	SpanID   string            `json:"logging.googleapis.com/spanId,omitempty"`
	Audit    Record            `json:"audit"`
}

// Write implements Logger.
func (l *JSONLines) Write(ctx context.Context, r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	ln := line{Severity: "NOTICE", Message: "audit " + r.Action + " " + r.Outcome,
		Labels: map[string]string{"log": "lensflow-audit"}, Audit: r}
	if t, ok := logging.TraceFrom(ctx); ok && t.TraceID != "" {
		ln.Trace, ln.SpanID = t.TraceID, t.SpanID
		if l.Project != "" {
			ln.Trace = "projects/" + l.Project + "/traces/" + t.TraceID
		}
	}
	b, err := json.Marshal(ln)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(append(l.buf[:0], b...), '\n')
	_, err = l.w.Write(l.buf)
	return err
}

// Memory keeps records in memory, for tests.
type Memory struct {
	mu      sync.Mutex
	records []Record
}

// Write implements Logger. A zero Time is set to now, as the other loggers do.
func (m *Memory) Write(_ context.Context, r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	m.mu.Lock()
	m.records = append(m.records, r)
	m.mu.Unlock()
	return nil
}

// Records returns a copy of what was written.
func (m *Memory) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.records...)
}
