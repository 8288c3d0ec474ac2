package httpkit

import (
	"fmt"
	"net/http"
	"time"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/auth"
)

// Admission admits an authenticated request against what its caller may
// hold of the instance (security.md, "HTTP semantics"): a share of the
// requests in flight, and, for a request with a body, a share of the
// memory budget for the working set that body will need. Callers are
// keyed as RateKey keys them (a clinic's practitioners share one key), so
// one clinic holding hundreds of slow uploads holds its share and no more,
// and the others' requests are still served.
//
// Beyond its share of requests in flight a caller gets 429; when the memory
// budget (or the caller's share of it) is in use, 503. Both carry
// Retry-After. The body must then arrive at Rate (ReadBody answers 408
// otherwise), so a share is not held by a client that does not send.
type Admission struct {
	Slots  *admission.Pool // requests in flight (1 unit each)
	Memory *admission.Pool // bytes of working memory for request bodies
	// MaxBody is the route's body limit: a body of unknown length is
	// charged as this large.
	MaxBody int64
	// BodyMemory is the working memory one body byte costs while the
	// request is served (the body itself, what is parsed from it, its
	// sealed copy); default 2.
	BodyMemory float64
	Rate       BodyRate
	RetryAfter time.Duration // default 1 s
}

// BodyCharge is the memory r's body is charged: its declared length (or
// maxBody if it declares none) times perByte.
func BodyCharge(r *http.Request, maxBody int64, perByte float64) int64 {
	n := r.ContentLength
	if n < 0 || n > maxBody {
		n = maxBody
	}
	if perByte <= 0 {
		perByte = 2
	}
	return int64(float64(n) * perByte)
}

// Wrap applies the admission to next; requests without a principal pass.
func (a *Admission) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.PrincipalFrom(r.Context())
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		key := RateKey(p)
		secs := retryAfterSeconds(a.RetryAfter)
		if a.Slots != nil {
			release, why := a.Slots.TryAcquire(key, 1)
			if why != admission.Admitted {
				_, held := a.Slots.InUse(key)
				retryLater(w, r, http.StatusTooManyRequests, "too-many-in-flight", secs,
					fmt.Sprintf("%d of your requests are in flight on this instance, the most one caller may have at once; retry after %d s", held, secs))
				return
			}
			defer release()
		}
		if a.Memory != nil && r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			release, why := a.Memory.TryAcquire(key, BodyCharge(r, a.MaxBody, a.BodyMemory))
			if why != admission.Admitted {
				what := "the instance's memory for request bodies is in use"
				if why == admission.KeyShare {
					what = "your requests already hold their share of the instance's memory for request bodies"
				}
				retryLater(w, r, http.StatusServiceUnavailable, "unavailable", secs, fmt.Sprintf("%s; retry after %d s", what, secs))
				return
			}
			defer release()
		}
		if a.Rate != (BodyRate{}) {
			r = r.WithContext(WithBodyRate(r.Context(), a.Rate))
		}
		next.ServeHTTP(w, r)
	})
}
