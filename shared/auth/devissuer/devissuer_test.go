package devissuer

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
)

// devStack serves a Issuer like the local stack does and verifies with
// the config it hands out.
type devStack struct {
	iss *Issuer
	v   *auth.Verifier
	srv *httptest.Server
}

func newDevStack(t *testing.T, keyPath string) *devStack {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss, err := Open(keyPath, srv.URL+Path, Audience)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(JWKSPath, iss.JWKSHandler())
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{iss.IssuerConfig(srv.URL + JWKSPath)}})
	if err != nil {
		t.Fatal(err)
	}
	return &devStack{iss: iss, v: v, srv: srv}
}

func TestDevIssuerMintAndVerify(t *testing.T) {
	st := newDevStack(t, filepath.Join(t.TempDir(), "keys", "dev-issuer.pem"))
	ctx := context.Background()
	issuer := st.srv.URL + Path

	for _, clinic := range Clinics {
		tok, err := st.iss.MintDemoPractitioner(clinic)
		if err != nil {
			t.Fatal(err)
		}
		p, err := st.v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("%s: %v", clinic, err)
		}
		want := auth.Principal{Subject: clinic + "-practitioner", Email: "practitioner@" + clinic + ".example", ClinicID: clinic, Role: auth.RolePractitioner, Issuer: issuer}
		if p != want {
			t.Fatalf("principal = %+v, want %+v", p, want)
		}
	}

	tests := []struct {
		name    string
		claims  Claims
		want    auth.Principal
		wantErr error
	}{
		{name: "lab", claims: Claims{Subject: "lab-1", Role: auth.RoleLab},
			want: auth.Principal{Subject: "lab-1", Role: auth.RoleLab, Issuer: issuer}},
		{name: "service", claims: Claims{Subject: "push", Role: auth.RoleService, Email: ServiceEmail, EmailVerified: true},
			want: auth.Principal{Subject: "push", Email: ServiceEmail, Role: auth.RoleService, Issuer: issuer}},
		{name: "service clinic ignored", claims: Claims{Subject: "push", Role: auth.RoleService, Email: ServiceEmail, EmailVerified: true, ClinicID: "demo-north"},
			want: auth.Principal{Subject: "push", Email: ServiceEmail, Role: auth.RoleService, Issuer: issuer}},
		{name: "service with another email", claims: Claims{Subject: "push", Role: auth.RoleService, Email: "other@x.iam.gserviceaccount.com", EmailVerified: true},
			wantErr: auth.ErrEmailNotAllowed},
		{name: "service unverified", claims: Claims{Subject: "push", Role: auth.RoleService, Email: ServiceEmail},
			wantErr: auth.ErrEmailNotVerified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := st.iss.Mint(tc.claims, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			p, err := st.v.Verify(ctx, tok)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || p != tc.want {
				t.Fatalf("Verify = %+v, %v; want %+v", p, err, tc.want)
			}
		})
	}

	t.Run("MintService", func(t *testing.T) {
		tok, err := st.iss.MintService(time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := st.v.Verify(ctx, tok); err != nil || p.Role != auth.RoleService {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
	})

	t.Run("token claims and header", func(t *testing.T) {
		tok, err := st.iss.MintDemoPractitioner("demo-south")
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if h := parsed.Signatures[0].Header; h.KeyID == "" || h.Algorithm != "ES256" {
			t.Fatalf("header = %+v", h)
		}
		var c map[string]any
		if err := json.Unmarshal(parsed.UnsafePayloadWithoutVerification(), &c); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"iss", "aud", "iat", "exp", "sub", "clinic_id", "role", "email", "email_verified"} {
			if _, ok := c[k]; !ok {
				t.Errorf("claim %s missing from %v", k, c)
			}
		}
		if c["aud"] != Audience || c["iss"] != issuer {
			t.Errorf("aud/iss = %v/%v", c["aud"], c["iss"])
		}
		if life := c["exp"].(float64) - c["iat"].(float64); life != TokenTTL.Seconds() {
			t.Errorf("lifetime = %vs, want %v", life, TokenTTL)
		}
	})
}

func TestDevIssuerMintRefusesBadClaims(t *testing.T) {
	iss, err := Open(filepath.Join(t.TempDir(), "k.pem"), "http://127.0.0.1:1/dev-issuer", Audience)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    Claims
		ttl  time.Duration
	}{
		{"no ttl", Claims{Subject: "s", Role: auth.RoleLab}, 0},
		{"no subject", Claims{Role: auth.RoleLab}, time.Hour},
		{"no role", Claims{Subject: "s"}, time.Hour},
		{"unknown role", Claims{Subject: "s", Role: "admin"}, time.Hour},
		{"practitioner without clinic", Claims{Subject: "s", Role: auth.RolePractitioner}, time.Hour},
		{"bad clinic", Claims{Subject: "s", Role: auth.RolePractitioner, ClinicID: "a/b"}, time.Hour},
		{"service without email", Claims{Subject: "s", Role: auth.RoleService}, time.Hour},
		{"longer than the cap", Claims{Subject: "s", Role: auth.RoleLab}, auth.DefaultMaxLifetime + time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := iss.Mint(tc.c, tc.ttl); !errs.Is(errs.Invalid, err) {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
	}
}

// The issuer signs nothing its verifier refuses for its lifetime: its cap
// follows the verifier's, and the demo tokens shorten to fit a lower one.
func TestDevIssuerTokensWithinTheLifetimeCap(t *testing.T) {
	st := newDevStack(t, filepath.Join(t.TempDir(), "k.pem"))
	if TokenTTL > auth.DefaultMaxLifetime || st.iss.DemoTTL() != TokenTTL {
		t.Fatalf("demo tokens live %v, the default cap is %v", st.iss.DemoTTL(), auth.DefaultMaxLifetime)
	}
	tok, err := st.iss.MintDemoPractitioner("demo-north")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("a demo token: %v", err)
	}
	if err := st.iss.SetMaxTTL(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if st.iss.DemoTTL() != 2*time.Hour {
		t.Fatalf("demo TTL under a 2 h cap: %v", st.iss.DemoTTL())
	}
	if _, err := st.iss.Mint(Claims{Subject: "s", Role: auth.RoleLab}, 3*time.Hour); !errs.Is(errs.Invalid, err) {
		t.Fatalf("a 3 h token under a 2 h cap: %v", err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{st.iss.IssuerConfig(st.srv.URL + JWKSPath)}, MaxLifetime: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err = st.iss.MintDemoPractitioner("demo-north"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("a demo token under a 2 h cap: %v", err)
	}
	for _, d := range []time.Duration{0, time.Minute, 30 * 24 * time.Hour} {
		if err := st.iss.SetMaxTTL(d); !errs.Is(errs.Invalid, err) {
			t.Errorf("SetMaxTTL(%v): %v", d, err)
		}
	}
}

func TestDevIssuerPersistence(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "state", "auth", "dev-issuer.pem")
	first := newDevStack(t, keyPath)
	tok, err := first.iss.MintDemoPractitioner("demo-north")
	if err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(filepath.Dir(keyPath)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode = %v, %v; want 0700", di.Mode().Perm(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(keyPath), ".devkey-*")); len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}

	t.Run("same key path: old token still verifies", func(t *testing.T) {
		again := newDevStack(t, keyPath) // a restart: new process, new port
		// The restarted stack has a new base URL; mint-time iss differs, so
		// verify with a verifier trusting the old issuer URL but fetching
		// the reopened issuer's JWKS.
		cfg := again.iss.IssuerConfig(again.srv.URL + JWKSPath)
		cfg.Issuer = first.iss.Issuer()
		v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{cfg}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("token from before the restart: %v", err)
		}
	})
	t.Run("other key path: old token refused", func(t *testing.T) {
		other := newDevStack(t, filepath.Join(dir, "other.pem"))
		cfg := other.iss.IssuerConfig(other.srv.URL + JWKSPath)
		cfg.Issuer = first.iss.Issuer()
		v, err := auth.NewVerifier(auth.Config{Issuers: []auth.IssuerConfig{cfg}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, auth.ErrUnknownKey) {
			t.Fatalf("err = %v, want unknown signing key", err)
		}
	})
}

func TestOpenKeyFiles(t *testing.T) {
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rsaPath := write("rsa.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)

	t.Run("RS256 key", func(t *testing.T) {
		st := newDevStack(t, rsaPath)
		tok, err := st.iss.MintDemoPractitioner("demo-north")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"`))) {
			t.Errorf("token header is not RS256")
		}
		if _, err := st.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	})
	bad := []struct {
		name, path, issuer, aud string
	}{
		{"world-readable key", write("loose.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o644), "http://127.0.0.1/dev-issuer", Audience},
		{"not PEM", write("junk.pem", []byte("hello"), 0o600), "http://127.0.0.1/dev-issuer", Audience},
		{"wrong PEM type", write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), 0o600), "http://127.0.0.1/dev-issuer", Audience},
		{"broken PKCS#8", write("broken.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), 0o600), "http://127.0.0.1/dev-issuer", Audience},
		{"empty path", "", "http://127.0.0.1/dev-issuer", Audience},
		{"relative issuer", filepath.Join(dir, "new.pem"), "/dev-issuer", Audience},
		{"empty audience", filepath.Join(dir, "new.pem"), "http://127.0.0.1/dev-issuer", ""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.path, tc.issuer, tc.aud); !errs.Is(errs.Invalid, err) {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
	}
}

func TestJWKSHandler(t *testing.T) {
	iss, err := Open(filepath.Join(t.TempDir(), "k.pem"), "http://127.0.0.1/dev-issuer", Audience)
	if err != nil {
		t.Fatal(err)
	}
	h := iss.JWKSHandler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", JWKSPath, nil))
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "max-age=300") {
		t.Fatalf("GET: %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].KeyID == "" || set.Keys[0].Algorithm != "ES256" {
		t.Fatalf("key set = %+v", set)
	}
	if strings.Contains(rec.Body.String(), `"d"`) {
		t.Fatal("JWKS leaks the private key")
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", JWKSPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}
