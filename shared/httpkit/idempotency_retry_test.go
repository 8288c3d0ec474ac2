package httpkit_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/ports"
)

// failingDocs fails the next fail transactions with err once armed.
type failingDocs struct {
	ports.Documents
	armed atomic.Bool
	fail  atomic.Int32
	err   error
	calls atomic.Int32 // transactions failed
}

func (d *failingDocs) RunTransaction(ctx context.Context, fn func(context.Context, ports.Tx) error) error {
	if d.armed.Load() && d.fail.Add(-1) >= 0 {
		d.calls.Add(1)
		return d.err
	}
	return d.Documents.RunTransaction(ctx, fn)
}

// TestIdempotencyRecordRetries checks the retries of the transaction that
// records the outcome: up to four attempts while it is Unavailable, one for
// any other failure. A record that could not be written is left pending,
// so a retry of the request is told it is still in progress.
func TestIdempotencyRecordRetries(t *testing.T) {
	tests := []struct {
		name       string
		fail       int32
		err        error
		wantFailed int32
		wantReplay int
	}{
		{"two outages then success", 2, errs.Ef("test", errs.Unavailable, "down"), 2, http.StatusCreated},
		{"outage outlasts four attempts", 10, errs.Ef("test", errs.Unavailable, "down"), 4, http.StatusConflict},
		{"permanent failure is not retried", 10, errs.Ef("test", errs.Invalid, "bad"), 1, http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bolt, err := boltdocs.Open(filepath.Join(t.TempDir(), "docs.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { bolt.Close() })
			docs := &failingDocs{Documents: bolt, err: tt.err}
			docs.fail.Store(tt.fail)
			var calls atomic.Int32
			wrapped := (&httpkit.Idempotency{Docs: docs, MaxBody: 1 << 20}).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				docs.armed.Store(true) // fail the record of the outcome
				httpkit.JSON(w, http.StatusCreated, map[string]any{"ok": true})
			}))
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r = r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Subject: "s", ClinicID: "north", Role: auth.RolePractitioner}))
				wrapped.ServeHTTP(w, r)
			})
			if first := do(h, "north", "k", `{}`); first.Code != http.StatusCreated {
				t.Fatalf("first: %d %s", first.Code, first.Body)
			}
			if got := docs.calls.Load(); got != tt.wantFailed {
				t.Fatalf("%d failed attempts to record the outcome, want %d", got, tt.wantFailed)
			}
			docs.armed.Store(false)
			if again := do(h, "north", "k", `{}`); again.Code != tt.wantReplay || calls.Load() != 1 {
				t.Fatalf("retry of the request: %d (handler ran %d times), want %d", again.Code, calls.Load(), tt.wantReplay)
			}
		})
	}
}
