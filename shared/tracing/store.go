package tracing

import (
	"context"
	"sort"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Span is a finished span as the local store keeps and serves it.
type Span struct {
	TraceID      string            `json:"traceId"`
	SpanID       string            `json:"spanId"`
	ParentSpanID string            `json:"parentSpanId,omitempty"`
	Name         string            `json:"name"`
	Kind         string            `json:"kind"`
	Start        time.Time         `json:"start"`
	End          time.Time         `json:"end"`
	DurationMs   float64           `json:"durationMs"`
	Status       string            `json:"status"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	Links        []Link            `json:"links,omitempty"`
}

// Link is a span's link to a span of another (or the same) trace.
type Link struct {
	TraceID string `json:"traceId"`
	SpanID  string `json:"spanId"`
}

// Store is a span exporter keeping the last Capacity finished spans in
// memory, readable by trace id. It is safe for concurrent use. It is the
// SDK's exporter interface with a bound: the SDK's own in-memory exporter
// (tracetest.InMemoryExporter) keeps every span for ever, and the local
// stack runs for days.
type Store struct {
	mu   sync.Mutex
	ring []Span
	next int
	full bool
}

// NewStore returns a store of capacity spans (at least 1).
func NewStore(capacity int) *Store { return &Store{ring: make([]Span, max(capacity, 1))} }

// ExportSpans records spans, overwriting the oldest when full.
func (s *Store) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range spans {
		s.ring[s.next] = convert(sp)
		s.next = (s.next + 1) % len(s.ring)
		if s.next == 0 {
			s.full = true
		}
	}
	return nil
}

// Shutdown does nothing: the spans stay readable.
func (s *Store) Shutdown(context.Context) error { return nil }

// Trace returns the kept spans of traceID, by start time.
func (s *Store) Trace(traceID string) []Span {
	s.mu.Lock()
	var out []Span
	n := s.next
	if s.full {
		n = len(s.ring)
	}
	for i := 0; i < n; i++ {
		if s.ring[i].TraceID == traceID {
			out = append(out, s.ring[i])
		}
	}
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Len returns how many spans are kept.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return len(s.ring)
	}
	return s.next
}

func convert(sp sdktrace.ReadOnlySpan) Span {
	sc := sp.SpanContext()
	out := Span{TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String(), Name: sp.Name(), Kind: sp.SpanKind().String(),
		Start: sp.StartTime().UTC(), End: sp.EndTime().UTC(), DurationMs: float64(sp.EndTime().Sub(sp.StartTime()).Microseconds()) / 1000,
		Status: sp.Status().Code.String()}
	if p := sp.Parent(); p.IsValid() {
		out.ParentSpanID = p.SpanID().String()
	}
	if as := sp.Attributes(); len(as) > 0 {
		out.Attributes = make(map[string]string, len(as))
		for _, a := range as {
			out.Attributes[string(a.Key)] = a.Value.String()
		}
	}
	for _, l := range sp.Links() {
		out.Links = append(out.Links, Link{TraceID: l.SpanContext.TraceID().String(), SpanID: l.SpanContext.SpanID().String()})
	}
	return out
}
