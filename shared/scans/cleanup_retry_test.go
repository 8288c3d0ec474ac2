package scans_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// noCommit fails every transaction, as a store that is down for writes.
type noCommit struct{ ports.Documents }

func (noCommit) RunTransaction(context.Context, func(context.Context, ports.Tx) error) error {
	return errs.Ef("test", errs.Unavailable, "down")
}

// stuckDeletes fails the first fail deletes and counts them all.
type stuckDeletes struct {
	ports.Blobs
	fail  int32
	calls atomic.Int32
}

func (b *stuckDeletes) Delete(ctx context.Context, name string) error {
	if b.calls.Add(1) <= b.fail {
		return errs.Ef("test", errs.Unavailable, "down")
	}
	return b.Blobs.Delete(ctx, name)
}

// TestRejectedUploadCleanupRetries: the objects of an upload whose record
// was not written are removed with retries (six attempts), and given up
// on after them, for SweepOrphans.
func TestRejectedUploadCleanupRetries(t *testing.T) {
	for _, tt := range []struct {
		name       string
		fail       int32
		wantDelete int32
		wantLeft   int
	}{
		{"storage recovers", 3, 5, 0},          // both fail, then one fails and one is done, then the last is done
		{"storage stays down", 1000, 6 * 2, 2}, // six attempts of both objects
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			pid := f.patient(t, f.north)
			blobs := &stuckDeletes{Blobs: f.blobs, fail: tt.fail}
			svc := *f.svc
			svc.Docs, svc.Blobs = noCommit{f.docs}, blobs
			_, err := svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()})
			if !errs.Is(errs.Unavailable, err) {
				t.Fatalf("Upload = %v, want Unavailable", err)
			}
			if got := blobs.calls.Load(); got != tt.wantDelete {
				t.Errorf("%d deletes, want %d", got, tt.wantDelete)
			}
			files, _ := f.blobs.List(ctx, "scans/")
			surfaces, _ := f.blobs.List(ctx, "surfaces/")
			if len(files)+len(surfaces) != tt.wantLeft {
				t.Errorf("left %v %v, want %d objects", files, surfaces, tt.wantLeft)
			}
		})
	}
}
