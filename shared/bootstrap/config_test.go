package bootstrap

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{DataDir: "/tmp/x"}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Profile != "local" || c.Docs != "bolt" || c.Blobs != "local" || c.Events != "local" ||
		c.KEKURI != "file://"+filepath.Join("/tmp/x", "kek.json") || c.AuditLog != filepath.Join("/tmp/x", "audit.log") ||
		len(c.AuthIssuers) != 1 || c.AuthIssuers[0] != "dev" {
		t.Fatalf("local defaults: %+v", c)
	}
	g, err := Config{Profile: "gcp", Project: "p", Bucket: "b", KEKURI: "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
		ServiceAudiences: []string{"https://x"}, ServiceAccounts: []string{"sa@p.iam.gserviceaccount.com"}}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if g.Docs != "firestore" || g.Blobs != "gcs" || g.Events != "pubsub" || g.AuditLog != "cloudlogging" ||
		strings.Join(g.AuthIssuers, ",") != "identity-platform,google-oidc" {
		t.Fatalf("gcp defaults: %+v", g)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want []string
	}{
		{Config{Profile: "prod"}, []string{"LENSFLOW_PROFILE"}},
		{Config{Docs: "mongo"}, []string{"LENSFLOW_DOCS"}},
		{Config{Profile: "gcp"}, []string{"GOOGLE_CLOUD_PROJECT", "LENSFLOW_BUCKET", "LENSFLOW_KEK_URI", "LENSFLOW_SERVICE_AUDIENCES", "LENSFLOW_SERVICE_ACCOUNTS"}},
		{Config{AuthIssuers: []string{"none"}}, []string{"LENSFLOW_AUTH_ISSUERS"}},
		{Config{PublicURL: "api.lensflow.example"}, []string{"LENSFLOW_PUBLIC_URL"}},
		{Config{PublicURL: "ftp://api.lensflow.example"}, []string{"LENSFLOW_PUBLIC_URL"}},
	} {
		_, err := tc.c.WithDefaults()
		if err == nil {
			t.Fatalf("%+v: no error", tc.c)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not name %s", tc.c, err, w)
			}
		}
	}
}

// TestSelfURLs: the addresses a webhook may not point at include the public
// URL, the development issuer's (the local stack's listen address) and the
// service URLs of its OIDC tokens.
func TestSelfURLs(t *testing.T) {
	got := strings.Join(selfURLs(Config{PublicURL: "https://api.lensflow.example", DevIssuerURL: "http://127.0.0.1:8080/dev-issuer",
		ServiceAudiences: []string{"https://notifications-1.europe-west1.run.app"}}), " ")
	for _, want := range []string{"https://api.lensflow.example", "http://127.0.0.1:8080/dev-issuer", "https://notifications-1.europe-west1.run.app"} {
		if !strings.Contains(got, want) {
			t.Errorf("selfURLs = %s, lacks %s", got, want)
		}
	}
}

// TestNoSwitchTurnsAuthenticationOff: every configuration has at least one
// trusted issuer; an empty list falls back to the profile's issuers.
func TestNoSwitchTurnsAuthenticationOff(t *testing.T) {
	c, err := Config{AuthIssuers: []string{}}.WithDefaults()
	if err != nil || len(c.AuthIssuers) == 0 {
		t.Fatalf("%v %v", c.AuthIssuers, err)
	}
}

func TestOverloadSettings(t *testing.T) {
	for _, tc := range []struct {
		name            string
		env             map[string]string
		rate            float64
		burst, inFlight int
		wantErr         string
	}{
		{name: "defaults", rate: DefaultRateLimitLocal, burst: 2 * DefaultRateLimitLocal, inFlight: DefaultMaxInFlight},
		{name: "all set", env: map[string]string{"LENSFLOW_RATE_LIMIT": "2.5", "LENSFLOW_RATE_BURST": "4", "LENSFLOW_MAX_INFLIGHT": "16"},
			rate: 2.5, burst: 4, inFlight: 16},
		{name: "burst follows the rate", env: map[string]string{"LENSFLOW_RATE_LIMIT": "0.2"}, rate: 0.2, burst: 1, inFlight: DefaultMaxInFlight},
		{name: "burst of two seconds", env: map[string]string{"LENSFLOW_RATE_LIMIT": "30"}, rate: 30, burst: 60, inFlight: DefaultMaxInFlight},
		{name: "not a number", env: map[string]string{"LENSFLOW_RATE_LIMIT": "fast"}, wantErr: "LENSFLOW_RATE_LIMIT"},
		{name: "negative rate", env: map[string]string{"LENSFLOW_RATE_LIMIT": "-1"}, wantErr: "LENSFLOW_RATE_LIMIT"},
		{name: "infinite rate", env: map[string]string{"LENSFLOW_RATE_LIMIT": "inf"}, wantErr: "LENSFLOW_RATE_LIMIT"},
		{name: "fractional burst", env: map[string]string{"LENSFLOW_RATE_BURST": "1.5"}, wantErr: "LENSFLOW_RATE_BURST"},
		{name: "negative in-flight", env: map[string]string{"LENSFLOW_MAX_INFLIGHT": "-3"}, wantErr: "LENSFLOW_MAX_INFLIGHT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"LENSFLOW_RATE_LIMIT", "LENSFLOW_RATE_BURST", "LENSFLOW_MAX_INFLIGHT"} {
				t.Setenv(k, tc.env[k])
			}
			c := ConfigFromEnv()
			c.DataDir = t.TempDir()
			c, err := c.WithDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.RateLimit != tc.rate || c.RateBurst != tc.burst || c.MaxInFlight != tc.inFlight {
				t.Fatalf("rate %v burst %d in flight %d", c.RateLimit, c.RateBurst, c.MaxInFlight)
			}
		})
	}
	g, err := Config{Profile: "gcp", Project: "p", Bucket: "b", KEKURI: "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
		ServiceAudiences: []string{"https://x"}, ServiceAccounts: []string{"sa@p.iam.gserviceaccount.com"}}.WithDefaults()
	if err != nil || g.RateLimit != DefaultRateLimitGCP || g.RateBurst != 2*DefaultRateLimitGCP || g.MaxInFlight != DefaultMaxInFlight {
		t.Fatalf("gcp: rate %v burst %d in flight %d (%v)", g.RateLimit, g.RateBurst, g.MaxInFlight, err)
	}
}

func TestMaxTokenLifetime(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    time.Duration
		wantErr string
	}{
		{env: "", want: 24 * time.Hour},
		{env: "12h", want: 12 * time.Hour},
		{env: " 90m ", want: 90 * time.Minute},
		{env: "168h", want: 7 * 24 * time.Hour},
		{env: "a day", wantErr: "LENSFLOW_MAX_TOKEN_LIFETIME: \"a day\" is not a duration"},
		{env: "24", wantErr: "LENSFLOW_MAX_TOKEN_LIFETIME"},
		{env: "30m", wantErr: "LENSFLOW_MAX_TOKEN_LIFETIME: maximum token lifetime 30m0s outside [1h0m0s, 168h0m0s]"},
		{env: "-1h", wantErr: "LENSFLOW_MAX_TOKEN_LIFETIME"},
		{env: "720h", wantErr: "LENSFLOW_MAX_TOKEN_LIFETIME"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv("LENSFLOW_MAX_TOKEN_LIFETIME", tc.env)
			c := ConfigFromEnv()
			c.DataDir = t.TempDir()
			c, err := c.WithDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.MaxTokenLifetime != tc.want {
				t.Fatalf("%v %v, want %v", c.MaxTokenLifetime, err, tc.want)
			}
		})
	}
}
