package auth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/lensflow/lensflow/shared/auth"
)

// The local stack: a development issuer mounted at /dev-issuer, and the same
// Verifier production uses, trusting it.
func ExampleDevIssuer() {
	dir, err := os.MkdirTemp("", "lensflow-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux) // the local stack's base URL
	defer srv.Close()

	dev, err := auth.OpenDevIssuer(filepath.Join(dir, "dev-issuer.pem"), srv.URL+auth.DevIssuerPath, auth.DevAudience)
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle(auth.DevJWKSPath, dev.JWKSHandler())

	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{
		dev.IssuerConfig(srv.URL + auth.DevJWKSPath),
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

// A handler authenticates a request with BearerToken and Verify, and keeps
// the principal in the context.
func ExampleBearerToken() {
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	token, err := auth.BearerToken(r)
	fmt.Println(token, err)

	r.Header.Del("Authorization")
	_, err = auth.BearerToken(r)
	fmt.Println(auth.Reason(err))
	// Output:
	// eyJhbGciOiJFUzI1NiJ9.e30.c2ln <nil>
	// missing bearer token
}
