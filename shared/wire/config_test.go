package wire

import (
	"path/filepath"
	"strings"
	"testing"
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
	if g.Docs != "firestore" || g.Blobs != "gcs" || g.Events != "pubsub" || g.AuditLog != "stdout" ||
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

// TestNoSwitchTurnsAuthenticationOff: every configuration has at least one
// trusted issuer; an empty list falls back to the profile's issuers.
func TestNoSwitchTurnsAuthenticationOff(t *testing.T) {
	c, err := Config{AuthIssuers: []string{}}.WithDefaults()
	if err != nil || len(c.AuthIssuers) == 0 {
		t.Fatalf("%v %v", c.AuthIssuers, err)
	}
}
