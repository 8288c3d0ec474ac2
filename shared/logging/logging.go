// Package logging builds lensflow's structured logger: log/slog JSON in the
// shape Cloud Logging reads from stdout (severity, message,
// logging.googleapis.com/trace and spanId), with the trace of the request or
// event being handled taken from the context.
//
// Log lines carry ids, statuses and timings only. Nothing a patient could be
// identified by (names, birth dates, scan contents, file headers) is ever
// passed to a logger: handlers log opaque ids and error kinds.
package logging

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type traceKey struct{}

// Trace identifies the distributed trace a log line belongs to.
type Trace struct {
	TraceID string // 32 hex digits
	SpanID  string // 16 hex digits
	Sampled bool
}

// WithTrace returns ctx carrying t.
func WithTrace(ctx context.Context, t Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// TraceFrom returns the trace in ctx, if any.
func TraceFrom(ctx context.Context) (Trace, bool) {
	t, ok := ctx.Value(traceKey{}).(Trace)
	return t, ok
}

// TraceFromRequest reads a W3C traceparent or an X-Cloud-Trace-Context header,
// or starts a new trace when neither is present or valid.
func TraceFromRequest(r *http.Request) Trace {
	if t, ok := ParseTraceparent(r.Header.Get("traceparent")); ok {
		return t
	}
	if h := r.Header.Get("X-Cloud-Trace-Context"); h != "" {
		id, _, _ := strings.Cut(h, "/")
		if isHex(id, 32) {
			return Trace{TraceID: strings.ToLower(id), SpanID: randomHex(8), Sampled: strings.Contains(h, "o=1")}
		}
	}
	return NewTrace()
}

// NewTrace starts a new trace.
func NewTrace() Trace { return Trace{TraceID: randomHex(16), SpanID: randomHex(8)} }

// ParseTraceparent parses a W3C traceparent header ("00-<trace>-<span>-<flags>").
func ParseTraceparent(h string) (Trace, bool) {
	p := strings.Split(strings.TrimSpace(h), "-")
	if len(p) != 4 || !isHex(p[0], 2) || !isHex(p[1], 32) || !isHex(p[2], 16) || !isHex(p[3], 2) ||
		p[1] == strings.Repeat("0", 32) || p[2] == strings.Repeat("0", 16) {
		return Trace{}, false
	}
	return Trace{TraceID: strings.ToLower(p[1]), SpanID: strings.ToLower(p[2]), Sampled: p[3][1]&1 == 1}, true
}

// Traceparent formats t as a W3C traceparent header value.
func (t Trace) Traceparent() string {
	f := "00"
	if t.Sampled {
		f = "01"
	}
	return "00-" + t.TraceID + "-" + t.SpanID + "-" + f
}

// Latency formats d as Cloud Logging's httpRequest.latency wants it, a
// protobuf Duration in JSON: seconds with up to nine decimals and an "s"
// ("0.012345678s"; Go's "12.3ms" would not parse).
func Latency(d time.Duration) string {
	s := strconv.FormatFloat(d.Seconds(), 'f', 9, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "s"
}

// New returns a JSON logger writing Cloud Logging structured lines to w.
// project, when set, qualifies trace ids as projects/P/traces/T.
func New(w io.Writer, project string, level slog.Leveler) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: replace})
	return slog.New(&traceHandler{Handler: h, project: project})
}

func replace(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		a.Key = "severity"
		switch l := a.Value.Any().(slog.Level); {
		case l >= slog.LevelError:
			a.Value = slog.StringValue("ERROR")
		case l >= slog.LevelWarn:
			a.Value = slog.StringValue("WARNING")
		case l >= slog.LevelInfo:
			a.Value = slog.StringValue("INFO")
		default:
			a.Value = slog.StringValue("DEBUG")
		}
	case slog.MessageKey:
		a.Key = "message"
	case slog.TimeKey:
		a.Key = "time"
	}
	return a
}

type traceHandler struct {
	slog.Handler
	project string
}

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if t, ok := TraceFrom(ctx); ok {
		tr := t.TraceID
		if h.project != "" {
			tr = "projects/" + h.project + "/traces/" + t.TraceID
		}
		r.AddAttrs(slog.String("logging.googleapis.com/trace", tr),
			slog.String("logging.googleapis.com/spanId", t.SpanID),
			slog.Bool("logging.googleapis.com/trace_sampled", t.Sampled))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &traceHandler{Handler: h.Handler.WithAttrs(as), project: h.project}
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	return &traceHandler{Handler: h.Handler.WithGroup(name), project: h.project}
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
