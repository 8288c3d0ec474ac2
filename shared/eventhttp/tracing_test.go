package eventhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/tracing"
)

// TestDeliveryContinuesTheProducersTrace: a pushed event carrying a
// traceparent is handled in a consumer span whose parent is the producer's
// span, linked to the push request's own span; the handler's log lines and
// the access line carry the producer's trace. Without one, the consumer
// span is a child of the request's span.
func TestDeliveryContinuesTheProducersTrace(t *testing.T) {
	const producer = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, tc := range []struct {
		name       string
		extras     map[string]string
		wantTrace  string // "" means the push request's own trace
		wantParent string // "" means the push request's span
	}{
		{"with traceparent", map[string]string{"traceparent": producer}, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"},
		{"without", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tracing.NewStore(100)
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSyncer(store))
			var logs bytes.Buffer
			log := logging.New(&logs, "", slog.LevelInfo)
			h := httpkit.ServeTraced(log, tp, "Design", eventhttp.Handler(func(ctx context.Context, e cloudevents.Event) error {
				httpkit.Logger(ctx).InfoContext(ctx, "handled")
				return nil
			}))
			d := ports.Delivery{Event: ports.Event{ID: "ev-1", Type: "com.lensflow.test.v1", Source: "/lensflow/tests", Time: time.Now(),
				Data: json.RawMessage(`{"id":"x"}`), Extras: tc.extras}, MessageID: "m-1", Attempt: 1, PublishTime: time.Now()}
			req, err := eventhttp.NewPushRequest(context.Background(), "http://localhost/", d, "p", "topic")
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusNoContent {
				t.Fatalf("status %d", w.Code)
			}
			push, _ := logging.ParseTraceparent(w.Header().Get("Traceparent"))
			wantTrace, wantParent := tc.wantTrace, tc.wantParent
			if wantTrace == "" {
				wantTrace, wantParent = push.TraceID, push.SpanID
			}
			spans := store.Trace(wantTrace)
			var consumer tracing.Span
			for _, sp := range spans {
				if sp.Kind == "consumer" {
					consumer = sp
				}
			}
			if consumer.Name != "handle com.lensflow.test.v1" || consumer.ParentSpanID != wantParent {
				t.Fatalf("consumer span %+v in %v, want parent %s", consumer, spans, wantParent)
			}
			if tc.wantTrace != "" && (len(consumer.Links) != 1 || consumer.Links[0].SpanID != push.SpanID) {
				t.Fatalf("consumer links %v, want the push span %s", consumer.Links, push.SpanID)
			}
			lines := bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n"))
			if len(lines) != 2 {
				t.Fatalf("log lines %s", logs.Bytes())
			}
			for _, line := range lines {
				var l map[string]any
				_ = json.Unmarshal(line, &l)
				if l["logging.googleapis.com/trace"] != wantTrace || l["logging.googleapis.com/spanId"] != consumer.SpanID {
					t.Fatalf("log line %s, want trace %s span %s", line, wantTrace, consumer.SpanID)
				}
			}
		})
	}
}
