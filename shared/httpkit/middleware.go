package httpkit

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/tracing"
)

type loggerKey struct{}
type requestIDKey struct{}
type traceSlotKey struct{}

// traceSlot holds the trace a handler continued (ContinueTrace).
type traceSlot struct {
	mu  sync.Mutex
	t   logging.Trace
	set bool
}

func (s *traceSlot) get() (logging.Trace, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t, s.set
}

// ContinueTrace records that the request served under ctx continues trace t
// (an event delivery continuing its producer's trace), so that Serve's
// access log line carries t rather than the request's own trace. Outside
// Serve it does nothing.
func ContinueTrace(ctx context.Context, t logging.Trace) {
	if s, ok := ctx.Value(traceSlotKey{}).(*traceSlot); ok {
		s.mu.Lock()
		s.t, s.set = t, true
		s.mu.Unlock()
	}
}

// RequestID returns the id of the request being served ("" outside Serve).
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}

// WithRequest returns ctx carrying a request id, its trace and a logger; it is
// what Serve does for HTTP requests, exposed for event handlers.
func WithRequest(ctx context.Context, log *slog.Logger, id string, t logging.Trace) context.Context {
	ctx = logging.WithTrace(ctx, t)
	ctx = context.WithValue(ctx, requestIDKey{}, id)
	return context.WithValue(ctx, loggerKey{}, log)
}

// Serve wraps a function's handler with what every request needs: a request
// id and trace from the incoming headers, a logger in the context, panic
// recovery (500, never a stack trace to the client), and one access log line
// with the status and latency. The logged path is the route pattern, not the
// raw URL, so ids never multiply log cardinality; no query strings are logged.
func Serve(log *slog.Logger, function string, next http.Handler) http.Handler {
	return ServeTraced(log, nil, function, next)
}

// ServeTraced is Serve that also makes every request a server span of tp
// (the global OpenTelemetry provider when nil): its parent is the span the
// incoming traceparent or X-Cloud-Trace-Context names, its ids are the
// trace and span ids of the request's log lines, and its traceparent is
// returned in the Traceparent response header. A handler that continues
// another trace (an event delivery, see ContinueTrace) moves the access
// log line to that trace.
//
// It is not otelhttp's handler: that one records the raw URL path (with
// the ids of patients' records), the client's address and user agent on
// every span, which lensflow's spans must not carry, and it cannot be told
// not to. Spans here carry the method, the route pattern, the status and
// the function. Propagation is OpenTelemetry's W3C trace-context
// propagator (tracing.Propagator); Google's X-Cloud-Trace-Context
// propagator module is deprecated in favour of it, and the one
// X-Cloud-Trace-Context fallback (logging.TraceFromRequest) is a few lines.
func ServeTraced(log *slog.Logger, tp trace.TracerProvider, function string, next http.Handler) http.Handler {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	tracer := tracing.Tracer(tp)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := r.Context()
		if r.Header.Get("traceparent") != "" || r.Header.Get("X-Cloud-Trace-Context") != "" {
			if sc, ok := tracing.RemoteParent(logging.TraceFromRequest(r)); ok {
				ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
			}
		}
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("lensflow.function", function)))
		defer span.End()
		t := tracing.LoggingTrace(span.SpanContext())
		if !span.SpanContext().IsValid() { // no provider at all: keep the incoming ids
			t = logging.TraceFromRequest(r)
		}
		id := t.TraceID[:16] + t.SpanID
		l := log.With("function", function)
		slot := &traceSlot{}
		ctx = context.WithValue(WithRequest(ctx, l, id, t), traceSlotKey{}, slot)
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		sw.Header().Set("X-Request-Id", id)
		sw.Header().Set("Traceparent", t.Traceparent())
		defer func() {
			if ct, ok := slot.get(); ok {
				ctx = logging.WithTrace(ctx, ct)
			}
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				l.ErrorContext(ctx, "panic serving request", "panic", sanitizePanic(p), "stack", string(debug.Stack()))
				if !sw.wrote {
					Error(sw, r, errs.E("panic", errs.Other, nil))
				}
			}
			level := slog.LevelInfo
			switch {
			case sw.status == http.StatusServiceUnavailable && sw.Header().Get("Retry-After") != "":
				level = slog.LevelWarn // load shed on purpose, the client told when to retry
			case sw.status >= 500:
				level = slog.LevelError
			}
			l.LogAttrs(ctx, level, "request",
				slog.Group("httpRequest",
					slog.String("requestMethod", r.Method),
					slog.String("requestUrl", routeOf(r)),
					slog.Int("status", sw.status),
					slog.Int64("responseSize", sw.n),
					slog.String("latency", logging.Latency(time.Since(start))),
					slog.String("protocol", r.Proto)),
				slog.String("requestId", id))
			route := routeOf(r)
			if _, path, ok := strings.Cut(route, " "); ok { // "METHOD /path" patterns
				route = path
			}
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", sw.status))
			if sw.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(sw.status))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.URL.Path
}

func sanitizePanic(p any) string {
	if e, ok := p.(error); ok {
		return e.Error()
	}
	if s, ok := p.(string); ok {
		return s
	}
	return "non-error panic"
}

type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(s int) {
	if !w.wrote {
		w.status, w.wrote = s, true
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Verifier verifies bearer tokens (auth.Verifier in production and locally).
type Verifier interface {
	Verify(ctx context.Context, raw string) (auth.Principal, error)
}

// Authenticate requires a verified bearer token with one of roles and puts
// the principal in the request context. No token or a bad one is 401; a
// verified principal with another role is 403. next runs only for an
// allowed principal: the place for policies that depend on who is calling
// (per-clinic rate limits, Idempotency-Key scopes), which the platform
// sets around each route's handler.
func Authenticate(v Verifier, roles []auth.Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := auth.BearerToken(r)
		if err != nil {
			Error(w, r, err)
			return
		}
		p, err := v.Verify(r.Context(), raw)
		if err != nil {
			Error(w, r, err)
			return
		}
		if !slices.Contains(roles, p.Role) {
			Error(w, r, errs.Ef("authorize", errs.Permission, "role %q may not use this route", p.Role))
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// Principal returns the authenticated principal (Authenticate must have run).
func Principal(r *http.Request) auth.Principal {
	p, _ := auth.PrincipalFrom(r.Context())
	return p
}

// Actor is the authenticated principal acting in r (Authenticate must have
// run): what the services take and the audit trail records.
func Actor(r *http.Request) auth.Actor {
	return Principal(r).Actor(RequestID(r.Context()))
}
