package scans_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/scans"
)

// waiting waits until the gate has i interactive and b background pieces
// queued.
func waiting(t *testing.T, g *admission.CPU, i, b int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if gi, gb := g.Waiting(); gi == i && gb == b {
			return
		}
	}
	gi, gb := g.Waiting()
	t.Fatalf("queued %d interactive, %d background; want %d, %d", gi, gb, i, b)
}

// An upload computes in a CPU slot as interactive work and a design as
// background work (the gate's order is admission's to test): with the one
// slot taken, both wait in their classes, and both finish once it is
// given back. An upload whose caller goes away while it waits stores
// nothing.
func TestUploadsAndDesignsTakeTurnsForTheCPU(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	gate := &admission.CPU{Slots: 1}
	f.svc.CPU = gate
	pid := f.patient(t, f.north)
	in := scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()}
	first := f.upload(t, in)

	hold, _ := gate.Acquire(ctx, admission.Interactive)
	designed := make(chan error, 1)
	go func() {
		designed <- f.svc.DesignScan(ctx, scans.ScanReceived{ScanID: first.ID, ClinicID: first.ClinicID, PatientID: pid}, "req")
	}()
	waiting(t, gate, 0, 1)
	uploaded := make(chan error, 1)
	go func() {
		_, err := f.svc.Upload(ctx, f.north, in)
		uploaded <- err
	}()
	waiting(t, gate, 1, 1)
	// A caller that goes away while waiting.
	gone, cancel := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() {
		_, err := f.svc.Upload(gone, f.north, in)
		left <- err
	}()
	waiting(t, gate, 2, 1)
	cancel()
	if err := <-left; !errs.Is(errs.Unavailable, err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("upload whose caller went away: %v", err)
	}
	waiting(t, gate, 1, 1)
	hold()
	if err := <-uploaded; err != nil {
		t.Fatal(err)
	}
	if err := <-designed; err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Get(ctx, f.north, first.ID); got.Status != scans.StatusDesigned {
		t.Fatalf("design: %s (%s)", got.Status, got.Reason)
	}
	if docs, _ := f.docs.Query(ctx, queryScans()); len(docs) != 2 {
		t.Fatalf("%d scans stored, want 2 (the abandoned upload stores nothing)", len(docs))
	}
	if names, _ := f.blobs.List(ctx, ""); len(names) != 2 {
		t.Fatalf("objects %v, want the two scans' bundles", names)
	}
}
