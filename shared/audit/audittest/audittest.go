// Package audittest is the conformance suite of the audit.Logger port: every
// adapter (in memory, JSON lines, Cloud Logging) runs it in its own tests.
package audittest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
)

// Factory returns a fresh Logger and a function reading back every record
// that Logger has written so far, in any order. read may fail the test (for
// example on a line it cannot parse: a torn or interleaved record).
type Factory func(t *testing.T) (l audit.Logger, read func() []audit.Record)

// Concurrency of the concurrent-writes case: writers x records each.
const (
	writers          = 8
	recordsPerWriter = 25
)

// Run checks that newLogger's loggers write records whole and exactly:
// every field round-trips, a zero Time becomes the time of the write, and
// records written concurrently all come back, each once and intact (run
// with -race).
func Run(t *testing.T, newLogger Factory) {
	t.Helper()
	t.Run("fields round-trip exactly", func(t *testing.T) { roundTrip(t, newLogger) })
	t.Run("zero time defaults to now", func(t *testing.T) { zeroTime(t, newLogger) })
	t.Run("concurrent writes all come back whole", func(t *testing.T) { concurrent(t, newLogger) })
}

func roundTrip(t *testing.T, newLogger Factory) {
	l, read := newLogger(t)
	east := time.FixedZone("UTC+10", 10*60*60)
	want := []audit.Record{
		{Time: time.Date(2026, 3, 2, 9, 4, 5, 123456789, time.UTC), Actor: "uid-1", Role: "practitioner", Clinic: "demo-north",
			Action: "scan.read", Resource: "scans/0b9e", Outcome: audit.Success, RequestID: "req-1"},
		{Time: time.Date(2026, 12, 31, 23, 59, 59, 0, east), Actor: "lab-7", Role: "lab", Clinic: "demo-south",
			Action: "job.file.read", Resource: "jobs/j1/files/OD.V5B", Outcome: audit.Denied, RequestID: "req-2"},
		{Time: time.Date(2027, 1, 1, 0, 0, 0, 1, time.UTC), Actor: "svc@p.iam.gserviceaccount.com", Role: "service",
			Action: "design.create", Resource: `scans/"q"\<x>&é`, Outcome: audit.Failure, RequestID: "req-3"},
		{Time: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), RequestID: "req-4"}, // empty fields stay empty
	}
	for _, r := range want {
		if err := l.Write(context.Background(), r); err != nil {
			t.Fatalf("Write(%s): %v", r.RequestID, err)
		}
	}
	got := byRequestID(t, read())
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for _, w := range want {
		t.Run(w.RequestID, func(t *testing.T) {
			g, ok := got[w.RequestID]
			if !ok {
				t.Fatal("record not read back")
			}
			if !same(g, w) {
				t.Errorf("read back\n %+v\nwant\n %+v", g, w)
			}
		})
	}
}

func zeroTime(t *testing.T, newLogger Factory) {
	l, read := newLogger(t)
	before := time.Now().Truncate(time.Second) // some forms keep only seconds
	if err := l.Write(context.Background(), audit.Record{Actor: "uid-1", Action: "scan.read", Outcome: audit.Success, RequestID: "req-z"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got := read()
	if len(got) != 1 {
		t.Fatalf("read %d records, want 1", len(got))
	}
	if tm := got[0].Time; tm.IsZero() || tm.Before(before) || tm.After(after) {
		t.Errorf("Time = %v, want the time of the write (between %v and %v)", tm, before, after)
	}
}

func concurrent(t *testing.T, newLogger Factory) {
	l, read := newLogger(t)
	base := time.Date(2026, 5, 5, 8, 0, 0, 0, time.UTC)
	want := map[string]audit.Record{}
	for w := range writers {
		for i := range recordsPerWriter {
			id := fmt.Sprintf("req-%d-%d", w, i)
			want[id] = audit.Record{Time: base.Add(time.Duration(w*recordsPerWriter+i) * time.Millisecond),
				Actor: fmt.Sprintf("uid-%d", w), Role: "practitioner", Clinic: fmt.Sprintf("clinic-%d", w),
				Action: "scan.read", Resource: fmt.Sprintf("scans/s-%d-%d", w, i), Outcome: audit.Success, RequestID: id}
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, writers*recordsPerWriter)
	for w := range writers {
		wg.Go(func() {
			for i := range recordsPerWriter {
				if err := l.Write(context.Background(), want[fmt.Sprintf("req-%d-%d", w, i)]); err != nil {
					errc <- err
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("Write: %v", err)
	}
	got := byRequestID(t, read())
	if len(got) != len(want) {
		t.Errorf("read %d distinct records, want %d", len(got), len(want))
	}
	var bad []string
	for id, w := range want {
		if g, ok := got[id]; !ok || !same(g, w) {
			bad = append(bad, id)
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("%d records missing or altered, e.g. %v", len(bad), bad[:min(len(bad), 5)])
	}
}

// byRequestID indexes records, failing on a duplicate.
func byRequestID(t *testing.T, rs []audit.Record) map[string]audit.Record {
	t.Helper()
	m := make(map[string]audit.Record, len(rs))
	for _, r := range rs {
		if _, dup := m[r.RequestID]; dup {
			t.Errorf("record %s read back twice", r.RequestID)
		}
		m[r.RequestID] = r
	}
	return m
}

// same compares records field by field; times by instant and zone offset
// (a parsed time has a fixed zone, not the original *time.Location).
func same(a, b audit.Record) bool {
	_, ao := a.Time.Zone()
	_, bo := b.Time.Zone()
	at, bt := a.Time, b.Time
	a.Time, b.Time = time.Time{}, time.Time{}
	return at.Equal(bt) && ao == bo && a == b
}
