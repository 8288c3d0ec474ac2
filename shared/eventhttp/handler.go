package eventhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/tracing"
)

// MaxBodyBytes is the largest request Handler reads (Pub/Sub messages are at
// most 10 MB, and base64 grows them: an event of ids is a few hundred bytes).
const MaxBodyBytes = 10 << 20

// Handler serves fn, a CloudEvent function as the functions framework
// registers it, over HTTP, without the framework's server. It accepts POSTs
// of binary or structured-mode CloudEvents and of raw Pub/Sub push envelopes
// (no ce- headers), which it converts into the messagePublished CloudEvent
// the framework would make, taking the topic from a projects/P/topics/T
// part of the URL path.
//
// Answers: 204 when fn returns nil; 500 when fn returns any error or panics;
// 400 for a body that is neither a CloudEvent nor a push envelope; 413 over
// MaxBodyBytes; 405 for other methods. Every error, even errs.Invalid, is a
// 500 on purpose: Pub/Sub then retries and, after MaxDeliveryAttempts,
// moves the message to the dead-letter topic, where a poison message is kept
// and can be replayed once fixed. Answering 2xx to a permanent failure would
// drop the event without a trace. Consumers are idempotent, so the retries of
// a permanent failure cost a few calls and nothing else. Error bodies are
// application/problem+json without the error text; the error is logged with
// the event id and type (never the data) on the request's logger
// (httpkit.Logger: structured, with its trace).
func Handler(fn func(ctx context.Context, e cloudevents.Event) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			problem(w, http.StatusMethodNotAllowed, "events are delivered with POST")
			return
		}
		// Within the body deadline (httpkit.BodyTimeout), as every route
		// reads its body: a pusher that trickles is answered 408.
		body, err := httpkit.ReadBody(w, r, MaxBodyBytes)
		if err != nil {
			switch {
			case errs.Is(errs.TooLarge, err):
				problem(w, http.StatusRequestEntityTooLarge, "the event is larger than 10 MiB")
			case errors.Is(err, httpkit.ErrBodyTimeout):
				problem(w, http.StatusRequestTimeout, "the event did not arrive in time")
			default:
				problem(w, http.StatusBadRequest, "the request body could not be read")
			}
			return
		}
		e, err := readEvent(r, body)
		if err != nil {
			problem(w, http.StatusBadRequest, "the request is neither a CloudEvent nor a Pub/Sub push envelope ("+errs.FieldOf(err)+")")
			return
		}
		ctx, span := consumerSpan(r.Context(), e)
		defer span.End()
		if err := call(ctx, fn, e); err != nil {
			span.SetStatus(codes.Error, errs.KindOf(err).String())
			httpkit.Logger(ctx).ErrorContext(ctx, "eventhttp: event function failed; answering 500 so the message is retried",
				"event_id", e.ID(), "event_type", e.Type(), "source", e.Source(), "kind", errs.KindOf(err).String(), "error", err)
			problem(w, http.StatusInternalServerError, "the event could not be processed; it will be retried")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// consumerSpan starts the span of handling e, a consumer span whose parent
// is the span that produced the event (its traceparent extension: of the
// event in a messagePublished envelope, or of e itself), so one trace runs
// from a request through every event it causes. The span links to the
// request's own server span when that belongs to another trace (a push
// request carries no trace of the event), and the request's log lines,
// access line included (httpkit.ContinueTrace), move to the event's
// trace. Without a producer the span is a child of the request's span.
func consumerSpan(ctx context.Context, e cloudevents.Event) (context.Context, trace.Span) {
	inner := ports.Event{ID: e.ID(), Type: e.Type(), Source: e.Source()}
	if tp, ok := e.Extensions()[tracing.Extension].(string); ok {
		inner.Extras = map[string]string{tracing.Extension: tp}
	}
	if e.Type() == MessagePublished {
		if d, err := Unwrap(e); err == nil {
			inner = d.Event
		}
	}
	server := trace.SpanFromContext(ctx)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "gcp_pubsub"), attribute.String("messaging.message.id", e.ID()),
		attribute.String("lensflow.event.id", inner.ID), attribute.String("lensflow.event.type", inner.Type),
		attribute.String("lensflow.event.source", inner.Source))}
	parent := ctx
	if p, ok := tracing.Producer(inner); ok && p.TraceID() != server.SpanContext().TraceID() {
		parent = trace.ContextWithRemoteSpanContext(ctx, p)
		if server.SpanContext().IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: server.SpanContext()}))
		}
	}
	ctx, span := tracing.Tracer(server.TracerProvider()).Start(parent, "handle "+inner.Type, opts...)
	if sc := span.SpanContext(); sc.IsValid() {
		t := tracing.LoggingTrace(sc)
		ctx = logging.WithTrace(ctx, t)
		httpkit.ContinueTrace(ctx, t)
	}
	return ctx, span
}

// readEvent decodes the CloudEvent of r, whose body has been read.
func readEvent(r *http.Request, body []byte) (cloudevents.Event, error) {
	const op = "eventhttp.readEvent"
	if r.Header.Get("Ce-Id") == "" && !strings.Contains(r.Header.Get("Content-Type"), "cloudevents") {
		return envelopeEvent(body, r.URL.Path)
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	ev, err := cehttp.NewEventFromHTTPRequest(r2)
	if err != nil {
		return cloudevents.Event{}, errs.Field(op, "cloudevent", "not a valid CloudEvent: %v", err)
	}
	if err := ev.Validate(); err != nil {
		return cloudevents.Event{}, errs.Field(op, "cloudevent", "not a valid CloudEvent: %v", err)
	}
	return *ev, nil
}

// call runs fn and turns a panic into an error.
func call(ctx context.Context, fn func(ctx context.Context, e cloudevents.Event) error, e cloudevents.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errs.Ef("eventhttp.Handler", errs.Other, "event function panicked")
		}
	}()
	return fn(ctx, e)
}

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":   "about:blank",
		"title":  http.StatusText(status),
		"status": status,
		"detail": detail,
	})
}
