package scans_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// gridFile is a Pentacam grid without a header, uploaded with the grid
// statements its reading needs: a scan whose file parses only with them.
func gridFile() ([]byte, scans.UploadInput) {
	c := topotest.Reference()
	c.NoiseUM = 1
	file := c.PentacamFile(topotest.Microns(), topotest.NoHeader())
	return file, scans.UploadInput{Eye: "OD", LensType: "scleral", File: file,
		GridUnits: topo.GridUnitsUM, GridReference: topo.GridReferenceApex}
}

func (f *fixture) upload(t *testing.T, in scans.UploadInput) scans.Scan {
	t.Helper()
	if in.PatientID == "" {
		in.PatientID = f.patient(t, f.north)
	}
	sc, err := f.svc.Upload(context.Background(), f.north, in)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// designed runs the design step on sc and returns the scan afterwards.
func (f *fixture) designed(t *testing.T, sc scans.Scan) scans.Scan {
	t.Helper()
	ctx := context.Background()
	if err := f.svc.DesignScan(ctx, scans.ScanReceived{ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: sc.PatientID}, "req"); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Get(ctx, f.north, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// designOf returns the current design of sc without what names the
// version (ids, time), so designs of two scans can be compared.
func (f *fixture) designOf(t *testing.T, sc scans.Scan) *pipeline.Result {
	t.Helper()
	d, err := f.svc.GetDesign(context.Background(), f.north, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	d.ScanID, d.DesignID, d.Created = "", "", ""
	return d
}

// rewrite replaces the stored record of sc with what change makes of it.
func (f *fixture) rewrite(t *testing.T, sc scans.Scan, change func(*scans.Scan)) scans.Scan {
	t.Helper()
	change(&sc)
	if err := f.docs.RunTransaction(context.Background(), func(_ context.Context, tx ports.Tx) error {
		return tx.Set(scans.ScansCollection, sc.ID, sc)
	}); err != nil {
		t.Fatal(err)
	}
	return sc
}

// The upload stores the file and, beside it, the parsed surface, both
// sealed, under names that hold nothing but the scan id; the record says
// where the surface is and in which version.
func TestUploadStoresFileAndSurface(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	file, in := gridFile()
	sc := f.upload(t, in)
	want, _, err := topo.Parse(file, topo.Options{GridUnits: topo.GridUnitsUM, GridReference: topo.GridReferenceApex})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ss := sc.Surface
	if ss == nil || ss.Object != "surfaces/"+sc.ID || ss.Version != topo.BinaryVersion || ss.Bytes != len(enc) {
		t.Fatalf("stored surface %+v, want surfaces/%s, version %d, %d bytes", ss, sc.ID, topo.BinaryVersion, len(enc))
	}
	var rec scans.Scan
	if err := f.docs.Get(ctx, scans.ScansCollection, sc.ID, &rec); err != nil || !reflect.DeepEqual(rec.Surface, ss) {
		t.Fatalf("the record's surface %+v, %v", rec.Surface, err)
	}
	names, _ := f.blobs.List(ctx, "")
	if !slices.Equal(names, []string{sc.Object, ss.Object}) {
		t.Fatalf("objects %v", names)
	}
	sealed, err := f.blobs.Get(ctx, ss.Object)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("LFSURF")) || bytes.Contains(sealed, enc[len(enc)-64:]) {
		t.Fatal("the stored surface is not sealed")
	}
	plain, err := f.svc.Sealer.Decrypt(sealed, scans.AssociatedDataForSurface(sc))
	if err != nil {
		t.Fatal(err)
	}
	var got topo.Surface
	if err := got.UnmarshalBinary(plain); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Fatal("the stored surface is not the parsed file")
	}
}

// Once uploaded, a scan is designed, mapped, revised and its tear layer
// drawn from the stored surface alone: with its file gone, all still work.
func TestReadsUseTheSurfaceNotTheFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, in := gridFile()
	sc := f.upload(t, in)
	if err := f.blobs.Delete(ctx, sc.Object); err != nil {
		t.Fatal(err)
	}
	if got := f.designed(t, sc); got.Status != scans.StatusDesigned {
		t.Fatalf("design without the file: %s (%s)", got.Status, got.Reason)
	}
	readAll(t, f, sc)
}

// readAll reads everything that loads the stored surface after the design.
func readAll(t *testing.T, f *fixture, sc scans.Scan) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.svc.Map(ctx, f.north, sc.ID); err != nil {
		t.Fatalf("map: %v", err)
	}
	if _, err := f.svc.TearLayer(ctx, f.north, sc.ID, scans.TearLayerOptions{}); err != nil {
		t.Fatalf("tear layer: %v", err)
	}
	same := func(_ *topo.Surface, from *pipeline.Result) (*pipeline.Result, error) {
		again := *from
		return &again, nil
	}
	if _, err := f.svc.PrepareRevision(ctx, f.north, sc.ID, "", "again", same); err != nil {
		t.Fatalf("revision: %v", err)
	}
}

// A scan recorded without a surface this build reads (uploaded before
// surfaces were stored, or recorded in another version) is read from its
// file, parsed with the upload's grid statements, and designs exactly as
// one read from its surface.
func TestScansWithoutASurfaceReadTheirFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, in := gridFile()
	in.PatientID = f.patient(t, f.north)
	want := f.designOf(t, f.designed(t, f.upload(t, in)))
	for name, change := range map[string]func(*scans.Scan){
		"uploaded before surfaces": func(sc *scans.Scan) { sc.Surface = nil },
		"an older version":         func(sc *scans.Scan) { sc.Surface.Version = topo.BinaryVersion - 1 },
		"a newer version":          func(sc *scans.Scan) { sc.Surface.Version = topo.BinaryVersion + 1 },
	} {
		t.Run(name, func(t *testing.T) {
			sc := f.upload(t, in)
			if err := f.blobs.Delete(ctx, sc.Surface.Object); err != nil {
				t.Fatal(err)
			}
			sc = f.rewrite(t, sc, change)
			if got := f.designed(t, sc); got.Status != scans.StatusDesigned {
				t.Fatalf("design from the file: %s (%s)", got.Status, got.Reason)
			}
			if got := f.designOf(t, sc); !reflect.DeepEqual(got, want) {
				t.Fatal("the design from the file differs from the design from the surface")
			}
			readAll(t, f, sc)
		})
	}
}

// A surface opens only as the surface of its own scan: another scan's
// surface, or the scan's own file, put in its place fails the integrity
// check (the design fails saying so, a read is the lab's error), and the
// surface put in the place of a file fails the file's.
func TestSwappedSurfacesDoNotOpen(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	in := scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()}
	other := f.upload(t, in)
	copyBlob := func(from, to string) {
		t.Helper()
		b, err := f.blobs.Get(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.blobs.Put(ctx, to, b, ports.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for name, swap := range map[string]func(sc scans.Scan) scans.Scan{
		"another scan's surface": func(sc scans.Scan) scans.Scan { copyBlob(other.Surface.Object, sc.Surface.Object); return sc },
		"its own file":           func(sc scans.Scan) scans.Scan { copyBlob(sc.Object, sc.Surface.Object); return sc },
		"its surface as its file": func(sc scans.Scan) scans.Scan {
			copyBlob(sc.Surface.Object, sc.Object)
			return f.rewrite(t, sc, func(sc *scans.Scan) { sc.Surface = nil })
		},
	} {
		t.Run(name, func(t *testing.T) {
			sc := swap(f.upload(t, in))
			if _, err := f.svc.Map(ctx, f.north, sc.ID); errs.KindOf(err) != errs.Other || !strings.Contains(err.Error(), "integrity") {
				t.Fatalf("map of a swapped scan: %v (%v), want an internal integrity error", err, errs.KindOf(err))
			}
			got := f.designed(t, sc)
			if got.Status != scans.StatusFailed || !strings.Contains(got.Reason, "failed its integrity check") {
				t.Fatalf("design of a swapped scan: %s (%s)", got.Status, got.Reason)
			}
		})
	}
}

// keyOutage is a sealer whose key service is down.
type keyOutage struct{ ports.Sealer }

func (keyOutage) Decrypt([]byte, []byte) ([]byte, error) {
	return nil, errs.Ef("test.Decrypt", errs.Unavailable, "the key service is unavailable")
}

// A key service that is down is not a damaged surface: a read answers
// unavailable and the design is retried, the scan left as it was.
func TestKeyOutageIsNotAnIntegrityFailure(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sc := f.upload(t, scans.UploadInput{Eye: "OD", LensType: "rgp", File: sampleCSV()})
	svc := *f.svc
	svc.Sealer = keyOutage{f.svc.Sealer}
	if _, err := svc.Map(ctx, f.north, sc.ID); !errs.Is(errs.Unavailable, err) {
		t.Fatalf("map: %v, want Unavailable", err)
	}
	err := svc.DesignScan(ctx, scans.ScanReceived{ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: sc.PatientID}, "req")
	if !errs.Is(errs.Unavailable, err) {
		t.Fatalf("design: %v, want Unavailable (retried)", err)
	}
	if got, _ := f.svc.Get(ctx, f.north, sc.ID); got.Status != scans.StatusReceived {
		t.Fatalf("scan %s (%s) after a key outage", got.Status, got.Reason)
	}
}

// failingBlobs refuses to store objects whose names start with prefix.
type failingBlobs struct {
	ports.Blobs
	prefix string
}

func (b failingBlobs) Put(ctx context.Context, name string, data []byte, opts ports.PutOptions) error {
	if strings.HasPrefix(name, b.prefix) {
		return errs.Ef("test.Put", errs.Unavailable, "storage refused the write")
	}
	return b.Blobs.Put(ctx, name, data, opts)
}

// failingDocs refuses every transaction.
type failingDocs struct{ ports.Documents }

func (failingDocs) RunTransaction(context.Context, func(context.Context, ports.Tx) error) error {
	return errs.Ef("test.RunTransaction", errs.Unavailable, "the document store refused the commit")
}

// An upload whose surface cannot be stored, or whose record cannot be
// committed, fails as unavailable and leaves neither object behind.
func TestFailedUploadsLeaveNeitherObject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	for name, wrap := range map[string]func(svc *scans.Service){
		"the surface is refused": func(svc *scans.Service) { svc.Blobs = failingBlobs{f.blobs, "surfaces/"} },
		"the file is refused":    func(svc *scans.Service) { svc.Blobs = failingBlobs{f.blobs, "scans/"} },
		"the commit is refused":  func(svc *scans.Service) { svc.Docs = failingDocs{f.docs} },
	} {
		t.Run(name, func(t *testing.T) {
			svc := *f.svc
			wrap(&svc)
			_, err := svc.Upload(ctx, f.north, scans.UploadInput{PatientID: pid, Eye: "OD", LensType: "rgp", File: sampleCSV()})
			if !errs.Is(errs.Unavailable, err) {
				t.Fatalf("upload: %v, want Unavailable", err)
			}
			if names, _ := f.blobs.List(ctx, ""); len(names) != 0 {
				t.Fatalf("left %v", names)
			}
			if docs, _ := f.docs.Query(ctx, queryScans()); len(docs) != 0 {
				t.Fatalf("left %d records", len(docs))
			}
		})
	}
}

// The record of a scan uploaded before surfaces were stored (no "surface"
// field) reads as a scan without one.
func TestRecordsBeforeSurfacesDecode(t *testing.T) {
	old := `{"id":"s1","clinicId":"c","patientId":"p","eye":"OD","lensType":"rgp","format":"xyz-csv","points":15365,` +
		`"object":"scans/s1","bytes":314362,"status":"received","received":"2026-01-15T09:30:00Z"}`
	var sc scans.Scan
	if err := json.Unmarshal([]byte(old), &sc); err != nil || sc.Surface != nil {
		t.Fatalf("%+v %v", sc, err)
	}
}
