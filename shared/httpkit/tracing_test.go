package httpkit_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/tracing"
)

// TestServeIsAServerSpan: every request is a server span, child of the
// incoming trace context, whose ids are the log lines' and the Traceparent
// response header's.
func TestServeIsAServerSpan(t *testing.T) {
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, tc := range []struct {
		name, header, value   string
		wantTrace, wantParent string // "" means a new trace, no parent
	}{
		{"traceparent", "traceparent", parent, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"},
		{"cloud trace context", "X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1", "105445aa7843bc8bf206b12000100000", "?"},
		{"none", "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tracing.NewStore(10)
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSyncer(store))
			var logs bytes.Buffer
			mux := http.NewServeMux()
			mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {})
			h := httpkit.ServeTraced(logging.New(&logs, "", slog.LevelInfo), tp, "Things", mux)
			req := httptest.NewRequest("GET", "/v1/things/abc", nil)
			if tc.header != "" {
				req.Header.Set(tc.header, tc.value)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			got, ok := logging.ParseTraceparent(w.Header().Get("Traceparent"))
			if !ok || (tc.wantTrace != "" && got.TraceID != tc.wantTrace) {
				t.Fatalf("Traceparent %q, want trace %s", w.Header().Get("Traceparent"), tc.wantTrace)
			}
			spans := store.Trace(got.TraceID)
			if len(spans) != 1 {
				t.Fatalf("spans %v", spans)
			}
			sp := spans[0]
			if sp.SpanID != got.SpanID || sp.Name != "GET /v1/things/{id}" || sp.Kind != "server" || sp.Attributes["http.response.status_code"] != "200" {
				t.Fatalf("span %+v, want the server span %s", sp, got.SpanID)
			}
			if tc.wantParent != "?" && sp.ParentSpanID != tc.wantParent {
				t.Fatalf("parent %q, want %q", sp.ParentSpanID, tc.wantParent)
			}
			var l map[string]any
			if err := json.Unmarshal(logs.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			if l["logging.googleapis.com/trace"] != got.TraceID || l["logging.googleapis.com/spanId"] != got.SpanID {
				t.Fatalf("access line %s, want span %s/%s", logs.Bytes(), got.TraceID, got.SpanID)
			}
		})
	}
}

// TestShedRequestsLogAsWarnings: a 503 with Retry-After is the instance
// shedding load on purpose, logged as a warning; any other 5xx is an error.
func TestShedRequestsLogAsWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, retryAfter string
		status           int
		want             string
	}{
		{"shed", "1", http.StatusServiceUnavailable, `"severity":"WARNING"`},
		{"unavailable", "", http.StatusServiceUnavailable, `"severity":"ERROR"`},
		{"broken", "", http.StatusInternalServerError, `"severity":"ERROR"`},
		{"fine", "", http.StatusOK, `"severity":"INFO"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := httpkit.Serve(logging.New(&logs, "", slog.LevelInfo), "Things", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
			}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/things", nil))
			if !strings.Contains(logs.String(), tc.want) {
				t.Fatalf("request log %s, want %s", logs.String(), tc.want)
			}
		})
	}
}
