package httpkit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
)

// rlVerifier accepts the tokens it knows, each standing for a principal.
type rlVerifier map[string]auth.Principal

func (v rlVerifier) Verify(_ context.Context, raw string) (auth.Principal, error) {
	p, ok := v[raw]
	if !ok {
		return auth.Principal{}, errs.E("verify", errs.Unauthenticated, auth.ErrBadSignature)
	}
	return p, nil
}

var rlPrincipals = rlVerifier{
	"north-1": {Subject: "u1", ClinicID: "north", Role: auth.RolePractitioner, Issuer: "dev"},
	"north-2": {Subject: "u2", ClinicID: "north", Role: auth.RolePractitioner, Issuer: "dev"},
	"south-1": {Subject: "u3", ClinicID: "south", Role: auth.RolePractitioner, Issuer: "dev"},
	"lab-1":   {Subject: "l1", Role: auth.RoleLab, Issuer: "dev"},
	"lab-2":   {Subject: "l2", ClinicID: "north", Role: auth.RoleLab, Issuer: "dev"},
	"svc":     {Subject: "scheduler", Role: auth.RoleService, Issuer: "dev"},
}

type rlClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *rlClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *rlClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rlRoute is a route as the platform builds it: the rate limit inside
// Authenticate, applied once the caller is verified.
func rlRoute(l *httpkit.RateLimit, roles ...auth.Role) http.Handler {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return httpkit.Authenticate(rlPrincipals, roles, l.Wrap(ok))
}

func rlCall(h http.Handler, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/v1/things", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestRateLimitPerClinic(t *testing.T) {
	clk := &rlClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	l := &httpkit.RateLimit{PerSecond: 2, Burst: 3, Now: clk.now}
	h := rlRoute(l, auth.RolePractitioner, auth.RoleLab, auth.RoleService)

	// Clinic north has a burst of 3, shared by its two practitioners.
	for i, tok := range []string{"north-1", "north-2", "north-1"} {
		if rec := rlCall(h, tok); rec.Code != http.StatusNoContent {
			t.Fatalf("request %d within the burst: %d", i, rec.Code)
		}
	}
	for _, tok := range []string{"north-1", "north-2"} {
		rec := rlCall(h, tok)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("%s beyond the burst: %d", tok, rec.Code)
		}
		var p httpkit.Problem
		if rec.Header().Get("Retry-After") != "1" || rec.Header().Get("Content-Type") != "application/problem+json" ||
			json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Status != 429 || p.Detail == "" {
			t.Fatalf("429 answer: headers %v body %s", rec.Header(), rec.Body)
		}
	}

	// North exhausted does not limit anyone else.
	for _, tok := range []string{"south-1", "lab-1", "lab-2", "svc"} {
		t.Run("isolated/"+tok, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				if rec := rlCall(h, tok); rec.Code != http.StatusNoContent {
					t.Fatalf("request %d: %d", i, rec.Code)
				}
			}
			if rec := rlCall(h, tok); rec.Code != http.StatusTooManyRequests {
				t.Fatalf("its own burst is 3 too: %d", rec.Code)
			}
		})
	}

	// Refused requests took no tokens: half a second later north has one.
	clk.add(500 * time.Millisecond)
	if rec := rlCall(h, "north-2"); rec.Code != http.StatusNoContent {
		t.Fatalf("after refill: %d", rec.Code)
	}
	if rec := rlCall(h, "north-1"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("one token refilled, two taken: %d", rec.Code)
	}

	// Unauthenticated and forbidden requests are answered by Authenticate
	// and take no token.
	if rec := rlCall(h, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", rec.Code)
	}
	labOnly := rlRoute(l, auth.RoleLab)
	for i := 0; i < 5; i++ {
		if rec := rlCall(labOnly, "south-1"); rec.Code != http.StatusForbidden {
			t.Fatalf("clinic token on a lab route: %d", rec.Code)
		}
	}
	clk.add(time.Second)
	if rec := rlCall(h, "south-1"); rec.Code != http.StatusNoContent {
		t.Fatalf("south after refill: %d", rec.Code)
	}
}

func TestRateLimitRetryAfterFromReservation(t *testing.T) {
	for _, tc := range []struct {
		perSecond float64
		burst     int
		want      string
	}{
		{perSecond: 10, burst: 1, want: "1"},   // 0.1 s, rounded up to a whole second
		{perSecond: 1, burst: 1, want: "1"},    // 1 s
		{perSecond: 0.25, burst: 2, want: "4"}, // a token every 4 s
		{perSecond: 0.1, burst: 1, want: "10"},
	} {
		t.Run(fmt.Sprint(tc.perSecond), func(t *testing.T) {
			clk := &rlClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
			l := &httpkit.RateLimit{PerSecond: tc.perSecond, Burst: tc.burst, Now: clk.now}
			h := rlRoute(l, auth.RolePractitioner)
			for i := 0; i < tc.burst; i++ {
				rlCall(h, "north-1")
			}
			rec := rlCall(h, "north-1")
			if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != tc.want {
				t.Fatalf("got %d Retry-After %q, want 429 %q", rec.Code, rec.Header().Get("Retry-After"), tc.want)
			}
		})
	}
}

// TestRateLimitForgetsIdleCallers: buckets that have refilled are dropped,
// so the map does not grow with every subject ever seen.
func TestRateLimitForgetsIdleCallers(t *testing.T) {
	clk := &rlClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	l := &httpkit.RateLimit{PerSecond: 1, Burst: 5, Now: clk.now}
	for i := 0; i < 100; i++ {
		if _, ok := l.Allow(fmt.Sprint("subject:", i)); !ok {
			t.Fatal("first request refused")
		}
	}
	if l.Buckets() != 100 {
		t.Fatalf("%d buckets", l.Buckets())
	}
	clk.add(2 * time.Minute)
	l.Allow("subject:new")
	if l.Buckets() != 1 {
		t.Fatalf("%d buckets after the idle ones refilled", l.Buckets())
	}
}
