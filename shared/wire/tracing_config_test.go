package wire

import "testing"

func TestTracingConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Config
		want string // "" means an error
	}{
		{"local default", Config{DataDir: t.TempDir()}, "memory"},
		{"gcp default", Config{Profile: "gcp", Project: "p", Bucket: "b", KEKURI: "gcp-kms://k", ServiceAudiences: []string{"a"}, ServiceAccounts: []string{"s"}}, "cloudtrace"},
		{"off", Config{DataDir: t.TempDir(), Tracing: "off"}, "off"},
		{"unknown", Config{DataDir: t.TempDir(), Tracing: "zipkin"}, ""},
		{"cloudtrace needs a project", Config{DataDir: t.TempDir(), Tracing: "cloudtrace"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.WithDefaults()
			if tc.want == "" {
				if err == nil {
					t.Fatalf("no error for %+v", tc.in)
				}
				return
			}
			if err != nil || got.Tracing != tc.want {
				t.Fatalf("tracing %q (%v), want %q", got.Tracing, err, tc.want)
			}
		})
	}
}

func TestMetricsConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Config
		want string // "" means an error
	}{
		{"local default", Config{DataDir: t.TempDir()}, "memory"},
		{"gcp default", Config{Profile: "gcp", Project: "p", Bucket: "b", KEKURI: "gcp-kms://k", ServiceAudiences: []string{"a"}, ServiceAccounts: []string{"s"}}, "cloudmonitoring"},
		{"off", Config{DataDir: t.TempDir(), Metrics: "off"}, "off"},
		{"unknown", Config{DataDir: t.TempDir(), Metrics: "statsd"}, ""},
		{"cloudmonitoring needs a project", Config{DataDir: t.TempDir(), Metrics: "cloudmonitoring"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.WithDefaults()
			if tc.want == "" {
				if err == nil {
					t.Fatalf("no error for %+v", tc.in)
				}
				return
			}
			if err != nil || got.Metrics != tc.want {
				t.Fatalf("metrics %q (%v), want %q", got.Metrics, err, tc.want)
			}
		})
	}
}
