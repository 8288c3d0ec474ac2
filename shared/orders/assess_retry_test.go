package orders_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/ports"
)

// racedDocs answers every transaction with err, as if a concurrent
// request always committed first, and counts them; onTx runs before.
type racedDocs struct {
	ports.Documents
	err   error
	calls atomic.Int32
	onTx  func()
}

func (d *racedDocs) RunTransaction(context.Context, func(context.Context, ports.Tx) error) error {
	d.calls.Add(1)
	if d.onTx != nil {
		d.onTx()
	}
	return d.err
}

// TestAssessRetryLimits: Assess plans again when another request moved the
// visit (here: created it first), five times at most, then answers 409;
// any other failure is not retried, and neither is a request whose context
// ended.
func TestAssessRetryLimits(t *testing.T) {
	const body = `{"visitKey":"month-1","visualAcuity":"6/6","comfort":9,"outcome":"continue"}`
	for _, tt := range []struct {
		name      string
		err       error
		cancel    bool
		wantKind  errs.Kind
		wantCalls int32
	}{
		{"always moved", errs.Ef("test", errs.Exists, "created first"), false, errs.Conflict, 5},
		{"store down", errs.Ef("test", errs.Unavailable, "down"), false, errs.Unavailable, 1},
		{"moved, then the request ends", errs.Ef("test", errs.Exists, "created first"), true, errs.Conflict, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newAssessFixture(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			docs := &racedDocs{Documents: f.docs, err: tt.err}
			if tt.cancel {
				docs.onTx = cancel
			}
			svc := *f.svc
			svc.Docs = docs
			var in orders.AssessInput
			if err := json.Unmarshal([]byte(body), &in); err != nil {
				t.Fatal(err)
			}
			_, err := svc.Assess(ctx, f.north, f.order.ID, "", in)
			if errs.KindOf(err) != tt.wantKind || docs.calls.Load() != tt.wantCalls {
				t.Fatalf("Assess = %v (kind %v) after %d transactions, want %v after %d",
					err, errs.KindOf(err), docs.calls.Load(), tt.wantKind, tt.wantCalls)
			}
		})
	}
}
