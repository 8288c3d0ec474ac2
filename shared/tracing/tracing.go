// Package tracing sets up OpenTelemetry tracing for lensflow: a
// TracerProvider chosen by configuration (OTLP to Google's Telemetry API
// in production, see shared/telemetry; a
// bounded in-memory store locally, or off), the W3C trace-context
// propagator, and the helpers that carry a trace across Pub/Sub in an
// event's "traceparent" CloudEvent extension (the Pub/Sub attribute
// ce-traceparent, per the CloudEvents Pub/Sub binding and distributed
// tracing extension).
//
// Spans carry ids, routes, statuses and event types only: never request
// bodies, query strings or anything a patient could be identified by.
package tracing

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/telemetry"
)

// Modes of LENSFLOW_TRACING.
const (
	ModeMemory = "memory" // spans kept in a bounded in-memory Store (local default)
	ModeOTLP   = "otlp"   // spans batched over OTLP to the Telemetry API, into Cloud Trace (gcp default)
	ModeOff    = "off"    // no spans; trace ids are still propagated and logged
)

// Extension is the CloudEvent extension (and, with the ce- prefix, the
// Pub/Sub message attribute) that carries an event's W3C traceparent.
const Extension = "traceparent"

// DefaultCapacity is how many spans the in-memory store keeps.
const DefaultCapacity = 5000

// Tracing is a configured TracerProvider and, in memory mode, its store.
type Tracing struct {
	Provider trace.TracerProvider
	Store    *Store // nil unless mode is memory
	shutdown func(context.Context) error
}

// Propagator is the W3C trace-context propagator used for HTTP headers and
// event extensions.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// New builds tracing for mode; exp is where otlp mode sends (unused
// otherwise). Spans of a trace whose caller did not sample it are not
// exported.
func New(ctx context.Context, mode string, exp *telemetry.Exporter) (*Tracing, error) {
	switch mode {
	case ModeOff:
		return &Tracing{Provider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
	case ModeMemory:
		s := NewStore(DefaultCapacity)
		// Every request is recorded locally, even one whose incoming
		// traceparent says "not sampled" (the dashboard's own ids).
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSyncer(s))
		return &Tracing{Provider: tp, Store: s, shutdown: tp.Shutdown}, nil
	case ModeOTLP:
		if exp == nil {
			return nil, fmt.Errorf("tracing (otlp): no exporter connection")
		}
		spans, err := otlptracegrpc.New(ctx, otlptracegrpc.WithGRPCConn(exp.Conn))
		if err != nil {
			return nil, fmt.Errorf("tracing (otlp): %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
			sdktrace.WithResource(exp.Resource), sdktrace.WithBatcher(spans))
		return &Tracing{Provider: tp, shutdown: tp.Shutdown}, nil
	}
	return nil, fmt.Errorf("tracing: unknown mode %q (memory, otlp, off)", mode)
}

// Shutdown flushes pending spans and stops the provider.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Tracer returns the tracer lensflow's instrumentation uses from tp.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer("github.com/lensflow/lensflow")
}

// LoggingTrace returns the logging trace of the span context sc.
func LoggingTrace(sc trace.SpanContext) logging.Trace {
	return logging.Trace{TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String(), Sampled: sc.IsSampled()}
}

// RemoteParent returns the span context a logging trace read from
// incoming headers names, as a remote parent.
func RemoteParent(t logging.Trace) (trace.SpanContext, bool) {
	tid, err1 := trace.TraceIDFromHex(t.TraceID)
	sid, err2 := trace.SpanIDFromHex(t.SpanID)
	if err1 != nil || err2 != nil {
		return trace.SpanContext{}, false
	}
	var f trace.TraceFlags
	if t.Sampled {
		f = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: f, Remote: true})
	return sc, sc.IsValid()
}

// Traceparent formats sc as a W3C traceparent ("" when sc is invalid).
func Traceparent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	Propagator.Inject(trace.ContextWithSpanContext(context.Background(), sc), c)
	return c.Get("traceparent")
}

// Stamp returns e carrying the traceparent of the span in ctx in its
// Extension, unless e already carries one or ctx has no valid span. It
// copies Extras rather than changing the caller's map.
func Stamp(ctx context.Context, e ports.Event) ports.Event {
	if _, ok := e.Extras[Extension]; ok {
		return e
	}
	tp := Traceparent(trace.SpanContextFromContext(ctx))
	if tp == "" {
		return e
	}
	extras := make(map[string]string, len(e.Extras)+1)
	for k, v := range e.Extras {
		extras[k] = v
	}
	extras[Extension] = tp
	e.Extras = extras
	return e
}

// LinkTo links the span in ctx to the span a stored traceparent names
// (what made a resource the request now uses: the design an order is
// for), with the attribute lensflow.link naming the relation. A malformed
// or empty traceparent adds nothing.
func LinkTo(ctx context.Context, traceparent, relation string) {
	if strings.TrimSpace(traceparent) == "" {
		return
	}
	c := Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	sc := trace.SpanContextFromContext(c)
	if !sc.IsValid() {
		return
	}
	trace.SpanFromContext(ctx).AddLink(trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("lensflow.link", relation)}})
}

// Producer returns the span context of the producer of e, from its
// Extension.
func Producer(e ports.Event) (trace.SpanContext, bool) {
	h := strings.TrimSpace(e.Extras[Extension])
	if h == "" {
		return trace.SpanContext{}, false
	}
	ctx := Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": h})
	sc := trace.SpanContextFromContext(ctx)
	return sc, sc.IsValid()
}
