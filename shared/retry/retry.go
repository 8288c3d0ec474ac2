// Package retry runs an operation again after transient failures, with
// exponential backoff and jitter from github.com/cenkalti/backoff/v5, the
// one backoff lensflow uses for its in-process retries. What is lensflow's
// own here is only the shape every caller wants and the library leaves to
// each: a Policy in attempts rather than elapsed time, a predicate naming
// the errors worth another attempt (the rest are handed to the library as
// permanent), and the operation's own last error as the result when the
// context ends during a pause, so callers keep its errs kind instead of a
// bare context error.
//
// Retries that outlive a request (Pub/Sub redelivery, notification
// attempts) are scheduled elsewhere: this is for the short loops inside one
// call.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/lensflow/lensflow/shared/errs"
)

// Jitter is the randomization factor of every pause: a pause is drawn
// uniformly from [1-Jitter, 1+Jitter] times its nominal length, so callers
// that failed together do not come back together.
const Jitter = 0.5

// Policy bounds a retry loop.
type Policy struct {
	// Attempts is the most calls of the operation, the first included;
	// less than 1 means 1.
	Attempts int
	// Initial is the nominal pause before the second attempt; each later
	// pause doubles, up to Max.
	Initial time.Duration
	// Max caps the nominal pause; 0 means no cap.
	Max time.Duration
}

// Do calls op until it returns nil, returns an error that retryable does
// not accept, has been called p.Attempts times, or ctx ends (checked after
// each failure and during each pause). It returns op's last result: nil or
// op's error, never a context error of its own. A nil retryable retries
// every error.
func Do(ctx context.Context, p Policy, retryable func(error) bool, op func() error) error {
	attempts := max(p.Attempts, 1)
	maxPause := p.Max
	if maxPause <= 0 {
		maxPause = time.Duration(1<<63 - 1)
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: Jitter,
		Multiplier:          2,
		MaxInterval:         maxPause,
	}
	var last error
	// Retry's own error is last, unwrapped from Permanent, except when ctx
	// ends: then it is the context's, and last is what callers classify.
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		last = op()
		if last != nil && retryable != nil && !retryable(last) {
			return struct{}{}, backoff.Permanent(last)
		}
		return struct{}{}, last
	}, backoff.WithBackOff(b), backoff.WithMaxTries(uint(attempts)), backoff.WithMaxElapsedTime(0))
	return last
}

// Unavailable is the usual retryable: errors classified errs.Unavailable.
func Unavailable(err error) bool { return errs.Is(errs.Unavailable, err) }
