package devissuer_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/auth/devissuer"
)

// The local stack: a development issuer mounted at /dev-issuer, and the same
// Verifier production uses, trusting it.
func ExampleIssuer() {
	dir, err := os.MkdirTemp("", "lensflow-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux) // the local stack's base URL
	defer srv.Close()

	dev, err := devissuer.Open(filepath.Join(dir, "dev-issuer.pem"), srv.URL+devissuer.Path, devissuer.Audience)
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle(devissuer.JWKSPath, dev.JWKSHandler())

	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{
		dev.IssuerConfig(srv.URL + devissuer.JWKSPath),
		// In production instead:
		// auth.IdentityPlatform(projectID),
		// auth.GoogleOIDC([]string{pushAudience}, []string{pushServiceAccount}),
	}})
	if err != nil {
		log.Fatal(err)
	}

	token, err := dev.MintDemoPractitioner("demo-north")
	if err != nil {
		log.Fatal(err)
	}
	p, err := v.Verify(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Role, p.ClinicID)

	_, err = v.Verify(context.Background(), "not-a-token")
	fmt.Println(auth.Reason(err))
	// Output:
	// practitioner demo-north
	// malformed token
}
