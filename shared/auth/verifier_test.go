package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lensflow/lensflow/shared/errs"
)

const (
	testProject = "lensflow-test"
	userIss     = "https://securetoken.google.com/" + testProject
	svcAud      = "https://events.lensflow.test/push"
	svcEmail    = "push@lensflow-test.iam.gserviceaccount.com"
)

// fixture is a Verifier trusting a test Identity Platform issuer and a test
// Google OIDC issuer, each with its own JWKS server and keys.
type fixture struct {
	v     *Verifier
	clock *clock
	user  *jwksServer // kids u-ec (ES256), u-rsa (RS256)
	svc   *jwksServer // kids s-ec (ES256), s-rsa (RS256)
}

func newFixture(t testing.TB, configure ...func(*Config)) *fixture {
	t.Helper()
	ec, rs := testKeys()
	f := &fixture{clock: newClock(), user: newJWKSServer(t), svc: newJWKSServer(t)}
	f.user.add("u-ec", ec[0].Public(), jose.ES256)
	f.user.add("u-rsa", rs[0].Public(), jose.RS256)
	f.svc.add("s-ec", ec[1].Public(), jose.ES256)
	f.svc.add("s-rsa", rs[1].Public(), jose.RS256)
	ip := IdentityPlatform(testProject)
	ip.JWKSURL = f.user.URL()
	g := GoogleOIDC([]string{svcAud}, []string{svcEmail})
	g.JWKSURL = f.svc.URL()
	cfg := Config{Issuers: []IssuerConfig{ip, g}, Now: f.clock.Now}
	for _, c := range configure {
		c(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

func userClaims() map[string]any {
	return map[string]any{
		"iss": userIss, "aud": testProject, "sub": "uid-1",
		"iat": t0.Add(-time.Minute).Unix(), "exp": t0.Add(time.Hour).Unix(),
		"auth_time": t0.Add(-time.Hour).Unix(),
		"clinic_id": "clinic-a", "role": "practitioner",
		"email": "dr@clinic-a.example", "email_verified": true,
	}
}

func svcClaims() map[string]any {
	return map[string]any{
		"iss": "https://accounts.google.com", "aud": svcAud, "sub": "1234567890",
		"azp": "1234567890", "iat": t0.Add(-time.Minute).Unix(), "exp": t0.Add(time.Hour).Unix(),
		"email": svcEmail, "email_verified": true,
	}
}

func TestVerify(t *testing.T) {
	ec, rs := testKeys()
	userEC := func(c map[string]any) func(testing.TB) string {
		return func(t testing.TB) string { return signJWT(t, ec[0], jose.ES256, "u-ec", c) }
	}
	svcEC := func(c map[string]any) func(testing.TB) string {
		return func(t testing.TB) string { return signJWT(t, ec[1], jose.ES256, "s-ec", c) }
	}
	const rsaPubPEMKid = "u-rsa"
	rsaPubDER, err := x509.MarshalPKIXPublicKey(rs[0].Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPubDER})

	practitioner := Principal{Subject: "uid-1", Email: "dr@clinic-a.example", ClinicID: "clinic-a", Role: RolePractitioner, Issuer: userIss}
	service := Principal{Subject: "1234567890", Email: svcEmail, Role: RoleService, Issuer: "https://accounts.google.com"}

	tests := []struct {
		name     string
		token    func(testing.TB) string
		want     Principal
		wantErr  error     // the reason; nil means success
		wantKind errs.Kind // defaults to Unauthenticated on error
	}{
		{name: "valid practitioner ES256", token: userEC(userClaims()), want: practitioner},
		{name: "valid practitioner RS256", token: func(t testing.TB) string {
			return signJWT(t, rs[0], jose.RS256, "u-rsa", userClaims())
		}, want: practitioner},
		{name: "valid lab without clinic", token: userEC(with(userClaims(), "role", "lab", "clinic_id", nil)),
			want: Principal{Subject: "uid-1", Email: "dr@clinic-a.example", Role: RoleLab, Issuer: userIss}},
		{name: "audience list containing ours", token: userEC(with(userClaims(), "aud", []string{"other", testProject})), want: practitioner},
		{name: "lifetime exactly the cap", token: userEC(with(userClaims(), "iat", t0.Add(-time.Hour).Unix(), "exp", t0.Add(DefaultMaxLifetime-time.Hour).Unix())), want: practitioner},
		{name: "expired within leeway", token: userEC(with(userClaims(), "exp", t0.Add(-30*time.Second).Unix())), want: practitioner},
		{name: "iat slightly ahead within leeway", token: userEC(with(userClaims(), "iat", t0.Add(30*time.Second).Unix())), want: practitioner},
		{name: "valid service", token: svcEC(svcClaims()), want: service},
		{name: "valid service RS256", token: func(t testing.TB) string {
			return signJWT(t, rs[1], jose.RS256, "s-rsa", svcClaims())
		}, want: service},
		{name: "service iss without scheme", token: svcEC(with(svcClaims(), "iss", "accounts.google.com")), want: service},
		{name: "service email in other case", token: svcEC(with(svcClaims(), "email", strings.ToUpper(svcEmail))),
			want: Principal{Subject: "1234567890", Email: strings.ToUpper(svcEmail), Role: RoleService, Issuer: "https://accounts.google.com"}},
		{name: "service email_verified as string", token: svcEC(with(svcClaims(), "email_verified", "true")), want: service},
		{name: "service ignores clinic and role claims", token: svcEC(with(svcClaims(), "clinic_id", "clinic-a", "role", "practitioner")), want: service},

		{name: "no token", token: func(testing.TB) string { return "" }, wantErr: ErrMissingToken},
		{name: "garbage", token: func(testing.TB) string { return "not a token at all" }, wantErr: ErrMalformedToken},
		{name: "two segments", token: func(t testing.TB) string {
			tok := userEC(userClaims())(t)
			return tok[:strings.LastIndex(tok, ".")]
		}, wantErr: ErrMalformedToken},
		{name: "four segments", token: func(t testing.TB) string { return userEC(userClaims())(t) + ".AAAA" }, wantErr: ErrMalformedToken},
		{name: "bad base64 header", token: func(testing.TB) string { return "!!!.###.$$$" }, wantErr: ErrMalformedToken},
		{name: "bad base64 payload", token: func(t testing.TB) string {
			parts := strings.Split(userEC(userClaims())(t), ".")
			return parts[0] + ".%%%%." + parts[2]
		}, wantErr: ErrMalformedToken},
		{name: "payload not JSON", token: func(t testing.TB) string {
			parts := strings.Split(userEC(userClaims())(t), ".")
			return parts[0] + "." + b64([]byte("[1,2")) + "." + parts[2]
		}, wantErr: ErrMalformedToken},
		{name: "header not JSON", token: func(testing.TB) string { return b64([]byte("{")) + ".e30.AAAA" }, wantErr: ErrMalformedToken},
		{name: "oversized", token: func(testing.TB) string { return strings.Repeat("a", maxTokenLen+1) }, wantErr: ErrMalformedToken},
		{name: "expired", token: userEC(with(userClaims(), "exp", t0.Add(-2*time.Minute).Unix())), wantErr: ErrExpired},
		{name: "no exp", token: userEC(with(userClaims(), "exp", nil)), wantErr: ErrMissingExpiry},
		{name: "exp not a number", token: userEC(with(userClaims(), "exp", "tomorrow")), wantErr: ErrMalformedToken},
		{name: "exp absurdly large", token: userEC(with(userClaims(), "exp", 1e300)), wantErr: ErrMalformedToken},
		{name: "aud not a string", token: userEC(with(userClaims(), "aud", 42)), wantErr: ErrMalformedToken},
		{name: "email_verified not a boolean", token: svcEC(with(svcClaims(), "email_verified", "yes")), wantErr: ErrMalformedToken},
		{name: "clinic_id not a string", token: userEC(with(userClaims(), "clinic_id", 7)), wantErr: ErrMalformedToken},
		{name: "not yet valid", token: userEC(with(userClaims(), "nbf", t0.Add(5*time.Minute).Unix())), wantErr: ErrNotYetValid},
		// go-oidc lets nbf be 5 minutes ahead; lensflow allows only the leeway.
		{name: "nbf past the leeway, within go-oidc's allowance", token: userEC(with(userClaims(), "nbf", t0.Add(defaultLeeway+time.Minute).Unix())), wantErr: ErrNotYetValid},
		{name: "nbf within the leeway", token: userEC(with(userClaims(), "nbf", t0.Add(defaultLeeway-time.Second).Unix())), want: practitioner},
		{name: "iat in future", token: userEC(with(userClaims(), "iat", t0.Add(5*time.Minute).Unix())), wantErr: ErrIssuedInFuture},
		{name: "auth_time in future", token: userEC(with(userClaims(), "auth_time", t0.Add(5*time.Minute).Unix())), wantErr: ErrIssuedInFuture},
		{name: "no iat", token: userEC(with(userClaims(), "iat", nil)), wantErr: ErrMissingIssuedAt},
		{name: "lifetime just over the cap", token: userEC(with(userClaims(), "iat", t0.Add(-time.Hour).Unix(), "exp", t0.Add(DefaultMaxLifetime-time.Hour+time.Second).Unix())), wantErr: ErrLifetimeTooLong},
		{name: "a month-long token on its first day", token: userEC(with(userClaims(), "iat", t0.Add(-time.Minute).Unix(), "exp", t0.Add(30*24*time.Hour).Unix())), wantErr: ErrLifetimeTooLong},
		{name: "a long-lived token near its end", token: userEC(with(userClaims(), "iat", t0.Add(-29*24*time.Hour).Unix(), "exp", t0.Add(time.Minute).Unix())), wantErr: ErrLifetimeTooLong},
		{name: "lab token over the cap", token: userEC(with(userClaims(), "role", "lab", "clinic_id", nil, "exp", t0.Add(48*time.Hour).Unix())), wantErr: ErrLifetimeTooLong},
		{name: "service token over the cap", token: svcEC(with(svcClaims(), "exp", t0.Add(48*time.Hour).Unix())), wantErr: ErrLifetimeTooLong},
		{name: "wrong audience", token: userEC(with(userClaims(), "aud", "other-project")), wantErr: ErrWrongAudience},
		{name: "no audience", token: userEC(with(userClaims(), "aud", nil)), wantErr: ErrWrongAudience},
		{name: "service audience on user issuer", token: userEC(with(userClaims(), "aud", svcAud)), wantErr: ErrWrongAudience},
		{name: "wrong issuer: user key claiming the service issuer", token: userEC(with(svcClaims(), "iss", "https://accounts.google.com")), wantErr: ErrUnknownKey},
		{name: "unknown issuer", token: userEC(with(userClaims(), "iss", "https://evil.example")), wantErr: ErrUnknownIssuer},
		{name: "issuer differing by trailing slash", token: userEC(with(userClaims(), "iss", userIss+"/")), wantErr: ErrUnknownIssuer},
		{name: "no issuer", token: userEC(with(userClaims(), "iss", nil)), wantErr: ErrUnknownIssuer},
		{name: "alg none", token: func(t testing.TB) string {
			return rawJWT(t, map[string]any{"alg": "none", "kid": "u-ec", "typ": "JWT"}, userClaims(), nil)
		}, wantErr: ErrUnsupportedAlg},
		{name: "alg None mixed case", token: func(t testing.TB) string {
			return rawJWT(t, map[string]any{"alg": "None", "kid": "u-ec"}, userClaims(), nil)
		}, wantErr: ErrUnsupportedAlg},
		{name: "HS256 with the public key as secret", token: func(t testing.TB) string {
			return rawJWT(t, map[string]any{"alg": "HS256", "kid": rsaPubPEMKid, "typ": "JWT"}, userClaims(), rsaPubPEM)
		}, wantErr: ErrUnsupportedAlg},
		{name: "HS256 with the DER public key as secret", token: func(t testing.TB) string {
			return rawJWT(t, map[string]any{"alg": "HS256", "kid": rsaPubPEMKid}, userClaims(), rsaPubDER)
		}, wantErr: ErrUnsupportedAlg},
		{name: "PS256 not allowed", token: func(t testing.TB) string {
			return signJWT(t, rs[0], jose.PS256, "u-rsa", userClaims())
		}, wantErr: ErrUnsupportedAlg},
		{name: "no alg", token: func(t testing.TB) string {
			return rawJWT(t, map[string]any{"kid": "u-ec"}, userClaims(), nil)
		}, wantErr: ErrUnsupportedAlg},
		{name: "missing kid", token: func(t testing.TB) string {
			return signJWT(t, ec[0], jose.ES256, "", userClaims())
		}, wantErr: ErrMissingKeyID},
		{name: "unknown kid", token: func(t testing.TB) string {
			return signJWT(t, ec[2], jose.ES256, "nobody", userClaims())
		}, wantErr: ErrUnknownKey},
		{name: "known kid, other key", token: func(t testing.TB) string {
			return signJWT(t, ec[2], jose.ES256, "u-ec", userClaims())
		}, wantErr: ErrBadSignature},
		{name: "ES256 header on the RSA key's kid", token: func(t testing.TB) string {
			return signJWT(t, ec[0], jose.ES256, "u-rsa", userClaims())
		}, wantErr: ErrBadSignature},
		{name: "tampered payload", token: func(t testing.TB) string {
			parts := strings.Split(userEC(userClaims())(t), ".")
			forged := userEC(with(userClaims(), "clinic_id", "clinic-b"))(t)
			return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
		}, wantErr: ErrBadSignature},
		{name: "truncated signature", token: func(t testing.TB) string {
			tok := userEC(userClaims())(t)
			return tok[:len(tok)-4]
		}, wantErr: ErrBadSignature},
		{name: "empty signature", token: func(t testing.TB) string {
			tok := userEC(userClaims())(t)
			return tok[:strings.LastIndex(tok, ".")+1]
		}, wantErr: ErrBadSignature},
		{name: "missing sub", token: userEC(with(userClaims(), "sub", nil)), wantErr: ErrMissingSubject},
		{name: "practitioner without clinic_id", token: userEC(with(userClaims(), "clinic_id", nil)), wantErr: ErrMissingClinic},
		{name: "practitioner with empty clinic_id", token: userEC(with(userClaims(), "clinic_id", "")), wantErr: ErrMissingClinic},
		{name: "clinic_id with a slash", token: userEC(with(userClaims(), "clinic_id", "clinic-a/../b")), wantErr: ErrInvalidClinic},
		{name: "no role", token: userEC(with(userClaims(), "role", nil)), wantErr: ErrInvalidRole},
		{name: "unknown role", token: userEC(with(userClaims(), "role", "admin")), wantErr: ErrInvalidRole},
		{name: "role in other case", token: userEC(with(userClaims(), "role", "Practitioner")), wantErr: ErrInvalidRole},
		{name: "user token claiming service", token: userEC(with(userClaims(), "role", "service")), wantErr: ErrInvalidRole},
		{name: "service email not allowed", token: svcEC(with(svcClaims(), "email", "intruder@evil.iam.gserviceaccount.com")), wantErr: ErrEmailNotAllowed},
		{name: "service without email", token: svcEC(with(svcClaims(), "email", nil)), wantErr: ErrEmailNotAllowed},
		{name: "service email_verified false", token: svcEC(with(svcClaims(), "email_verified", false)), wantErr: ErrEmailNotVerified},
		{name: "service email_verified missing", token: svcEC(with(svcClaims(), "email_verified", nil)), wantErr: ErrEmailNotVerified},
		{name: "service wrong audience", token: svcEC(with(svcClaims(), "aud", "https://other.example")), wantErr: ErrWrongAudience},
		{name: "service token signed by the user issuer's key", token: func(t testing.TB) string {
			return signJWT(t, ec[0], jose.ES256, "s-ec", svcClaims())
		}, wantErr: ErrBadSignature},
	}
	f := newFixture(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token(t)
			got, err := f.v.Verify(context.Background(), tok)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got != tc.want {
					t.Fatalf("principal = %+v, want %+v", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify succeeded with %+v, want %v", got, tc.wantErr)
			}
			if got != (Principal{}) {
				t.Errorf("principal on failure = %+v, want zero", got)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want reason %q", err, tc.wantErr)
			}
			wantKind := tc.wantKind
			if wantKind == errs.Other {
				wantKind = errs.Unauthenticated
			}
			if k := errs.KindOf(err); k != wantKind {
				t.Errorf("kind = %v, want %v", k, wantKind)
			}
			if Reason(err) != tc.wantErr.Error() {
				t.Errorf("Reason = %q, want %q", Reason(err), tc.wantErr.Error())
			}
			assertNoEcho(t, err, tok)
		})
	}
}

// assertNoEcho fails if the error text contains the token or any
// substantial piece of it.
func assertNoEcho(t testing.TB, err error, tok string) {
	t.Helper()
	msg := err.Error()
	if len(msg) > 200 {
		t.Errorf("error text is %d bytes long: %q", len(msg), msg)
	}
	for _, part := range strings.Split(tok, ".") {
		if len(part) >= 8 && strings.Contains(msg, part) {
			t.Errorf("error %q echoes the token", msg)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	ec, _ := testKeys()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.v.Verify(ctx, signJWT(t, ec[0], jose.ES256, "u-ec", userClaims())); err != nil {
		t.Fatal(err)
	}
	if n := f.user.fetches.Load(); n != 1 {
		t.Fatalf("fetches after first verify = %d, want 1", n)
	}

	// The issuer rotates in a new key. Within 30 s of the last fetch an
	// unknown kid does not refetch.
	f.user.add("u-new", ec[3].Public(), jose.ES256)
	rotated := signJWT(t, ec[3], jose.ES256, "u-new", userClaims())
	f.clock.Advance(10 * time.Second)
	if _, err := f.v.Verify(ctx, rotated); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("rotated key within 30 s: err = %v, want unknown key", err)
	}
	if n := f.user.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (refresh throttled)", n)
	}

	// After 30 s the unknown kid triggers one refresh and the new key works.
	f.clock.Advance(21 * time.Second)
	if _, err := f.v.Verify(ctx, rotated); err != nil {
		t.Fatalf("rotated key after refresh: %v", err)
	}
	if n := f.user.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}

	// A flood of bogus kids costs at most one fetch per 30 s.
	bogus := signJWT(t, ec[2], jose.ES256, "bogus", userClaims())
	f.clock.Advance(31 * time.Second)
	for range 20 {
		if _, err := f.v.Verify(ctx, bogus); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("bogus kid: err = %v, want unknown key", err)
		}
	}
	if n := f.user.fetches.Load(); n != 3 {
		t.Fatalf("fetches after bogus flood = %d, want 3", n)
	}
	// Both old and new keys still verify from the cache.
	for _, tok := range []string{rotated, signJWT(t, ec[0], jose.ES256, "u-ec", userClaims())} {
		if _, err := f.v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.user.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
	// The service issuer's keys were never needed.
	if n := f.svc.fetches.Load(); n != 0 {
		t.Fatalf("service JWKS fetches = %d, want 0 (lazy)", n)
	}
}

func TestKeyRemovedAfterRotation(t *testing.T) {
	ec, _ := testKeys()
	f := newFixture(t)
	ctx := context.Background()
	tok := signJWT(t, ec[0], jose.ES256, "u-ec", with(userClaims(), "exp", t0.Add(3*time.Hour).Unix()))
	if _, err := f.v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// The issuer withdraws u-ec; once the cached set expires (max-age 1 h),
	// tokens signed with it fail.
	f.user.set(func(s *jwksServer) { s.keys = s.keys[1:] })
	f.clock.Advance(time.Hour + time.Second)
	if _, err := f.v.Verify(ctx, tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("withdrawn key: err = %v, want unknown key", err)
	}
}

// TestSmallRSAKeysAreDropped: an RSA key under MinRSABits in a JWKS is
// not used, so a token signed with it names an unknown key.
func TestSmallRSAKeysAreDropped(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	f.user.add("u-small", small.Public(), jose.RS256)
	tok := signJWT(t, small, jose.RS256, "u-small", userClaims())
	if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token signed with a 1024-bit key: err = %v, want unknown key", err)
	}
}

// TestBogusKidsWhileTheKeyServerFails: a failed fetch for an unknown kid
// does not lift the refresh throttle; a stream of bogus kids costs at most
// one fetch per 30 s even while the key server is failing, and the keys
// already held keep working.
func TestBogusKidsWhileTheKeyServerFails(t *testing.T) {
	ec, _ := testKeys()
	f := newFixture(t)
	ctx := context.Background()
	good := signJWT(t, ec[0], jose.ES256, "u-ec", with(userClaims(), "exp", t0.Add(2*time.Hour).Unix()))
	if _, err := f.v.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}
	f.user.set(func(s *jwksServer) { s.status = http.StatusServiceUnavailable })
	f.clock.Advance(minRefreshInterval + time.Second)
	bogus := signJWT(t, ec[2], jose.ES256, "bogus", userClaims())
	if _, err := f.v.Verify(ctx, bogus); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("bogus kid, server failing: err = %v, want keys unavailable", err)
	}
	f.clock.Advance(failureBackoff + time.Second)
	for range 10 {
		if _, err := f.v.Verify(ctx, bogus); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("bogus kid after the backoff: err = %v, want unknown key", err)
		}
	}
	if n := f.user.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	if _, err := f.v.Verify(ctx, signJWT(t, ec[0], jose.ES256, "u-ec", with(userClaims(), "sub", "uid-2"))); err != nil {
		t.Fatalf("held key while the server fails: %v", err)
	}
}

// TestForgedSignaturesFetchNothing: tokens under a published kid with a
// signature of another key are refused from the cache; unlike go-oidc's
// RemoteKeySet, which fetches the key set again for every signature it
// cannot verify, they cost no fetch.
func TestForgedSignaturesFetchNothing(t *testing.T) {
	ec, _ := testKeys()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.v.Verify(ctx, signJWT(t, ec[0], jose.ES256, "u-ec", userClaims())); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		forged := signJWT(t, ec[2], jose.ES256, "u-ec", with(userClaims(), "sub", fmt.Sprint("forged-", i)))
		if _, err := f.v.Verify(ctx, forged); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("forged signature: err = %v, want bad signature", err)
		}
		f.clock.Advance(time.Minute) // past the unknown-kid throttle, within max-age
	}
	if n := f.user.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
}

func TestCacheControl(t *testing.T) {
	ec, _ := testKeys()
	tests := []struct {
		name      string
		cc        string
		fresh     time.Duration // still cached at this age
		refetched time.Duration // refetched at this age
	}{
		{"max-age honoured", "public, max-age=600", 599 * time.Second, 601 * time.Second},
		{"no header: default 5 min", "", defaultKeyTTL - time.Second, defaultKeyTTL + time.Second},
		{"no-cache clamps to 30 s", "no-cache, max-age=0", minKeyTTL - time.Second, minKeyTTL + time.Second},
		{"a year clamps to 24 h", "max-age=31536000", maxKeyTTL - time.Second, maxKeyTTL + time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A token that outlives the longest key cache: a 48 h
			// lifetime (and a minute), under a cap raised to allow it.
			f := newFixture(t, func(c *Config) { c.MaxLifetime = 49 * time.Hour })
			f.user.set(func(s *jwksServer) { s.cc = tc.cc })
			claims := with(userClaims(), "exp", t0.Add(48*time.Hour).Unix())
			tok := signJWT(t, ec[0], jose.ES256, "u-ec", claims)
			verify := func() {
				t.Helper()
				if _, err := f.v.Verify(context.Background(), tok); err != nil {
					t.Fatal(err)
				}
			}
			verify()
			f.clock.Advance(tc.fresh)
			verify()
			if n := f.user.fetches.Load(); n != 1 {
				t.Fatalf("fetches at age %v = %d, want 1", tc.fresh, n)
			}
			f.clock.Advance(tc.refetched - tc.fresh)
			verify()
			if n := f.user.fetches.Load(); n != 2 {
				t.Fatalf("fetches at age %v = %d, want 2", tc.refetched, n)
			}
		})
	}
}

func TestCacheTTLAge(t *testing.T) {
	h := http.Header{}
	h.Set("Cache-Control", "public, max-age=1000, must-revalidate")
	h.Set("Age", "400")
	if got := cacheTTL(h); got != 600*time.Second {
		t.Fatalf("cacheTTL = %v, want 10m", got)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	ec, _ := testKeys()
	ctx := context.Background()
	tok := signJWT(t, ec[0], jose.ES256, "u-ec", with(userClaims(), "exp", t0.Add(10*time.Hour).Unix()))

	t.Run("server error", func(t *testing.T) {
		f := newFixture(t)
		f.user.set(func(s *jwksServer) { s.status = http.StatusInternalServerError })
		_, err := f.v.Verify(ctx, tok)
		if !errs.Is(errs.Unavailable, err) || !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("err = %v (kind %v), want unavailable", err, errs.KindOf(err))
		}
		if Reason(err) != "signing keys unavailable" {
			t.Fatalf("Reason = %q", Reason(err))
		}
		// A second request right away does not hit the failing server.
		_, _ = f.v.Verify(ctx, tok)
		if n := f.user.fetches.Load(); n != 1 {
			t.Fatalf("fetches = %d, want 1 (failure backoff)", n)
		}
		// The server recovers; after the backoff the key is fetched.
		f.user.set(func(s *jwksServer) { s.status = http.StatusOK })
		f.clock.Advance(failureBackoff)
		if _, err := f.v.Verify(ctx, tok); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	})
	t.Run("server gone", func(t *testing.T) {
		f := newFixture(t)
		f.user.srv.Close()
		if _, err := f.v.Verify(ctx, tok); !errs.Is(errs.Unavailable, err) {
			t.Fatalf("err = %v (kind %v), want unavailable", err, errs.KindOf(err))
		}
	})
	t.Run("not a key set", func(t *testing.T) {
		f := newFixture(t)
		f.user.set(func(s *jwksServer) { s.keys = nil })
		if _, err := f.v.Verify(ctx, tok); !errs.Is(errs.Unavailable, err) {
			t.Fatalf("err = %v (kind %v), want unavailable", err, errs.KindOf(err))
		}
	})
	t.Run("stale keys serve while the server is down", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		f.user.set(func(s *jwksServer) { s.status = http.StatusServiceUnavailable })
		f.clock.Advance(time.Hour + time.Minute) // past max-age=3600
		if _, err := f.v.Verify(ctx, tok); err != nil {
			t.Fatalf("within stale window: %v", err)
		}
		f.clock.Advance(maxStale)
		if _, err := f.v.Verify(ctx, tok); !errs.Is(errs.Unavailable, err) {
			t.Fatalf("beyond stale window: err = %v, want unavailable", err)
		}
	})
	t.Run("a hanging server does not hold requests that have stale keys", func(t *testing.T) {
		f := newFixture(t)
		tokFor := func(sub string) string {
			return signJWT(t, ec[0], jose.ES256, "u-ec", with(userClaims(), "sub", sub, "exp", t0.Add(10*time.Hour).Unix()))
		}
		if _, err := f.v.Verify(ctx, tokFor("a")); err != nil {
			t.Fatal(err)
		}
		// The keys expire while the endpoint fails: the first request
		// finds out, and is served the stale keys.
		f.user.set(func(s *jwksServer) { s.status = http.StatusServiceUnavailable })
		f.clock.Advance(time.Hour + time.Minute)
		if _, err := f.v.Verify(ctx, tokFor("b")); err != nil {
			t.Fatalf("stale keys after a failure: %v", err)
		}
		// Now the endpoint hangs. After the backoff, requests are served
		// the stale keys at once while one fetch waits in the background.
		hold := make(chan struct{})
		f.user.set(func(s *jwksServer) { s.status, s.hold = http.StatusOK, hold })
		defer close(hold)
		f.clock.Advance(failureBackoff)
		start := time.Now()
		for i := range 5 {
			if _, err := f.v.Verify(ctx, tokFor(fmt.Sprint("c", i))); err != nil {
				t.Fatalf("stale keys while the endpoint hangs: %v", err)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("requests waited %v for a hanging key server", d)
		}
		waitFor(t, func() bool { return f.user.fetches.Load() == 3 })
		// The endpoint answers: the background fetch refreshes the keys.
		f.user.set(func(s *jwksServer) { s.hold = nil })
		hold <- struct{}{}
		waitFor(t, func() bool { return f.v.byIss[userIss].keys.freshUntil().After(f.clock.Now()) })
		if _, err := f.v.Verify(ctx, tokFor("d")); err != nil {
			t.Fatal(err)
		}
		if n := f.user.fetches.Load(); n != 3 {
			t.Fatalf("fetches = %d, want 3 (one in the background)", n)
		}
	})
	t.Run("canceled request", func(t *testing.T) {
		f := newFixture(t)
		f.user.set(func(s *jwksServer) { s.delay = 200 * time.Millisecond })
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the first caller starts the fetch
			defer wg.Done()
			_, _ = f.v.Verify(ctx, tok)
		}()
		time.Sleep(20 * time.Millisecond)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		_, err := f.v.Verify(cctx, tok)
		wg.Wait()
		if !errs.Is(errs.Unavailable, err) {
			t.Fatalf("err = %v, want unavailable", err)
		}
	})
}

func TestConcurrentFirstFetch(t *testing.T) {
	ec, rs := testKeys()
	f := newFixture(t)
	f.user.set(func(s *jwksServer) { s.delay = 50 * time.Millisecond })
	toks := []string{
		signJWT(t, ec[0], jose.ES256, "u-ec", userClaims()),
		signJWT(t, rs[0], jose.RS256, "u-rsa", userClaims()),
	}
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.v.Verify(context.Background(), toks[i%2]); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := f.user.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (shared fetch)", n)
	}
}

func TestParseKeySetSkipsUnusableKeys(t *testing.T) {
	ec, _ := testKeys()
	good, err := (&jose.JSONWebKey{Key: ec[0].Public(), KeyID: "good", Algorithm: "ES256"}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := (&jose.JSONWebKey{Key: ec[1], KeyID: "private"}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	set := `{"keys":[` + string(good) + `,` + string(priv) + `,
		{"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
		{"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"` + b64(ec[2].X.Bytes()) + `","y":"` + b64(ec[2].Y.Bytes()) + `"},
		{"kty":"weird","kid":"w"},
		{"kty":"EC","crv":"P-256","x":"` + b64(ec[3].X.Bytes()) + `","y":"` + b64(ec[3].Y.Bytes()) + `"}]}`
	keys, err := parseKeySet([]byte(set))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || len(keys["good"]) != 1 {
		t.Fatalf("keys = %v, want only \"good\"", keys)
	}
}

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	valid := func() IssuerConfig {
		return IssuerConfig{Issuer: "https://iss.test", Audiences: []string{"aud"}, JWKSURL: "https://iss.test/jwks", Kind: UserTokens}
	}
	mod := func(f func(*IssuerConfig)) []IssuerConfig {
		c := valid()
		f(&c)
		return []IssuerConfig{c}
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no issuers", Config{}},
		{"empty issuer", Config{Issuers: mod(func(c *IssuerConfig) { c.Issuer = "" })}},
		{"no audiences", Config{Issuers: mod(func(c *IssuerConfig) { c.Audiences = nil })}},
		{"empty audience", Config{Issuers: mod(func(c *IssuerConfig) { c.Audiences = []string{""} })}},
		{"no kind", Config{Issuers: mod(func(c *IssuerConfig) { c.Kind = 0 })}},
		{"service without emails", Config{Issuers: mod(func(c *IssuerConfig) { c.Kind = ServiceTokens })}},
		{"bad email", Config{Issuers: mod(func(c *IssuerConfig) { c.AllowedEmails = []string{"nobody"} })}},
		{"http JWKS on a public host", Config{Issuers: mod(func(c *IssuerConfig) { c.JWKSURL = "http://iss.test/jwks" })}},
		{"relative JWKS", Config{Issuers: mod(func(c *IssuerConfig) { c.JWKSURL = "/jwks" })}},
		{"file JWKS", Config{Issuers: mod(func(c *IssuerConfig) { c.JWKSURL = "file:///etc/jwks" })}},
		{"empty alias", Config{Issuers: mod(func(c *IssuerConfig) { c.Aliases = []string{""} })}},
		{"duplicate issuer", Config{Issuers: []IssuerConfig{valid(), valid()}}},
		{"alias clashing with issuer", Config{Issuers: []IssuerConfig{valid(), func() IssuerConfig {
			c := valid()
			c.Issuer, c.Aliases = "https://other.test", []string{"https://iss.test"}
			return c
		}()}}},
		{"negative leeway", Config{Issuers: []IssuerConfig{valid()}, Leeway: -time.Second}},
		{"huge leeway", Config{Issuers: []IssuerConfig{valid()}, Leeway: time.Hour}},
		{"empty project", Config{Issuers: []IssuerConfig{IdentityPlatform("")}}},
		{"google without emails", Config{Issuers: []IssuerConfig{GoogleOIDC([]string{"https://x.test"}, nil)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewVerifier(tc.cfg); !errs.Is(errs.Invalid, err) {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
	}
	t.Run("loopback http and production issuers are accepted", func(t *testing.T) {
		c := valid()
		c.Issuer, c.JWKSURL = "http://localhost:8080/dev-issuer", "http://localhost:8080/dev-issuer/jwks.json"
		d := valid()
		d.Issuer, d.JWKSURL = "http://[::1]:1/i", "http://[::1]:1/jwks"
		v, err := NewVerifier(Config{Issuers: []IssuerConfig{
			IdentityPlatform("proj"), GoogleOIDC([]string{"https://fn.test"}, []string{"a@b.iam.gserviceaccount.com"}), c, d,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if v.leeway != defaultLeeway {
			t.Fatalf("leeway = %v", v.leeway)
		}
	})
}

func TestProductionIssuers(t *testing.T) {
	ip := IdentityPlatform("lensflow-prod")
	if ip.Issuer != "https://securetoken.google.com/lensflow-prod" || len(ip.Audiences) != 1 || ip.Audiences[0] != "lensflow-prod" ||
		ip.JWKSURL != "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com" || ip.Kind != UserTokens {
		t.Errorf("IdentityPlatform = %+v", ip)
	}
	g := GoogleOIDC([]string{"https://fn.test"}, []string{"a@b.iam.gserviceaccount.com"})
	if g.Issuer != "https://accounts.google.com" || len(g.Aliases) != 1 || g.Aliases[0] != "accounts.google.com" ||
		g.JWKSURL != "https://www.googleapis.com/oauth2/v3/certs" || g.Kind != ServiceTokens || len(g.AllowedEmails) != 1 {
		t.Errorf("GoogleOIDC = %+v", g)
	}
}

func BenchmarkVerify(b *testing.B) {
	ec, rs := testKeys()
	f := newFixture(b)
	for _, bc := range []struct {
		name string
		tok  string
	}{
		{"ES256", signJWT(b, ec[0], jose.ES256, "u-ec", userClaims())},
		{"RS256", signJWT(b, rs[0], jose.RS256, "u-rsa", userClaims())},
	} {
		ctx := context.Background()
		if _, err := f.v.Verify(ctx, bc.tok); err != nil { // warm the key cache
			b.Fatal(err)
		}
		// full: every check, as for a token seen for the first time;
		// remembered: the same token again (verifiedCache).
		b.Run(bc.name+"/full", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := f.v.verify(ctx, bc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/remembered", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.v.Verify(ctx, bc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestVerifiedTokensAreRemembered: a token that passed is answered from
// memory by later requests, but never past its expiry (plus the leeway);
// failures are not remembered; and the memory is bounded.
func TestVerifiedTokensAreRemembered(t *testing.T) {
	ec, _ := testKeys()
	f := newFixture(t)
	ctx := context.Background()
	// Expires in 2 minutes: sooner than the 5-minute memory.
	tok := signJWT(t, ec[0], jose.ES256, "u-ec", with(userClaims(), "exp", t0.Add(2*time.Minute).Unix()))
	first, err := f.v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.v.Verify(ctx, tok)
	if err != nil || again != first || len(f.v.verified.m) != 1 {
		t.Fatalf("second verification: %+v %v, %d remembered", again, err, len(f.v.verified.m))
	}
	f.clock.Advance(2*time.Minute + defaultLeeway + time.Second)
	if _, err := f.v.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("a remembered token outlived its expiry: %v", err)
	}
	bad := signJWT(t, ec[0], jose.ES256, "u-ec", with(userClaims(), "aud", "someone-else"))
	for range 2 {
		if _, err := f.v.Verify(ctx, bad); !errors.Is(err, ErrWrongAudience) {
			t.Fatalf("wrong audience: %v", err)
		}
	}
	var c verifiedCache
	now := time.Now()
	for i := range maxVerified + 100 {
		c.put([32]byte{byte(i), byte(i >> 8)}, Principal{Subject: "s"}, now.Add(time.Minute), now)
	}
	if n := len(c.m); n > maxVerified {
		t.Fatalf("%d tokens remembered, at most %d", n, maxVerified)
	}
}

// The lifetime cap is configurable within bounds, and applies as set.
func TestVerifierMaxLifetime(t *testing.T) {
	iss := IssuerConfig{Issuer: "https://issuer.example", Audiences: []string{"a"}, JWKSURL: "https://issuer.example/jwks", Kind: UserTokens}
	for _, d := range []time.Duration{-time.Hour, time.Minute, 59 * time.Minute, 8 * 24 * time.Hour} {
		if _, err := NewVerifier(Config{Issuers: []IssuerConfig{iss}, MaxLifetime: d}); !errs.Is(errs.Invalid, err) {
			t.Errorf("MaxLifetime %v: %v, want invalid", d, err)
		}
	}
	for _, d := range []time.Duration{0, time.Hour, 12 * time.Hour, 7 * 24 * time.Hour} {
		if _, err := NewVerifier(Config{Issuers: []IssuerConfig{iss}, MaxLifetime: d}); err != nil {
			t.Errorf("MaxLifetime %v: %v", d, err)
		}
	}
}
