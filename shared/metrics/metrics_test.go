package metrics_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/metrics"
)

func TestRecordsWhatTheLabWatches(t *testing.T) {
	ctx := context.Background()
	m, err := metrics.New(ctx, metrics.ModeMemory, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(ctx)
	m.ScanReceived(ctx, "cso", "scleral")
	m.ScanReceived(ctx, "cso", "scleral")
	m.ScanReceived(ctx, "grid", "orthok")
	for _, d := range []time.Duration{300 * time.Millisecond, 800 * time.Millisecond, 1500 * time.Millisecond, 40 * time.Second} {
		m.DesignProduced(ctx, "scleral", d)
	}
	m.DesignFailed(ctx, "orthok", "invalid")
	m.JobEntered(ctx, "queued")
	m.JobEntered(ctx, "queued")
	m.JobEntered(ctx, "lathing")
	m.JobsActive(ctx, map[string]int{"queued": 1, "lathing": 1})
	m.JobsActive(ctx, map[string]int{"queued": 0, "lathing": 2})
	m.Notification(ctx, "webhook", nil)
	m.Notification(ctx, "email", errors.New("refused"))
	m.EventFailed(ctx, "Design", "lensflow.scan.received", false)
	m.EventFailed(ctx, "Design", "lensflow.scan.received", true)

	s, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		match map[string]string
		want  int64
	}{
		{metrics.NameScansReceived, nil, 3},
		{metrics.NameScansReceived, map[string]string{metrics.KeyFormat: "cso"}, 2},
		{metrics.NameDesignsProduced, map[string]string{metrics.KeyLensType: "scleral"}, 4},
		{metrics.NameDesignLatency, nil, 4}, // histogram: its count
		{metrics.NameDesignsFailed, map[string]string{metrics.KeyReason: "invalid"}, 1},
		{metrics.NameJobTransitions, map[string]string{metrics.KeyStatus: "queued"}, 2},
		{metrics.NameJobsActive, map[string]string{metrics.KeyStatus: "lathing"}, 2}, // the last census
		{metrics.NameJobsActive, map[string]string{metrics.KeyStatus: "queued"}, 0},
		{metrics.NameNotificationsSent, map[string]string{metrics.KeyChannel: "webhook"}, 1},
		{metrics.NameNotificationsFailed, map[string]string{metrics.KeyChannel: "email"}, 1},
		{metrics.NameEventsFailed, map[string]string{metrics.KeyFunction: "Design"}, 2},
		{metrics.NameEventsDeadLettered, nil, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := metrics.Total(s, c.name, c.match); got != c.want {
				t.Errorf("%s %v = %d, want %d", c.name, c.match, got, c.want)
			}
		})
	}
	var lat *metrics.Point
	for _, x := range s {
		if x.Name == metrics.NameDesignLatency {
			lat = &x.Points[0]
		}
	}
	if lat == nil || lat.Sum == nil || math.Abs(*lat.Sum-42.6) > 1e-9 {
		t.Fatalf("latency sum: %+v", lat)
	}
	// Two of four observations are at most 1 s: the median lies in the
	// (0.5, 1] bucket; the 95th percentile in the last occupied one.
	if *lat.P50 <= 0.5 || *lat.P50 > 1 {
		t.Errorf("p50 = %v, want in (0.5, 1]", *lat.P50)
	}
	if *lat.P95 <= 30 || *lat.P95 > 40 {
		t.Errorf("p95 = %v, want in (30, 40]", *lat.P95)
	}
}

func TestModes(t *testing.T) {
	ctx := context.Background()
	if _, err := metrics.New(ctx, "prometheus", nil); err == nil {
		t.Error("an unknown mode was accepted")
	}
	off, err := metrics.New(ctx, metrics.ModeOff, nil)
	if err != nil {
		t.Fatal(err)
	}
	off.ScanReceived(ctx, "cso", "rgp")
	if _, err := off.Snapshot(ctx); !errors.Is(err, metrics.ErrNotKept) {
		t.Errorf("off: Snapshot error %v, want ErrNotKept", err)
	}
	var none *metrics.Metrics // a nil Metrics records nothing and does not panic
	none.ScanReceived(ctx, "cso", "rgp")
	none.DesignProduced(ctx, "rgp", time.Second)
	none.Notification(ctx, "email", nil)
	none.EventFailed(ctx, "Design", "x", true)
	if err := none.Flush(ctx); err != nil {
		t.Error(err)
	}
}
