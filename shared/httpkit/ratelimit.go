package httpkit

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/lensflow/lensflow/shared/auth"
)

// RateLimit gives every caller a token bucket of PerSecond requests a second
// with bursts of Burst (security.md, "HTTP semantics"): clinic practitioners
// share their clinic's bucket, so one busy clinic cannot starve another;
// lab staff and services have a bucket per subject. A request beyond the
// limit is answered 429 with Retry-After (whole seconds until a token is
// available) and a problem+json body, without reaching the handler.
//
// The buckets live in the instance's memory: the limit is per instance,
// which is what protects the instance. Requests without a principal (public
// routes) are not limited here; Cloud Armor throttles them per client
// address at the load balancer, and InFlightLimit bounds them.
type RateLimit struct {
	PerSecond float64 // sustained requests per second per caller; 0 or less means no limit
	Burst     int     // bucket size; at least 1 (0 means 1)
	Now       func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// sweepEvery is how often idle buckets (full again) are dropped, so the
// map holds only callers seen in the last few seconds.
const sweepEvery = time.Minute

// RateKey is the bucket of principal p: its clinic for practitioners, its
// subject (per issuer) for everyone else.
func RateKey(p auth.Principal) string {
	if p.Role == auth.RolePractitioner && p.ClinicID != "" {
		return "clinic:" + p.ClinicID
	}
	return "subject:" + p.Issuer + "|" + p.Subject
}

// Wrap limits next by the principal Authenticate put in the context.
// Requests without one pass through.
func (l *RateLimit) Wrap(next http.Handler) http.Handler {
	if l.PerSecond <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.PrincipalFrom(r.Context())
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if wait, ok := l.Allow(RateKey(p)); !ok {
			secs := retryAfterSeconds(wait)
			retryLater(w, r, http.StatusTooManyRequests, "rate-limited", secs,
				fmt.Sprintf("rate limit of %g requests per second exceeded; retry after %d s", l.PerSecond, secs))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Allow takes a token from key's bucket. When none is left it takes
// nothing and says how long until one will be.
func (l *RateLimit) Allow(key string) (wait time.Duration, ok bool) {
	if l.PerSecond <= 0 {
		return 0, true
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	res := l.bucket(key, now).ReserveN(now, 1)
	if !res.OK() {
		return time.Second, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

func (l *RateLimit) bucket(key string, now time.Time) *rate.Limiter {
	burst := max(l.Burst, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets, l.lastSweep = map[string]*rate.Limiter{}, now
	}
	if now.Sub(l.lastSweep) > sweepEvery {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(burst) {
				delete(l.buckets, k) // full again: the same as a new bucket
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.PerSecond), burst)
		l.buckets[key] = b
	}
	return b
}

// Buckets is the number of callers currently tracked (for tests and metrics).
func (l *RateLimit) Buckets() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
