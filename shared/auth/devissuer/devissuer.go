package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
)

// Conventions of the local stack's development issuer.
const (
	// Path is where the local stack mounts the issuer: its issuer
	// URL is <base>/dev-issuer.
	Path = "/dev-issuer"
	// JWKSPath is where the local stack serves JWKSHandler.
	JWKSPath = Path + "/jwks.json"
	// Audience is the audience of every development token.
	Audience = "lensflow-local"
	// ServiceEmail is the service account the local push delivery and
	// scheduler present; auth.IssuerConfig allows it for role "service".
	ServiceEmail = "push@lensflow-local.iam.gserviceaccount.com"
	// TokenTTL is the lifetime of the demo tokens the local stack
	// prints: the longest the Verifier accepts by default (a lower cap
	// shortens them to it, see DemoTTL).
	TokenTTL = auth.DefaultMaxLifetime
)

// Clinics are the demo clinics the local stack mints practitioner tokens for.
var Clinics = []string{"demo-north", "demo-south"}

// Claims are what Issuer.Mint puts in a token besides iss, aud, iat and exp.
type Claims struct {
	Subject       string
	ClinicID      string
	Role          auth.Role
	Email         string
	EmailVerified bool
}

// Issuer is the local stack's token issuer: an ES256 (or RS256) key kept
// in a file, a JWKS for the Verifier to fetch, and a minting function. It
// exists so that local runs go through the very same Verifier as
// production; it is never configured in a deployed service.
type Issuer struct {
	issuer   string
	audience string
	signer   jose.Signer
	jwks     []byte
	now      func() time.Time
	maxTTL   time.Duration // the longest lifetime Mint gives a token
}

// Open loads the signing key at keyPath, or on first run creates an
// ES256 key there (directory 0700, file 0600, written atomically), so tokens
// survive restarts. The file holds a PKCS#8 PEM "PRIVATE KEY", ECDSA P-256 or
// RSA >= 2048 bits. issuerURL becomes every token's iss, audience its aud.
func Open(keyPath, issuerURL, audience string) (*Issuer, error) {
	const op = "devissuer.Open"
	if keyPath == "" {
		return nil, errs.Ef(op, errs.Invalid, "empty key path")
	}
	if u, err := url.Parse(issuerURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errs.Ef(op, errs.Invalid, "issuer URL %q is not an absolute http(s) URL", issuerURL)
	}
	if audience == "" {
		return nil, errs.Ef(op, errs.Invalid, "empty audience")
	}
	key, err := loadOrCreateKey(keyPath)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	return newIssuer(key, issuerURL, audience)
}

func newIssuer(key crypto.Signer, issuerURL, audience string) (*Issuer, error) {
	const op = "devissuer.Open"
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errs.Ef(op, errs.Invalid, "ECDSA key must be P-256")
		}
		alg = jose.ES256
	case *rsa.PrivateKey:
		if k.N.BitLen() < auth.MinRSABits {
			return nil, errs.Ef(op, errs.Invalid, "RSA key must have at least %d bits", auth.MinRSABits)
		}
		alg = jose.RS256
	default:
		return nil, errs.Ef(op, errs.Invalid, "key type %T is not ECDSA or RSA", key)
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(alg), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	// The kid is the RFC 7638 thumbprint: stable across restarts, and a new
	// key gets a new kid.
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	return &Issuer{issuer: issuerURL, audience: audience, signer: signer, jwks: jwks, now: time.Now, maxTTL: auth.DefaultMaxLifetime}, nil
}

// loadOrCreateKey reads the PEM key at path, creating it first if absent.
func loadOrCreateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKey(path); err != nil {
			return nil, err
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, errs.E("devissuer.loadKey", errs.Other, err)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, errs.Ef("devissuer.loadKey", errs.Invalid, "key file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
		}
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errs.Ef("devissuer.loadKey", errs.Invalid, "key file %s holds no PKCS#8 PEM private key", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errs.Ef("devissuer.loadKey", errs.Invalid, "key file %s: %w", path, err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, errs.Ef("devissuer.loadKey", errs.Invalid, "key file %s: unsupported key type %T", path, parsed)
	}
	return signer, nil
}

// createKey writes a fresh P-256 key to path atomically: a temp file in the
// same directory, synced, then linked into place so that two processes
// starting at once agree on one key (the loser reads the winner's).
func createKey(path string) error {
	const op = "devissuer.createKey"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return errs.E(op, errs.Other, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return errs.E(op, errs.Other, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errs.E(op, errs.Other, err)
	}
	tmp, err := os.CreateTemp(dir, ".devkey-*")
	if err != nil {
		return errs.E(op, errs.Other, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a link or a failure; harmless after rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return errs.E(op, errs.Other, err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return errs.E(op, errs.Other, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return errs.E(op, errs.Other, err)
	}
	if err := tmp.Close(); err != nil {
		return errs.E(op, errs.Other, err)
	}
	// Link refuses to replace an existing file: the first writer wins.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		// Filesystems without hard links: fall back to rename.
		if err := os.Rename(tmpName, path); err != nil {
			return errs.E(op, errs.Other, err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable; best effort
		d.Close()
	}
	return nil
}

// Issuer returns the issuer URL (the tokens' iss).
func (d *Issuer) Issuer() string { return d.issuer }

// JWKSHandler serves the issuer's public key set (GET or HEAD) with
// Cache-Control max-age=300.
func (d *Issuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(d.jwks)
	})
}

// auth.IssuerConfig returns the Verifier configuration that trusts this issuer,
// its keys fetched from jwksURL (normally <base>/dev-issuer/jwks.json).
// Its Kind is auth.AnyTokens: a token's role claim decides whether it is checked
// as a user token (practitioner with clinic_id, or lab) or as a service
// token (email ServiceEmail, email_verified true), so the one local
// issuer signs both clinic users' tokens and the push delivery's.
func (d *Issuer) IssuerConfig(jwksURL string) auth.IssuerConfig {
	return auth.IssuerConfig{
		Issuer:        d.issuer,
		Audiences:     []string{d.audience},
		JWKSURL:       jwksURL,
		Kind:          auth.AnyTokens,
		AllowedEmails: []string{ServiceEmail},
	}
}

// SetMaxTTL sets the longest lifetime Mint gives a token (default
// auth.DefaultMaxLifetime): the Verifier's Config.MaxLifetime, so that the
// issuer never signs a token its verifier refuses. Call it before minting.
func (d *Issuer) SetMaxTTL(max time.Duration) error {
	if err := auth.CheckMaxLifetime(max); err != nil {
		return errs.E("devissuer.Issuer.SetMaxTTL", errs.Invalid, err)
	}
	d.maxTTL = max
	return nil
}

// DemoTTL is the lifetime of the demo tokens: TokenTTL, or the issuer's
// maximum if that is shorter.
func (d *Issuer) DemoTTL() time.Duration { return min(TokenTTL, d.maxTTL) }

// mintedClaims is the payload Mint signs.
type mintedClaims struct {
	jwt.Claims
	ClinicID      string    `json:"clinic_id,omitempty"`
	Role          auth.Role `json:"role"`
	Email         string    `json:"email,omitempty"`
	EmailVerified bool      `json:"email_verified"`
}

// Mint signs a token for c valid for ttl from now. It refuses claims the
// Verifier would refuse (no subject, unknown role, practitioner without a
// clinic, service without an email) and a ttl beyond the issuer's maximum
// (SetMaxTTL), so mistakes show up at the mint.
func (d *Issuer) Mint(c Claims, ttl time.Duration) (string, error) {
	const op = "devissuer.Mint"
	switch {
	case ttl <= 0:
		return "", errs.Ef(op, errs.Invalid, "ttl must be positive")
	case ttl > d.maxTTL:
		return "", errs.Ef(op, errs.Invalid, "ttl %v exceeds the maximum token lifetime %v", ttl, d.maxTTL)
	case c.Subject == "":
		return "", errs.Ef(op, errs.Invalid, "empty subject")
	case !c.Role.Valid():
		return "", errs.Ef(op, errs.Invalid, "unknown role %q", c.Role)
	case c.Role == auth.RolePractitioner && c.ClinicID == "":
		return "", errs.Ef(op, errs.Invalid, "a practitioner needs a clinic")
	case c.ClinicID != "" && !auth.ValidClinicID(c.ClinicID):
		return "", errs.Ef(op, errs.Invalid, "invalid clinic id")
	case c.Role == auth.RoleService && c.Email == "":
		return "", errs.Ef(op, errs.Invalid, "a service token needs an email")
	}
	now := d.now()
	claims := mintedClaims{
		Claims: jwt.Claims{
			Issuer:   d.issuer,
			Subject:  c.Subject,
			Audience: jwt.Audience{d.audience},
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(now.Add(ttl)),
		},
		ClinicID:      c.ClinicID,
		Role:          c.Role,
		Email:         c.Email,
		EmailVerified: c.EmailVerified,
	}
	tok, err := jwt.Signed(d.signer).Claims(claims).Serialize()
	if err != nil {
		return "", errs.E(op, errs.Other, err)
	}
	return tok, nil
}

// MintDemoPractitioner mints a DemoTTL practitioner token for clinicID
// (one of Clinics in the local stack), subject "<clinic>-practitioner".
func (d *Issuer) MintDemoPractitioner(clinicID string) (string, error) {
	return d.Mint(Claims{
		Subject:       clinicID + "-practitioner",
		ClinicID:      clinicID,
		Role:          auth.RolePractitioner,
		Email:         "practitioner@" + clinicID + ".example",
		EmailVerified: true,
	}, d.DemoTTL())
}

// MintService mints a service token as ServiceEmail, as the local push
// delivery and scheduler present.
func (d *Issuer) MintService(ttl time.Duration) (string, error) {
	return d.Mint(Claims{
		Subject:       "local-push",
		Role:          auth.RoleService,
		Email:         ServiceEmail,
		EmailVerified: true,
	}, ttl)
}

// String describes the issuer without any key material.
func (d *Issuer) String() string {
	return fmt.Sprintf("Issuer(%s, aud %s)", d.issuer, d.audience)
}
