package scans_test

import (
	"context"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/faults"
	"github.com/lensflow/lensflow/shared/scans"
)

// An upload retried with the same scan id (its Idempotency-Key's) creates
// one scan, even when the first attempt's storage or commit failed and left
// a file behind.
func TestUploadRetriedWithSameIDCreatesOneScan(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	in := scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV(), ScanID: "0f6c1f9e-retry-0001"}

	first, err := f.svc.Upload(ctx, f.north, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Upload(ctx, f.north, in)
	if err != nil || again.ID != first.ID {
		t.Fatalf("retry: %v %+v", err, again)
	}
	// Another clinic presenting the id (a forged record) gets nothing.
	if _, err := f.svc.Upload(ctx, f.south, scans.UploadInput{PatientID: f.patient(t, f.south), Eye: "OD", LensType: "rgp",
		File: sampleCSV(), ScanID: first.ID}); err == nil {
		t.Fatal("a scan id of another clinic was accepted")
	}
	// A file and surface left by a failed attempt (no record) do not block
	// the retry.
	orphan := "0f6c1f9e-retry-0002"
	for _, name := range []string{"scans/" + orphan, "surfaces/" + orphan} {
		if err := f.blobs.Put(ctx, name, []byte("left by a crash"), putOpts()); err != nil {
			t.Fatal(err)
		}
	}
	in.ScanID = orphan
	sc, err := f.svc.Upload(ctx, f.north, in)
	if err != nil || sc.ID != orphan {
		t.Fatalf("retry over a leftover file: %v %+v", err, sc)
	}
	if got := f.designed(t, sc); got.Status != scans.StatusDesigned {
		t.Fatalf("design after a retry over leftovers: %s (%s)", got.Status, got.Reason)
	}
	docs, _ := f.docs.Query(ctx, queryScans())
	if len(docs) != 2 {
		t.Fatalf("%d scans, want 2", len(docs))
	}
}

// Under storage and document failures, an upload either succeeds (file,
// surface and record) or fails leaving nothing: no object without a record.
func TestUploadUnderFaultsLeavesNothingHalfWritten(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	in := faults.New(faults.Spec{Rate: 0.15, Seed: 11})
	svc := *f.svc
	svc.Docs, svc.Blobs = in.Documents(f.docs), in.Blobs(f.blobs)
	ok := 0
	for i := 0; i < 120; i++ {
		_, err := svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()})
		if err == nil {
			ok++
		} else if !errs.Is(errs.Unavailable, err) && !errs.Is(errs.NotFound, err) {
			t.Fatalf("upload %d: unexpected error kind: %v", i, err)
		}
	}
	docs, _ := f.docs.Query(ctx, queryScans())
	files, _ := f.blobs.List(ctx, "scans/")
	surfaces, _ := f.blobs.List(ctx, "surfaces/")
	t.Logf("%d of 120 uploads succeeded; faults: %+v", ok, in.Total())
	if len(docs) != ok || len(files) != ok || len(surfaces) != ok {
		t.Fatalf("%d accepted, %d records, %d files, %d surfaces", ok, len(docs), len(files), len(surfaces))
	}
	if in.Total().Injected() == 0 || ok == 0 {
		t.Fatalf("faults %+v, %d ok", in.Total(), ok)
	}
}

func putOpts() ports.PutOptions { return ports.PutOptions{ContentType: "application/octet-stream"} }

func queryScans() ports.Query { return ports.Query{Collection: scans.ScansCollection} }

// A retried create-patient request with the same id answers with the
// patient an earlier attempt committed, once.
func TestCreatePatientRetriedWithSameID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := scans.PatientInput{Name: "ZZCANARY Person", BirthDate: "1970-01-02", ID: "7d0c6a1e-patient-0001"}
	first, err := f.svc.CreatePatient(ctx, f.north, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.CreatePatient(ctx, f.north, in)
	if err != nil || again.ID != first.ID {
		t.Fatalf("retry: %v %+v", err, again)
	}
	if _, err := f.svc.CreatePatient(ctx, f.south, in); err == nil {
		t.Fatal("another clinic's patient id was answered")
	}
	docs, _ := f.docs.Query(ctx, ports.Query{Collection: scans.PatientsCollection})
	if len(docs) != 1 {
		t.Fatalf("%d patients, want 1", len(docs))
	}
}
