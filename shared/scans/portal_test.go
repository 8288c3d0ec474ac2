package scans_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/scans"
)

// clock is a Now that advances a second per call, so records made one
// after another have distinct, ordered times.
func clock() func() time.Time {
	t := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

// lastAudit returns the audit records written since n and checks there is
// exactly one.
func lastAudit(t *testing.T, f *fixture, n int) audit.Record {
	t.Helper()
	recs := f.audit.Records()[n:]
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want 1: %+v", len(recs), recs)
	}
	return recs[0]
}

func TestListPatients(t *testing.T) {
	f := newFixture(t)
	f.svc.Clock = clock()
	ctx := context.Background()
	var north []string
	for _, name := range []string{"First Person", "Second Person", "Third Person"} {
		p, err := f.svc.CreatePatient(ctx, f.north, scans.PatientInput{Name: name, BirthDate: "1980-05-06"})
		if err != nil {
			t.Fatal(err)
		}
		north = append(north, p.ID)
	}
	south := f.patient(t, f.south)

	for _, tc := range []struct {
		name   string
		actor  auth.Actor
		ids    []string
		first  string
		clinic string
	}{
		{"north sees its own, newest first, names decrypted", f.north, []string{north[2], north[1], north[0]}, "Third Person", "demo-north"},
		{"south sees only its own", f.south, []string{south}, "ZZCANARY Person", "demo-south"},
		{"a clinic with no patients sees none", auth.Actor{Subject: "x", Role: "practitioner", ClinicID: "demo-east", RequestID: "r3"}, nil, "", "demo-east"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(f.audit.Records())
			ps, _, err := f.svc.ListPatients(ctx, tc.actor, paging.Request{})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != len(tc.ids) {
				t.Fatalf("%d patients, want %d: %+v", len(ps), len(tc.ids), ps)
			}
			for i, p := range ps {
				if p.ID != tc.ids[i] || p.BirthDate == "" || p.Created.IsZero() {
					t.Errorf("patient %d: %+v, want id %s", i, p, tc.ids[i])
				}
			}
			if len(ps) > 0 && ps[0].Name != tc.first {
				t.Errorf("first name %q, want %q", ps[0].Name, tc.first)
			}
			r := lastAudit(t, f, n)
			if r.Action != "patient.list" || r.Resource != "patients" || r.Outcome != audit.Success || r.Clinic != tc.clinic {
				t.Errorf("audit %+v", r)
			}
		})
	}
}

func TestPatientScans(t *testing.T) {
	f := newFixture(t)
	f.svc.Clock = clock()
	ctx := context.Background()
	pid, other := f.patient(t, f.north), f.patient(t, f.north)
	var ids []string
	for range 2 {
		sc, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sc.ID)
	}
	if _, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: other, Eye: "OD", LensType: "rgp", File: sampleCSV()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		actor   auth.Actor
		patient string
		ids     []string
		kind    errs.Kind
		outcome string
	}{
		{"own patient, newest first", f.north, pid, []string{ids[1], ids[0]}, 0, audit.Success},
		{"another clinic's patient", f.south, pid, nil, errs.NotFound, audit.Denied},
		{"unknown patient", f.north, "no-such-patient", nil, errs.NotFound, audit.Denied},
		{"malformed id", f.north, "../x", nil, errs.NotFound, audit.Denied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(f.audit.Records())
			scs, _, err := f.svc.PatientScans(ctx, tc.actor, tc.patient, paging.Request{})
			if tc.kind != 0 {
				if !errs.Is(tc.kind, err) {
					t.Fatalf("error %v, want %v", err, tc.kind)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(scs) != len(tc.ids) {
				t.Fatalf("%d scans, want %d", len(scs), len(tc.ids))
			}
			for i, sc := range scs {
				if sc.ID != tc.ids[i] || sc.PatientID != pid {
					t.Errorf("scan %d: %s of %s, want %s", i, sc.ID, sc.PatientID, tc.ids[i])
				}
			}
			if r := lastAudit(t, f, n); r.Action != "scan.list" || r.Outcome != tc.outcome {
				t.Errorf("audit %+v", r)
			}
		})
	}
}

func TestScanMap(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	sc, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()})
	if err != nil {
		t.Fatal(err)
	}
	// A scan too small for the engine's fit: stored, but not mappable.
	small := topotest.Reference()
	small.RadiusMM = 2
	bad, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: small.CSV()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		actor   auth.Actor
		scan    string
		kind    errs.Kind
		outcome string
	}{
		{"own scan, before it is designed", f.north, sc.ID, 0, audit.Success},
		{"another clinic's scan", f.south, sc.ID, errs.NotFound, audit.Denied},
		{"unknown scan", f.north, "nope", errs.NotFound, audit.Denied},
		{"a scan the engine cannot fit", f.north, bad.ID, errs.Unprocessable, audit.Failure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(f.audit.Records())
			m, err := f.svc.Map(ctx, tc.actor, tc.scan)
			r := lastAudit(t, f, n)
			if r.Action != "scan.map.read" || r.Outcome != tc.outcome {
				t.Errorf("audit %+v", r)
			}
			if tc.kind != 0 {
				if !errs.Is(tc.kind, err) {
					t.Fatalf("error %v, want %v", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.ScanID != sc.ID || m.N != 61 || m.ExtentMM != 4.5 || len(m.AxialD) != 61*61 || len(m.ElevationUM) != 61*61 {
				t.Fatalf("map %s n %d extent %g, %d cells", m.ScanID, m.N, m.ExtentMM, len(m.AxialD))
			}
			if c := m.AxialD[30*61+30]; math.Abs(c-337.5/7.8) > 0.05 {
				t.Errorf("centre %.3f D, want %.3f", c, 337.5/7.8)
			}
			if r.Resource != "scans/"+sc.ID+"/map" {
				t.Errorf("audit resource %s", r.Resource)
			}
		})
	}
}
