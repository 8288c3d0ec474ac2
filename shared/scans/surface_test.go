package scans_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/engine"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
	"github.com/lensflow/lensflow/shared/topo"
	"github.com/lensflow/lensflow/shared/topo/topotest"
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
func (f *fixture) designOf(t *testing.T, sc scans.Scan) *engine.Result {
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

// splitBundle takes an opened bundle apart by its documented layout:
// "LFSCAN", version 1, the surface's length (uint32, little-endian), the
// surface, the file.
func splitBundle(t *testing.T, b []byte) (surface, file []byte) {
	t.Helper()
	if len(b) < 11 || string(b[:6]) != "LFSCAN" || b[6] != 1 {
		t.Fatalf("not a version 1 bundle: %q", b[:min(len(b), 11)])
	}
	n := int(binary.LittleEndian.Uint32(b[7:11]))
	if 11+n > len(b) {
		t.Fatalf("surface of %d bytes in a bundle of %d", n, len(b))
	}
	return b[11 : 11+n], b[11+n:]
}

// openBundle reads and opens sc's stored bundle.
func (f *fixture) openBundle(t *testing.T, sc scans.Scan) (surface, file []byte) {
	t.Helper()
	sealed, err := f.blobs.Get(context.Background(), sc.Object)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := f.svc.Sealer.Decrypt(sealed, scans.AssociatedDataForBundle(sc))
	if err != nil {
		t.Fatal(err)
	}
	return splitBundle(t, plain)
}

// seal stores plain sealed with ad under name.
func (f *fixture) seal(t *testing.T, name string, plain, ad []byte) {
	t.Helper()
	sealed, err := f.svc.Sealer.Encrypt(plain, ad)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.blobs.Put(context.Background(), name, sealed, ports.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// olderLayout stores sc as scans were before bundles: its file alone
// under its name, sealed with AssociatedDataForScan, and, when surface is
// not nil, the surface's binary form in an object of its own with the
// version recorded in *surface, sealed with AssociatedDataForSurface.
func (f *fixture) olderLayout(t *testing.T, sc scans.Scan, surface *scans.StoredSurface) scans.Scan {
	t.Helper()
	enc, file := f.openBundle(t, sc)
	enc = bytes.Clone(enc)
	sc = f.rewrite(t, sc, func(sc *scans.Scan) { sc.Surface = surface })
	f.seal(t, sc.Object, file, scans.AssociatedDataForScan(sc))
	if surface != nil {
		f.seal(t, surface.Object, enc, scans.AssociatedDataForSurface(sc))
	}
	return sc
}

// The upload stores one object, the scan's bundle: the parsed surface and
// the file as sent, sealed together under a name that holds nothing but
// the scan id. The record says that the surface is there and in which
// version.
func TestUploadStoresOneBundle(t *testing.T) {
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
	if sc.Object != "scans/"+sc.ID || ss == nil || ss.Object != sc.Object || !ss.WithFile ||
		ss.Version != topo.BinaryVersion || ss.Bytes != len(enc) {
		t.Fatalf("object %s, stored surface %+v, want scans/%s with the file, version %d, %d bytes",
			sc.Object, ss, sc.ID, topo.BinaryVersion, len(enc))
	}
	var rec scans.Scan
	if err := f.docs.Get(ctx, scans.ScansCollection, sc.ID, &rec); err != nil || !reflect.DeepEqual(rec.Surface, ss) {
		t.Fatalf("the record's surface %+v, %v", rec.Surface, err)
	}
	names, _ := f.blobs.List(ctx, "")
	if !slices.Equal(names, []string{sc.Object}) {
		t.Fatalf("objects %v", names)
	}
	sealed, err := f.blobs.Get(ctx, sc.Object)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("LFSCAN")) || bytes.Contains(sealed, []byte("LFSURF")) || bytes.Contains(sealed, file[len(file)-64:]) {
		t.Fatal("the stored bundle is not sealed")
	}
	for name, ad := range map[string][]byte{"file": scans.AssociatedDataForScan(sc), "surface": scans.AssociatedDataForSurface(sc)} {
		if _, err := f.svc.Sealer.Decrypt(sealed, ad); err == nil {
			t.Errorf("the bundle opens as a %s of the older layout", name)
		}
	}
	gotEnc, gotFile := f.openBundle(t, sc)
	if !bytes.Equal(gotFile, file) {
		t.Fatal("the bundle's file is not the file uploaded")
	}
	var got topo.Surface
	if err := got.UnmarshalBinary(gotEnc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Fatal("the bundle's surface is not the parsed file")
	}
}

// Once uploaded, a scan is designed, mapped, revised and its tear layer
// drawn from the stored surface alone: with the bundle's file replaced by
// one no reader accepts, all still work.
func TestReadsUseTheSurfaceNotTheFile(t *testing.T) {
	f := newFixture(t)
	_, in := gridFile()
	sc := f.upload(t, in)
	enc, _ := f.openBundle(t, sc)
	bundle := append([]byte("LFSCAN\x01"), binary.LittleEndian.AppendUint32(nil, uint32(len(enc)))...)
	bundle = append(append(bundle, enc...), "not a scan file"...)
	f.seal(t, sc.Object, bundle, scans.AssociatedDataForBundle(sc))
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
	same := func(_ *topo.Surface, from *engine.Result) (*engine.Result, error) { again := *from; return &again, nil }
	if _, err := f.svc.PrepareRevision(ctx, f.north, sc.ID, "", "again", same); err != nil {
		t.Fatalf("revision: %v", err)
	}
}

// A scan recorded without a surface this build reads (uploaded before
// surfaces were stored, or recorded in another version) is read from its
// file, parsed with the upload's grid statements, and designs exactly as
// one read from its surface; a scan of the older layout of two objects,
// file and surface, reads its surface.
func TestScansWithoutASurfaceReadTheirFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, in := gridFile()
	in.PatientID = f.patient(t, f.north)
	want := f.designOf(t, f.designed(t, f.upload(t, in)))
	older := func(version int) func(sc scans.Scan) scans.Scan {
		return func(sc scans.Scan) scans.Scan {
			ss := &scans.StoredSurface{Object: "surfaces/" + sc.ID, Version: version, Bytes: sc.Surface.Bytes}
			return f.olderLayout(t, sc, ss)
		}
	}
	// A bundle of another version: the surface is not read, the file is.
	bundleOf := func(version int) func(sc scans.Scan) scans.Scan {
		return func(sc scans.Scan) scans.Scan {
			enc, file := f.openBundle(t, sc)
			bundle := append([]byte("LFSCAN\x01"), binary.LittleEndian.AppendUint32(nil, uint32(len(enc)))...)
			bundle = append(append(bundle, enc...), file...)
			sc = f.rewrite(t, sc, func(sc *scans.Scan) { sc.Surface.Version = version })
			f.seal(t, sc.Object, bundle, scans.AssociatedDataForBundle(sc))
			return sc
		}
	}
	for name, change := range map[string]func(scans.Scan) scans.Scan{
		"uploaded before surfaces":               func(sc scans.Scan) scans.Scan { return f.olderLayout(t, sc, nil) },
		"two objects, the surface's current":     older(topo.BinaryVersion),
		"two objects, the surface an older one":  older(topo.BinaryVersion - 1),
		"two objects, the surface a newer one":   older(topo.BinaryVersion + 1),
		"a bundle whose surface is an older one": bundleOf(topo.BinaryVersion - 1),
		"a bundle whose surface is a newer one":  bundleOf(topo.BinaryVersion + 1),
	} {
		t.Run(name, func(t *testing.T) {
			sc := change(f.upload(t, in))
			if sc.Surface != nil && !sc.Surface.WithFile && sc.Surface.Version != topo.BinaryVersion {
				// Not read: gone, to show it.
				if err := f.blobs.Delete(ctx, sc.Surface.Object); err != nil {
					t.Fatal(err)
				}
			}
			if got := f.designed(t, sc); got.Status != scans.StatusDesigned {
				t.Fatalf("design: %s (%s)", got.Status, got.Reason)
			}
			if got := f.designOf(t, sc); !reflect.DeepEqual(got, want) {
				t.Fatal("the design differs from the design of a bundle")
			}
			readAll(t, f, sc)
		})
	}
}

// A bundle opens only as the bundle of its own scan: another scan's
// bundle, or an object of the older layout (a file or a surface sealed as
// such), put in its place fails the integrity check (the design fails
// saying so, a read is the lab's error), and a bundle put in the place of
// an older scan's file fails the file's.
func TestSwappedObjectsDoNotOpen(t *testing.T) {
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
		"another scan's bundle": func(sc scans.Scan) scans.Scan { copyBlob(other.Object, sc.Object); return sc },
		"its file sealed as a file": func(sc scans.Scan) scans.Scan {
			_, file := f.openBundle(t, sc)
			f.seal(t, sc.Object, bytes.Clone(file), scans.AssociatedDataForScan(sc))
			return sc
		},
		"its surface sealed as a surface": func(sc scans.Scan) scans.Scan {
			enc, _ := f.openBundle(t, sc)
			f.seal(t, sc.Object, bytes.Clone(enc), scans.AssociatedDataForSurface(sc))
			return sc
		},
		"its bundle as an older scan's file": func(sc scans.Scan) scans.Scan {
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

// An upload whose bundle cannot be stored, or whose record cannot be
// committed, fails as unavailable and leaves no object behind.
func TestFailedUploadsLeaveNoObject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid := f.patient(t, f.north)
	for name, wrap := range map[string]func(svc *scans.Service){
		"the bundle is refused": func(svc *scans.Service) { svc.Blobs = failingBlobs{f.blobs, "scans/"} },
		"the commit is refused": func(svc *scans.Service) { svc.Docs = failingDocs{f.docs} },
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
