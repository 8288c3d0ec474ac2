package bootstrap

import "testing"

// TestTelemetryConfig: LENSFLOW_TRACING and LENSFLOW_METRICS default by
// profile, accept their modes, refuse others, and their Google Cloud
// modes need a project.
func TestTelemetryConfig(t *testing.T) {
	gcp := func() Config {
		return Config{Profile: "gcp", Project: "p", Bucket: "b", KEKURI: "gcp-kms://k", ServiceAudiences: []string{"a"}, ServiceAccounts: []string{"s"}}
	}
	local := func(tracing, metrics string) Config {
		return Config{DataDir: t.TempDir(), Tracing: tracing, Metrics: metrics}
	}
	for _, tc := range []struct {
		name             string
		in               Config
		tracing, metrics string // the resolved modes
		wantErr          bool
	}{
		{"local defaults", local("", ""), "memory", "memory", false},
		{"gcp defaults", gcp(), "otlp", "otlp", false},
		{"off", local("off", "off"), "off", "off", false},
		{"unknown tracing", local("zipkin", ""), "", "", true},
		{"unknown metrics", local("", "statsd"), "", "", true},
		{"otlp tracing needs a project", local("otlp", ""), "", "", true},
		{"otlp metrics need a project", local("", "otlp"), "", "", true},
		{"the deprecated Cloud Trace exporter is gone", local("cloudtrace", ""), "", "", true},
		{"the deprecated Cloud Monitoring exporter is gone", local("", "cloudmonitoring"), "", "", true},
		{"endpoint without a port", func() Config { c := gcp(); c.OTLPEndpoint = "telemetry.googleapis.com"; return c }(), "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.WithDefaults()
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error for %+v", tc.in)
				}
				return
			}
			if err != nil || got.Tracing != tc.tracing || got.Metrics != tc.metrics {
				t.Fatalf("tracing %q, metrics %q (%v), want %q and %q", got.Tracing, got.Metrics, err, tc.tracing, tc.metrics)
			}
		})
	}
}
