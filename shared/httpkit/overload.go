package httpkit

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// InFlightLimit sheds load instead of queueing it (security.md, "HTTP
// semantics"): at most Max requests are served at once; a request beyond
// that is answered at once with 503, Retry-After and a problem+json body,
// so a client backs off rather than waiting behind an unbounded queue.
type InFlightLimit struct {
	Max        int           // requests served at once; 0 or less means no limit
	RetryAfter time.Duration // advertised in Retry-After (whole seconds, default 1 s)

	n atomic.Int64
}

// Wrap limits the requests to next in flight at once.
func (l *InFlightLimit) Wrap(next http.Handler) http.Handler {
	if l.Max <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.n.Add(1) > int64(l.Max) {
			l.n.Add(-1)
			secs := retryAfterSeconds(l.RetryAfter)
			retryLater(w, r, http.StatusServiceUnavailable, "unavailable", secs, "the service is at capacity; retry after "+strconv.Itoa(secs)+" s")
			return
		}
		defer l.n.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// InFlight is the number of requests being served now.
func (l *InFlightLimit) InFlight() int { return int(l.n.Load()) }

// retryLater answers status (429 or 503) with Retry-After: secs and a
// problem+json body of type problem (a name under lensflow.dev/problems).
func retryLater(w http.ResponseWriter, r *http.Request, status int, problem string, secs int, detail string) {
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	WriteProblem(w, Problem{Type: "https://lensflow.dev/problems/" + problem, Title: http.StatusText(status),
		Status: status, RequestID: RequestID(r.Context()), Detail: detail})
}
