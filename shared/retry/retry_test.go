package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/retry"
)

var (
	down = errs.Ef("test", errs.Unavailable, "down")
	bad  = errs.Ef("test", errs.Invalid, "bad")
)

// failing returns an operation that fails with errList in turn (then
// succeeds) and counts its calls.
func failing(calls *int, errList ...error) func() error {
	return func() error {
		*calls++
		if *calls <= len(errList) {
			return errList[*calls-1]
		}
		return nil
	}
}

func TestDoSucceedsAfterTransientFailures(t *testing.T) {
	var calls int
	err := retry.Do(context.Background(), retry.Policy{Attempts: 4, Initial: time.Millisecond}, retry.Unavailable, failing(&calls, down, down))
	if err != nil || calls != 3 {
		t.Fatalf("Do = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestDoStopsAfterAttempts(t *testing.T) {
	var calls int
	err := retry.Do(context.Background(), retry.Policy{Attempts: 4, Initial: time.Millisecond}, retry.Unavailable,
		failing(&calls, down, down, down, down, down, down))
	if !errors.Is(err, down) || calls != 4 {
		t.Fatalf("Do = %v after %d calls, want the last failure after 4", err, calls)
	}
	calls = 0
	if err := retry.Do(context.Background(), retry.Policy{}, nil, failing(&calls, down, down)); !errors.Is(err, down) || calls != 1 {
		t.Fatalf("zero Policy: Do = %v after %d calls, want one call", err, calls)
	}
}

func TestDoDoesNotRetryPermanentErrors(t *testing.T) {
	var calls int
	err := retry.Do(context.Background(), retry.Policy{Attempts: 4, Initial: time.Millisecond}, retry.Unavailable, failing(&calls, down, bad, down))
	if err != bad || calls != 2 {
		t.Fatalf("Do = %v after %d calls, want the Invalid error itself after 2", err, calls)
	}
}

func TestDoNilRetryableRetriesEverything(t *testing.T) {
	var calls int
	err := retry.Do(context.Background(), retry.Policy{Attempts: 3, Initial: time.Millisecond}, nil, failing(&calls, bad, errors.New("x")))
	if err != nil || calls != 3 {
		t.Fatalf("Do = %v after %d calls, want nil after 3", err, calls)
	}
}

// TestDoStopsWhenContextEnds: a pause is cut short by the context, and the
// result is the operation's own last error (its kind kept), not the
// context's.
func TestDoStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls int
	time.AfterFunc(50*time.Millisecond, cancel)
	began := time.Now()
	err := retry.Do(ctx, retry.Policy{Attempts: 10, Initial: time.Hour}, retry.Unavailable, failing(&calls, down, down, down))
	if err != down || calls != 1 || time.Since(began) > 10*time.Second {
		t.Fatalf("Do = %v after %d calls and %v, want the first failure, soon", err, calls, time.Since(began))
	}

	// Already over: one call, no pause.
	calls = 0
	if err := retry.Do(ctx, retry.Policy{Attempts: 10, Initial: time.Hour}, nil, failing(&calls, down, down)); err != down || calls != 1 {
		t.Fatalf("ended context: Do = %v after %d calls", err, calls)
	}
}

// TestDoPausesGrowWithJitter checks the pauses: about Initial, then
// doubling, each within the jitter band, and capped by Max.
func TestDoPausesGrowWithJitter(t *testing.T) {
	var at []time.Time
	op := func() error { at = append(at, time.Now()); return down }
	_ = retry.Do(context.Background(), retry.Policy{Attempts: 5, Initial: 20 * time.Millisecond, Max: 40 * time.Millisecond}, nil, op)
	if len(at) != 5 {
		t.Fatalf("%d calls, want 5", len(at))
	}
	nominal := []time.Duration{20, 40, 40, 40} // ms, capped at Max
	for i, n := range nominal {
		got := at[i+1].Sub(at[i])
		lo := time.Duration(float64(n)*(1-retry.Jitter)) * time.Millisecond
		if got < lo || got > time.Duration(float64(n)*(1+retry.Jitter))*time.Millisecond+time.Second {
			t.Errorf("pause %d = %v, want %v ms +- %.0f%%", i+1, got, n, retry.Jitter*100)
		}
	}
}
