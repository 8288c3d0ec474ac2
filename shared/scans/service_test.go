package scans_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/adapters/embeddedtest"
	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
	"github.com/lensflow/lensflow/shared/servicekit"
)

type fixture struct {
	svc   *scans.Service
	docs  ports.Documents
	blobs ports.Blobs
	audit *audit.Memory
	north auth.Actor
	south auth.Actor
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	docs, blobs, sealer := embeddedtest.Open(t)
	mem := &audit.Memory{}
	return &fixture{
		svc:  &scans.Service{Docs: docs, Blobs: blobs, Sealer: sealer, Kit: servicekit.Kit{AuditLog: mem}},
		docs: docs, blobs: blobs, audit: mem,
		north: auth.Actor{Subject: "dr-north", Role: "practitioner", ClinicID: "demo-north", RequestID: "r1"},
		south: auth.Actor{Subject: "dr-south", Role: "practitioner", ClinicID: "demo-south", RequestID: "r2"},
	}
}

func (f *fixture) patient(t testing.TB, a auth.Actor) string {
	t.Helper()
	p, err := f.svc.CreatePatient(context.Background(), a, scans.PatientInput{Name: "ZZCANARY Person", BirthDate: "1970-01-02"})
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func sampleCSV() []byte {
	return topotest.Reference().CSV("# patient: ZZCANARY Person", "# serial: SN-ZZCANARY-1")
}

func TestCreatePatientValidatesAndSeals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		in    scans.PatientInput
		field string
	}{
		{scans.PatientInput{BirthDate: "1970-01-01"}, "name"},
		{scans.PatientInput{Name: "A\x00B", BirthDate: "1970-01-01"}, "name"},
		{scans.PatientInput{Name: strings.Repeat("a", 201), BirthDate: "1970-01-01"}, "name"},
		{scans.PatientInput{Name: "A"}, "birthDate"},
		{scans.PatientInput{Name: "A", BirthDate: "02/03/1970"}, "birthDate"},
		{scans.PatientInput{Name: "A", BirthDate: "2999-01-01"}, "birthDate"},
		{scans.PatientInput{Name: "A", BirthDate: "1850-01-01"}, "birthDate"},
	} {
		_, err := f.svc.CreatePatient(ctx, f.north, tc.in)
		if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field {
			t.Errorf("%+v: got %v, want Invalid on %s", tc.in, err, tc.field)
		}
	}
	id := f.patient(t, f.north)
	var raw json.RawMessage
	if err := f.docs.Get(ctx, scans.PatientsCollection, id, &raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("ZZCANARY")) || bytes.Contains(raw, []byte("1970-01-02")) {
		t.Fatalf("patient document holds identifying fields in clear: %s", raw)
	}
}

func TestUploadValidatesBeforeStoring(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	good := sampleCSV()
	for _, tc := range []struct {
		name  string
		in    scans.UploadInput
		kind  errs.Kind
		field string
	}{
		{"bad eye", scans.UploadInput{PatientID: pid, Eye: "left", LensType: "rgp", File: good}, errs.Invalid, "eye"},
		{"bad lens type", scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "soft", File: good}, errs.Invalid, "lensType"},
		{"rx not a number", scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", Rx: "NaN", File: good}, errs.Invalid, "rx"},
		{"rx out of range", scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", Rx: "-45", File: good}, errs.Invalid, "rx"},
		{"hvid out of range", scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "scleral", HVID: "30", File: good}, errs.Invalid, "hvid"},
		{"eye contradicts file", scans.UploadInput{PatientID: pid, Eye: "OS", LensType: "rgp", File: good}, errs.Invalid, "eye"},
		{"ragged file", scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: []byte("x,y,z\n0,0,0\n1,2\n")}, errs.Invalid, "line 3"},
		{"binary file", scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: []byte{0, 1, 2, 0xff, 0xfe}}, errs.Invalid, ""},
		{"all points equal", scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: degenerate(func(int) (float64, float64) { return 0, 0 })}, errs.Invalid, ""},
		{"no extent in y", scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: degenerate(func(i int) (float64, float64) { return float64(i)*0.05 - 5, 0 })}, errs.Invalid, ""},
		{"fewer positions than the fit needs", scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: degenerate(func(i int) (float64, float64) {
			return float64(i%60%10)*0.5 - 2.5, float64(i%60/10)*0.5 - 1.5
		})}, errs.Invalid, ""},
		{"unknown patient", scans.UploadInput{PatientID: "nope", Eye: "OD", LensType: "rgp", File: good}, errs.NotFound, ""},
		{"other clinic's patient", scans.UploadInput{PatientID: f.patient(t, f.south), Eye: "OD", LensType: "rgp", File: good}, errs.NotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Upload(ctx, f.north, tc.in)
			if errs.KindOf(err) != tc.kind {
				t.Fatalf("got %v (%v), want %v", err, errs.KindOf(err), tc.kind)
			}
			if tc.field != "" && errs.FieldOf(err) != tc.field {
				t.Fatalf("field %q, want %q (%v)", errs.FieldOf(err), tc.field, err)
			}
		})
	}
	if names, _ := f.blobs.List(ctx, ""); len(names) != 0 {
		t.Fatalf("rejected uploads left objects behind: %v", names)
	}
	if docs, _ := f.docs.Query(ctx, ports.Query{Collection: scans.ScansCollection}); len(docs) != 0 {
		t.Fatalf("rejected uploads left records behind: %d", len(docs))
	}
}

func TestUploadThenDesign(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	file := sampleCSV()
	sc, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", Rx: "-2.5", HVID: "11.8", File: file})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Status != scans.StatusReceived || sc.Points != 15365 || sc.Format != "xyz-csv" || *sc.RxD != -2.5 {
		t.Fatalf("scan %+v", sc)
	}

	// Stored as ciphertext, under an opaque name, with header identifiers only sealed.
	stored, err := f.blobs.Get(ctx, sc.Object)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(file), "\n")
	for _, l := range lines[6:20] {
		if bytes.Contains(stored, []byte(l)) {
			t.Fatalf("stored object contains a line of the scan: %q", l)
		}
	}
	var raw json.RawMessage
	_ = f.docs.Get(ctx, scans.ScansCollection, sc.ID, &raw)
	if bytes.Contains(raw, []byte("ZZCANARY")) || strings.Contains(sc.Object, pid) {
		t.Fatalf("scan record or object name leaks identifiers: %s %s", raw, sc.Object)
	}

	// The event is in the outbox, ids only.
	pending, err := f.docs.Query(ctx, ports.Query{Collection: outbox.Collection})
	if err != nil || len(pending) != 1 {
		t.Fatalf("outbox: %v %d", err, len(pending))
	}
	var e outbox.Entry
	_ = pending[0].Decode(&e)
	var data scans.ScanReceived
	if err := json.Unmarshal(e.Event.Data, &data); err != nil || data.ScanID != sc.ID || data.ClinicID != "demo-north" || e.Topic != scans.TopicScanReceived {
		t.Fatalf("event %+v data %+v", e, data)
	}
	if bytes.Contains(pending[0].Data, []byte("ZZCANARY")) {
		t.Fatal("event carries PHI")
	}

	// Not designed yet.
	if _, err := f.svc.GetDesign(ctx, f.north, sc.ID); !errs.Is(errs.Conflict, err) {
		t.Fatalf("design before designing: %v", err)
	}
	// Design, three times: one effect.
	for i := 0; i < 3; i++ {
		if err := f.svc.DesignScan(ctx, data, "req"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.svc.Get(ctx, f.north, sc.ID)
	if err != nil || got.Status != scans.StatusDesigned || got.Designed == nil {
		t.Fatalf("after design: %+v %v", got, err)
	}
	d, err := f.svc.GetDesign(ctx, f.north, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Cornea
	if math.Abs(s.ApicalRadiusMM-7.8) > 1e-3 || math.Abs(s.ShapeFactorP-0.75) > 1e-3 || math.Abs(s.Eccentricity-0.5) > 1e-3 ||
		math.Abs(s.FlatKD-43.07) > 0.01 || math.Abs(s.ApicalK.FlatKD-43.27) > 0.01 || math.Abs(s.SagMM["8"]-1.0819) > 1e-3 || math.Abs(s.SagMM["10"]-1.7498) > 1e-3 {
		t.Fatalf("design cornea %+v", s)
	}
	if s.SagSource["10"] != "measured" {
		t.Fatalf("10 mm sag source %q", s.SagSource["10"])
	}
	// The lens type and clinical inputs given at upload were used.
	if d.ScanID != sc.ID || d.Lens.Type != "rgp" || d.Lens.RefractionD != -2.5 || d.Lens.HVIDMM != 11.8 || d.Lens.BOZRMM == 0 {
		t.Fatalf("design lens %+v", d.Lens)
	}

	// Other clinic: 404 for scan and design, audited as denied.
	if _, err := f.svc.Get(ctx, f.south, sc.ID); !errs.Is(errs.NotFound, err) {
		t.Fatalf("other clinic read the scan: %v", err)
	}
	if _, err := f.svc.GetDesign(ctx, f.south, sc.ID); !errs.Is(errs.NotFound, err) {
		t.Fatalf("other clinic read the design: %v", err)
	}
	counts := map[string]int{}
	for _, r := range f.audit.Records() {
		counts[r.Action+"/"+r.Outcome]++
	}
	want := map[string]int{"patient.create/success": 1, "scan.create/success": 1, "scan.read/success": 1, "design.create/success": 1,
		"design.read/success": 1, "scan.read/denied": 1, "design.read/denied": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("audit %s = %d, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
}

// degenerate is an x,y,z file of 200 points placed by at, heights of a
// 7.8 mm sphere: what is wrong with it is where the points are.
func degenerate(at func(i int) (x, y float64)) []byte {
	var b strings.Builder
	b.WriteString("x,y,z\n")
	for i := range 200 {
		x, y := at(i)
		fmt.Fprintf(&b, "%g,%g,%g\n", x, y, (x*x+y*y)/15.6)
	}
	return []byte(b.String())
}

// The refusal of a degenerate scan says what is wrong with it, naming the
// fit's minimum.
func TestUploadRefusesDegenerateScans(t *testing.T) {
	f := newFixture(t)
	pid := f.patient(t, f.north)
	sixty := "x,y,z\n"
	for i := range 60 {
		sixty += fmt.Sprintf("%g,%g,0.1\n", float64(i%10)*0.5-2.5, float64(i/10)*0.5-1.5)
	}
	for file, want := range map[string]string{
		string(degenerate(func(int) (float64, float64) { return 0.5, 0.5 })):                                                 "all 200 points are at one (x, y) position",
		string(degenerate(func(i int) (float64, float64) { return 0, float64(i)*0.05 - 5 })):                                 "no extent in x",
		string(degenerate(func(i int) (float64, float64) { return float64(i)*0.05 - 5, float64(i)*0.05 - 5 })):               "lie on one straight line",
		string(degenerate(func(i int) (float64, float64) { return float64(i%60%10)*0.5 - 2.5, float64(i%60/10)*0.5 - 1.5 })): "only 60 distinct (x, y) positions among 200 points; a fit needs at least 90",
		sixty: "only 60 points; at least 90 are needed",
	} {
		_, err := f.svc.Upload(context.Background(), f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: []byte(file)})
		if !errs.Is(errs.Invalid, err) || !strings.Contains(errs.Message(err), want) {
			t.Errorf("got %v, want 400 saying %q", err, want)
		}
	}
}

func TestDesignFailures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)

	// Too little data for the design: marked failed with a reason, not retried.
	small := topotest.Cornea{RadiusMM: 2.0}.CSV()
	sc, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: small})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DesignScan(ctx, scans.ScanReceived{ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: pid}, "req"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.Get(ctx, f.north, sc.ID)
	if got.Status != scans.StatusFailed || got.Reason == "" {
		t.Fatalf("small scan: %+v", got)
	}
	if _, err := f.svc.GetDesign(ctx, f.north, sc.ID); !errs.Is(errs.Conflict, err) || !strings.Contains(err.Error(), "design failed") {
		t.Fatalf("design of a failed scan: %v", err)
	}

	// A tampered surface fails its integrity check.
	sc2, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.blobs.Get(ctx, sc2.Surface.Object)
	b[len(b)/2] ^= 1
	if err := f.blobs.Put(ctx, sc2.Surface.Object, b, ports.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DesignScan(ctx, scans.ScanReceived{ScanID: sc2.ID, ClinicID: sc2.ClinicID, PatientID: pid}, "req"); err != nil {
		t.Fatal(err)
	}
	got, _ = f.svc.Get(ctx, f.north, sc2.ID)
	if got.Status != scans.StatusFailed || got.Reason != "the stored scan surface failed its integrity check" {
		t.Fatalf("tampered scan: %+v", got)
	}

	// An event whose ids do not match the record is ignored.
	sc3, _ := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()})
	if err := f.svc.DesignScan(ctx, scans.ScanReceived{ScanID: sc3.ID, ClinicID: "demo-south", PatientID: pid}, "req"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Get(ctx, f.north, sc3.ID); got.Status != scans.StatusReceived {
		t.Fatalf("mismatched event changed the scan: %+v", got)
	}
}

func TestSweepOrphans(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	sc, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()})
	if err != nil {
		t.Fatal(err)
	}
	// Uploads that crashed after storing their file, or file and surface,
	// but before their record.
	for _, name := range []string{"scans/orphan-1", "scans/orphan-2", "surfaces/orphan-2"} {
		if err := f.blobs.Put(ctx, name, []byte("sealed"), ports.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := f.svc.SweepOrphans(ctx)
	if err != nil || n != 3 {
		t.Fatalf("swept %d, %v", n, err)
	}
	names, _ := f.blobs.List(ctx, "")
	if !slices.Equal(names, []string{sc.Object, sc.Surface.Object}) {
		t.Fatalf("left %v", names)
	}
}

// A revision is stored only over the design it was prepared over: of two
// prepared together, the second is refused with ErrDesignChanged and leaves
// nothing; one computed from an older version is numbered after the
// current one.
func TestRevisionCommitsOverItsDesign(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	sc, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", Rx: "-2.5", File: sampleCSV()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DesignScan(ctx, scans.ScanReceived{ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: pid}, "req"); err != nil {
		t.Fatal(err)
	}
	same := func(_ *topo.Surface, from *pipeline.Result) (*pipeline.Result, error) {
		again := *from
		return &again, nil
	}
	commit := func(r scans.Revision) error {
		return f.docs.RunTransaction(ctx, func(_ context.Context, tx ports.Tx) error { return scans.CommitRevision(tx, r) })
	}
	r1, err := f.svc.PrepareRevision(ctx, f.north, sc.ID, "", "first", same)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.svc.PrepareRevision(ctx, f.north, sc.ID, "", "second", same)
	if err != nil {
		t.Fatal(err)
	}
	if err := commit(r1); err != nil {
		t.Fatal(err)
	}
	if err := commit(r2); !errs.Is(errs.Conflict, err) || !errors.Is(err, scans.ErrDesignChanged) {
		t.Fatalf("second revision over the same design: %v", err)
	}
	designs, _ := f.docs.Query(ctx, ports.Query{Collection: scans.DesignsCollection})
	got, _ := f.svc.Get(ctx, f.north, sc.ID)
	if len(designs) != 2 || got.DesignID != r1.Record.ID || got.DesignVersion != 2 {
		t.Fatalf("%d designs, current %s v%d", len(designs), got.DesignID, got.DesignVersion)
	}
	r3, err := f.svc.PrepareRevision(ctx, f.north, sc.ID, r1.From.ID, "from version 1", same)
	if err != nil || r3.Record.Version != 3 || r3.From.Version != 1 || r3.Replaces != r1.Record.ID {
		t.Fatalf("from version 1: %v %+v", err, r3.Record)
	}
	if err := commit(r3); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PrepareRevision(ctx, f.south, sc.ID, "", "other clinic", same); !errs.Is(errs.NotFound, err) {
		t.Fatalf("another clinic's scan: %v", err)
	}
}

// BenchmarkUpload measures the upload path on embedded adapters: parse and
// validate 15,365 points, encode the surface, seal and store file and
// surface, commit record and outbox.
func BenchmarkUpload(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	pid := f.patient(b, f.north)
	file := topotest.Reference().CSV()
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: file}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDesignScan measures the design step: read, unseal and decode
// the stored surface, fit the cornea, design, seal and commit the design.
func BenchmarkDesignScan(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	pid := f.patient(b, f.north)
	file := topotest.Reference().CSV()
	var evs []scans.ScanReceived
	for i := 0; i < b.N; i++ {
		sc, err := f.svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: file})
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, scans.ScanReceived{ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: pid})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f.svc.DesignScan(ctx, evs[i], "req"); err != nil {
			b.Fatal(err)
		}
	}
}
