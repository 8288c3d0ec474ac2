package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lensflow/lensflow/shared/errs"
)

// FuzzVerify feeds arbitrary strings to Verify. It must never panic, must
// fail with Unauthenticated (keys are cached, so never Unavailable), must
// never echo the token, and may only succeed with a well-formed principal.
func FuzzVerify(f *testing.F) {
	ec, rs := testKeys()
	fx := newFixture(f)
	valid := signJWT(f, ec[0], jose.ES256, "u-ec", userClaims())
	validRSA := signJWT(f, rs[0], jose.RS256, "u-rsa", userClaims())
	service := signJWT(f, ec[1], jose.ES256, "s-ec", svcClaims())
	// Warm both key caches so the fuzzer exercises parsing and checks.
	for _, tok := range []string{valid, service} {
		if _, err := fx.v.Verify(context.Background(), tok); err != nil {
			f.Fatal(err)
		}
	}
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid, validRSA, service,
		"", ".", "..", "...", "a.b", "a.b.c", "!!!.###.$$$",
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		"." + parts[1] + "." + parts[2],
		rawJWT(f, map[string]any{"alg": "none", "kid": "u-ec"}, userClaims(), nil),
		rawJWT(f, map[string]any{"alg": "HS256", "kid": "u-rsa"}, userClaims(), []byte("secret")),
		rawJWT(f, map[string]any{"alg": "ES256", "kid": "u-ec", "crit": []string{"exp"}}, userClaims(), nil),
		rawJWT(f, map[string]any{"alg": "ES256", "kid": 7}, userClaims(), nil),
		rawJWT(f, map[string]any{"alg": "ES256", "kid": "u-ec"}, map[string]any{"iss": userIss, "exp": 1e308}, nil),
		rawJWT(f, map[string]any{"alg": "ES256", "kid": "u-ec"}, map[string]any{"iss": []int{1}}, nil),
		`{"payload":"e30","signatures":[]}`,
		strings.Repeat("A", 5000) + "." + strings.Repeat("B", 5000) + ".C",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p, err := fx.v.Verify(ctx, raw)
		if err != nil {
			if k := errs.KindOf(err); k != errs.Unauthenticated {
				t.Fatalf("kind = %v (%v), want unauthenticated", k, err)
			}
			if Reason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			assertNoEcho(t, err, raw)
			return
		}
		if p.Subject == "" || !p.Role.Valid() || (p.Role == RolePractitioner && p.ClinicID == "") {
			t.Fatalf("accepted an incomplete principal %+v", p)
		}
	})
}
