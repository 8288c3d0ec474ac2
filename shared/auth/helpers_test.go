package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Test keys are generated once per test binary; RSA generation is slow.
var (
	keysOnce sync.Once
	ecKeys   []*ecdsa.PrivateKey
	rsaKeys  []*rsa.PrivateKey
)

func testKeys() ([]*ecdsa.PrivateKey, []*rsa.PrivateKey) {
	keysOnce.Do(func() {
		for range 4 {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			ecKeys = append(ecKeys, k)
		}
		for range 2 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys = append(rsaKeys, k)
		}
	})
	return ecKeys, rsaKeys
}

// jwksServer is an httptest JWKS endpoint whose key set, headers and health
// the test controls, and which counts fetches.
type jwksServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	cc      string // Cache-Control
	status  int
	delay   time.Duration
	hold    chan struct{} // when set, each fetch waits for a value or its client to give up
	fetches atomic.Int32
}

func newJWKSServer(t testing.TB) *jwksServer {
	s := &jwksServer{cc: "public, max-age=3600", status: http.StatusOK}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		keys := append([]jose.JSONWebKey(nil), s.keys...)
		cc, status, delay, hold := s.cc, s.status, s.delay, s.hold
		s.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		if status != http.StatusOK {
			http.Error(w, "down", status)
			return
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// waitFor polls cond for up to 10 s, failing the test if it never holds.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
	}
}

func (s *jwksServer) URL() string { return s.srv.URL + "/jwks.json" }

func (s *jwksServer) add(kid string, pub crypto.PublicKey, alg jose.SignatureAlgorithm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(alg), Use: "sig"})
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// signJWT signs claims with key as a compact JWS carrying kid.
func signJWT(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawJWT assembles a compact JWS from a JSON header and payload and a MAC
// or an empty signature, for hostile tokens go-jose will not produce.
func rawJWT(t testing.TB, header, payload map[string]any, hmacSecret []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(h) + "." + b64(p)
	sig := ""
	if hmacSecret != nil {
		m := hmac.New(sha256.New, hmacSecret)
		m.Write([]byte(input))
		sig = b64(m.Sum(nil))
	}
	return input + "." + sig
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// with returns a copy of m with the given changes; a nil value deletes.
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
		} else {
			out[k] = kv[i+1]
		}
	}
	return out
}
