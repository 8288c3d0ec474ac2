package bootstrap

import (
	"context"
	"io"
	"strings"
	"testing"
)

// A binary without the stand-ins (a function's production main) refuses a
// configuration that asks for one, naming the settings, and opens nothing.
func TestOpenWithoutStandInsRefusesThem(t *testing.T) {
	_, err := Open(context.Background(), Config{DataDir: t.TempDir()}, io.Discard, nil)
	if err == nil {
		t.Fatal("a local configuration opened without stand-ins")
	}
	for _, want := range []string{"LENSFLOW_DOCS=bolt", "LENSFLOW_BLOBS=local", "LENSFLOW_EVENTS=local", "LENSFLOW_AUTH_ISSUERS=dev", "only the Google adapters"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// The development issuer is refused beside any Google backend: its tokens
// must never reach real data.
func TestDevIssuerRefusedBesideGoogleBackends(t *testing.T) {
	for name, c := range map[string]Config{
		"firestore": {Docs: "firestore"},
		"gcs":       {Blobs: "gcs", Bucket: "b"},
		"pubsub":    {Events: "pubsub"},
		"cloud kms": {KEKURI: "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k"},
		"logging":   {AuditLog: "cloudlogging"},
	} {
		t.Run(name, func(t *testing.T) {
			c.DataDir, c.Project, c.AuthIssuers = t.TempDir(), "p", []string{"dev"}
			_, err := c.WithDefaults()
			if err == nil || !strings.Contains(err.Error(), "development issuer") {
				t.Fatalf("dev issuer beside %s: %v", name, err)
			}
		})
	}
	// Alone with the stand-ins it is the local default.
	c, err := Config{DataDir: t.TempDir()}.WithDefaults()
	if err != nil || len(c.AuthIssuers) != 1 || c.AuthIssuers[0] != "dev" {
		t.Fatalf("local defaults: %v %v", c.AuthIssuers, err)
	}
}
