package telemetry_test

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/telemetry"
	"github.com/lensflow/lensflow/shared/telemetry/gcptest"
	"github.com/lensflow/lensflow/shared/tracing"
)

// collector is an OTLP/gRPC endpoint that records what it is sent and
// the authorization each export carried.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	colmetricpb.UnimplementedMetricsServiceServer
	mu      sync.Mutex
	auth    []string
	spans   []*coltracepb.ExportTraceServiceRequest
	metrics []*colmetricpb.ExportMetricsServiceRequest
}

func (c *collector) authorization(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.auth = append(c.auth, md.Get("authorization")...)
}

func (c *collector) Export(ctx context.Context, r *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.authorization(ctx)
	c.spans = append(c.spans, r)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type metricsService struct{ *collector }

func (m metricsService) Export(ctx context.Context, r *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.authorization(ctx)
	m.metrics = append(m.metrics, r)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// The names and attribute keys the Telemetry API accepts; anything else is
// rejected point by point.
var (
	metricName   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_:./]*$`)
	attributeKey = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.]*$`)
)

// TestGoogleExportsTracesAndMetrics runs the production path against a
// local OTLP endpoint over TLS: Application Default Credentials from a
// service-account key (its token endpoint local too), one connection for
// both signals. Every export carries the bearer token; the resource names
// the project, service and instance (Cloud Monitoring refuses a point
// without an instance); metric names and attribute keys are ones the
// Telemetry API accepts; counters are cumulative and monotonic, as
// Prometheus counters are, so PromQL's rate() and increase() apply.
func TestGoogleExportsTracesAndMetrics(t *testing.T) {
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"test-token","token_type":"Bearer","expires_in":3600}`))
	}))
	defer tokens.Close()
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", gcptest.ServiceAccountKey(t, "design@demo-proj.iam.gserviceaccount.com", tokens.URL))
	t.Setenv("K_SERVICE", "lensflow-design")

	// httptest's certificate is valid for 127.0.0.1: borrow it.
	certs := httptest.NewTLSServer(http.NotFoundHandler())
	defer certs.Close()
	pool := x509.NewCertPool()
	pool.AddCert(certs.Certificate())
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&certs.TLS.Certificates[0])))
	col := &collector{}
	coltracepb.RegisterTraceServiceServer(srv, col)
	colmetricpb.RegisterMetricsServiceServer(srv, metricsService{col})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	ctx := context.Background()
	exp, err := telemetry.Google(ctx, telemetry.Config{Endpoint: ln.Addr().String(), Project: "demo-proj", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tracing.New(ctx, tracing.ModeOTLP, exp)
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.New(ctx, metrics.ModeOTLP, exp)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tracing.Tracer(tr.Provider).Start(ctx, "design")
	span.End()
	m.DesignFailed(ctx, "scleral", "invalid")
	m.DesignFailed(ctx, "scleral", "invalid")
	m.DesignProduced(ctx, "rgp", 1500*time.Millisecond)
	m.JobsActive(ctx, map[string]int{"queued": 2})
	m.EventFailed(ctx, "Design", "lensflow.scan.received", true)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(sctx); err != nil {
		t.Fatalf("tracing shutdown: %v", err)
	}
	if err := m.Shutdown(sctx); err != nil {
		t.Fatalf("metrics shutdown: %v", err)
	}
	if err := exp.Close(); err != nil {
		t.Fatal(err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.spans) == 0 || len(col.metrics) == 0 {
		t.Fatalf("received %d span and %d metric exports, want both", len(col.spans), len(col.metrics))
	}
	for _, a := range col.auth {
		if a != "Bearer test-token" {
			t.Errorf("an export carried authorization %q, want the service account's token", a)
		}
	}
	if len(col.auth) != len(col.spans)+len(col.metrics) {
		t.Errorf("%d authorization headers for %d exports", len(col.auth), len(col.spans)+len(col.metrics))
	}
	wantResource := map[string]string{"gcp.project_id": "demo-proj", "service.name": "lensflow-design", "service.namespace": "lensflow"}
	checkResource := func(signal string, attrs []*commonpb.KeyValue) {
		got := map[string]string{}
		for _, kv := range attrs {
			got[kv.Key] = kv.Value.GetStringValue()
		}
		for k, v := range wantResource {
			if got[k] != v {
				t.Errorf("%s resource %s = %q, want %q", signal, k, got[k], v)
			}
		}
		if got["service.instance.id"] == "" {
			t.Errorf("%s resource has no service.instance.id", signal)
		}
	}
	var spanNames []string
	for _, r := range col.spans {
		for _, rs := range r.ResourceSpans {
			checkResource("span", rs.Resource.Attributes)
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spanNames = append(spanNames, s.Name)
				}
			}
		}
	}
	if len(spanNames) != 1 || spanNames[0] != "design" {
		t.Errorf("spans %v, want [design]", spanNames)
	}
	got := map[string]*metricpb.Metric{}
	for _, r := range col.metrics {
		for _, rm := range r.ResourceMetrics {
			checkResource("metric", rm.Resource.Attributes)
			for _, sm := range rm.ScopeMetrics {
				for _, mt := range sm.Metrics {
					got[mt.Name] = mt
					if !metricName.MatchString(mt.Name) {
						t.Errorf("metric name %q would be refused", mt.Name)
					}
					for _, kv := range pointAttributes(mt) {
						if !attributeKey.MatchString(kv.Key) {
							t.Errorf("metric %s: attribute key %q would be refused", mt.Name, kv.Key)
						}
					}
				}
			}
		}
	}
	failed := got[metrics.NameDesignsFailed].GetSum()
	if failed == nil || !failed.IsMonotonic || failed.AggregationTemporality != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE ||
		len(failed.DataPoints) != 1 || failed.DataPoints[0].GetAsInt() != 2 {
		t.Errorf("%s: %v, want one cumulative monotonic point of 2", metrics.NameDesignsFailed, got[metrics.NameDesignsFailed])
	}
	if h := got[metrics.NameDesignLatency].GetHistogram(); h == nil || len(h.DataPoints) != 1 || h.DataPoints[0].GetCount() != 1 {
		t.Errorf("%s: %v, want a histogram of one design", metrics.NameDesignLatency, got[metrics.NameDesignLatency])
	}
	for _, name := range []string{metrics.NameDesignsProduced, metrics.NameJobsActive, metrics.NameEventsFailed, metrics.NameEventsDeadLettered} {
		if got[name] == nil {
			t.Errorf("no %s exported", name)
		}
	}
}

func pointAttributes(m *metricpb.Metric) []*commonpb.KeyValue {
	var out []*commonpb.KeyValue
	for _, p := range m.GetSum().GetDataPoints() {
		out = append(out, p.Attributes...)
	}
	for _, p := range m.GetGauge().GetDataPoints() {
		out = append(out, p.Attributes...)
	}
	for _, p := range m.GetHistogram().GetDataPoints() {
		out = append(out, p.Attributes...)
	}
	return out
}

// TestGoogleNeedsAProject: the Telemetry API files data by the resource's
// project, so there is no connection without one.
func TestGoogleNeedsAProject(t *testing.T) {
	if _, err := telemetry.Google(context.Background(), telemetry.Config{}); err == nil {
		t.Fatal("no error without a project")
	}
}
