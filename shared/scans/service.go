package scans

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/retry"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// MaxScanBytes bounds an uploaded scan file.
const MaxScanBytes = 16 << 20

// Service runs the scan lifecycle over the ports.
type Service struct {
	Docs   ports.Documents
	Blobs  ports.Blobs
	Sealer ports.Sealer
	Relay  *outbox.Relay
	// Kit is the clock, the new ids and the audit trail.
	servicekit.Kit
	// Metrics counts scans received and designs (nil records nothing).
	Metrics *metrics.Metrics
	// Memory is the instance's memory budget (nil: unlimited): a design,
	// and every read that fits the cornea again (the map, the tear layer,
	// a revision), waits for DesignMemoryPerByte times its file's size
	// before loading it.
	Memory *admission.Pool
}

// UploadMemoryPerByte and DesignMemoryPerByte are the working memory, per
// byte of scan file, of an upload (the body, the parsed points, their
// binary form, the sealed copies of file and surface) and of a design (the
// sealed and the opened surface, the points, the fit's arrays; for a scan
// without a surface, the sealed and the opened file instead).
// BenchmarkUploadMemory and BenchmarkDesignMemory measure them on a 16 MiB
// file: an upload holds about 3.5 to 3.7 bytes per file byte besides the
// body itself (depending on when the collector runs), a design about 2.7
// (4.5 when it parses the file); each figure here adds a margin. Both
// track points more than bytes: a vendor file that writes a point in
// fewer bytes than the lab's xyz-csv costs more per byte.
const (
	UploadMemoryPerByte = 5
	DesignMemoryPerByte = 6
)

// reserve waits for the memory a design of sc needs, keyed by its clinic
// as the clinic's uploads are, until ctx ends.
func (s *Service) reserve(ctx context.Context, sc Scan) (release func(), err error) {
	if s.Memory == nil {
		return func() {}, nil
	}
	release, err = s.Memory.Acquire(ctx, "clinic:"+sc.ClinicID, int64(sc.Bytes)*DesignMemoryPerByte)
	if err != nil {
		return nil, errs.E("scans.design: memory", errs.Unavailable, err)
	}
	return release, nil
}

// AssociatedDataForDesign is the associated data a design version is sealed
// with: its clinic, patient and design ids.
func AssociatedDataForDesign(d DesignRecord) []byte {
	return ports.AssociatedData("design", d.ClinicID, d.PatientID, d.ID)
}

// Design returns a design version of the given clinic and its content, for
// the functions that act on designs (orders, manufacturing, assessments).
// Another clinic's design is errs.NotFound. The caller audits the read.
func (s *Service) Design(ctx context.Context, clinicID, designID string) (DesignRecord, *pipeline.Result, error) {
	return s.design(ctx, clinicID, designID)
}

func (s *Service) design(ctx context.Context, clinicID, designID string) (DesignRecord, *pipeline.Result, error) {
	var d DesignRecord
	if !servicekit.ValidID(designID) {
		return d, nil, errs.E("designs.get", errs.NotFound, fmt.Errorf("design not found"))
	}
	err := s.Docs.Get(ctx, DesignsCollection, designID, &d)
	if errs.Is(errs.NotFound, err) || (err == nil && d.ClinicID != clinicID) {
		return DesignRecord{}, nil, errs.E("designs.get", errs.NotFound, fmt.Errorf("design not found"))
	}
	if err != nil {
		return d, nil, err
	}
	plain, err := s.Sealer.Decrypt(d.Sealed, AssociatedDataForDesign(d))
	if err != nil {
		return d, nil, errs.E("designs.get: unseal", errs.Other, err)
	}
	out := &pipeline.Result{}
	if err := json.Unmarshal(plain, out); err != nil {
		return d, nil, errs.E("designs.get: decode", errs.Other, err)
	}
	return d, out, nil
}

// AssociatedDataForScan is the associated data a scan's stored file is
// sealed with: it binds the ciphertext to its clinic, patient and scan, so a
// file swapped between scans fails to decrypt.
func AssociatedDataForScan(sc Scan) []byte {
	return ports.AssociatedData("scan", sc.ClinicID, sc.PatientID, sc.ID)
}

// AssociatedDataForSurface is the associated data a scan's stored surface
// is sealed with: its clinic, patient and scan, and the version of its
// binary form. It differs from AssociatedDataForScan, so neither a file
// nor another scan's surface opens in its place.
func AssociatedDataForSurface(sc Scan) []byte {
	v := 0
	if sc.Surface != nil {
		v = sc.Surface.Version
	}
	return ports.AssociatedData("scan-surface", sc.ClinicID, sc.PatientID, sc.ID, strconv.Itoa(v))
}

// PatientInput is the body of a create-patient request.
type PatientInput struct {
	Name      string `json:"name"`
	BirthDate string `json:"birthDate"`
	// ID, when set, is the id the patient is created with: the one fixed by
	// the request's Idempotency-Key (httpkit.ResourceID), so a retry of a
	// request whose patient was committed answers with that patient.
	ID string `json:"-"`
}

func (in PatientInput) validate(today time.Time) error {
	const op = "patients.create"
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		return errs.Field(op, "name", "required")
	case utf8.RuneCountInString(name) > 200:
		return errs.Field(op, "name", "longer than 200 characters")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errs.Field(op, "name", "contains control characters")
	}
	d, err := time.Parse("2006-01-02", in.BirthDate)
	switch {
	case in.BirthDate == "":
		return errs.Field(op, "birthDate", "required (YYYY-MM-DD)")
	case err != nil:
		return errs.Field(op, "birthDate", "not a date in the form YYYY-MM-DD")
	case d.After(today):
		return errs.Field(op, "birthDate", "is in the future")
	case d.Year() < 1900:
		return errs.Field(op, "birthDate", "is before 1900")
	}
	return nil
}

// CreatePatient records a patient of the actor's clinic; name and birth date
// are stored only sealed.
func (s *Service) CreatePatient(ctx context.Context, a auth.Actor, in PatientInput) (Patient, error) {
	if err := in.validate(s.Now()); err != nil {
		return Patient{}, err
	}
	id := in.ID
	if id == "" {
		id = s.NewID()
	} else if prev, ok, err := s.existingPatient(ctx, a, id); err != nil || ok {
		return prev, err
	}
	p := Patient{ID: id, ClinicID: a.ClinicID, Created: s.Now()}
	plain, _ := json.Marshal(PatientDetails{Name: strings.TrimSpace(in.Name), BirthDate: in.BirthDate})
	sealed, err := s.Sealer.Encrypt(plain, ports.AssociatedData("patient", p.ClinicID, p.ID))
	if err != nil {
		return Patient{}, errs.E("patients.create: seal", errs.Unavailable, err)
	}
	p.Sealed = sealed
	if err := s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Create(PatientsCollection, p.ID, p)
	}); err != nil {
		if errs.Is(errs.Exists, err) && in.ID != "" {
			if prev, ok, gerr := s.existingPatient(ctx, a, in.ID); gerr == nil && ok {
				return prev, nil
			}
		}
		return Patient{}, err
	}
	return p, s.Audit(ctx, a, "patient.create", "patients/"+p.ID, audit.Success)
}

// existingPatient returns the patient id of the actor's clinic if an earlier
// attempt of the same request created it (audited as that request's create).
func (s *Service) existingPatient(ctx context.Context, a auth.Actor, id string) (Patient, bool, error) {
	p, ok, err := ports.Prior(ctx, s.Docs, PatientsCollection, id, func(p Patient) bool { return p.ClinicID == a.ClinicID })
	if err != nil || !ok {
		return Patient{}, false, err
	}
	return p, true, s.Audit(ctx, a, "patient.create", "patients/"+p.ID, audit.Success)
}

// patient returns the actor's clinic's patient, or NotFound for a patient
// of another clinic (never confirming it exists).
func (s *Service) patient(ctx context.Context, a auth.Actor, id string) (Patient, error) {
	var p Patient
	if !servicekit.ValidID(id) {
		return p, errs.E("patients.get", errs.NotFound, fmt.Errorf("patient not found"))
	}
	err := s.Docs.Get(ctx, PatientsCollection, id, &p)
	if errs.Is(errs.NotFound, err) || (err == nil && p.ClinicID != a.ClinicID) {
		return Patient{}, errs.E("patients.get", errs.NotFound, fmt.Errorf("patient not found"))
	}
	return p, err
}

// UploadInput is one scan upload.
type UploadInput struct {
	PatientID string
	Eye       string // query parameter eye
	LensType  string // query parameter lensType
	// Rx is the refraction as practitioners write it, sphere / cylinder x
	// axis ("-3.00/-1.25x180"; a bare sphere is valid), and Vertex its
	// vertex distance in mm (query parameters rx and vertex, optional).
	Rx, Vertex string
	HVID       string // query parameter hvid (mm), optional
	// GridUnits, GridReference and GridBFS state a grid file's units,
	// reference and best-fit sphere radius (mm) when its header does not
	// (query parameters gridUnits, gridReference, gridBfs); HeightSign the
	// sign of the heights when the content cannot tell (heightSign: depth
	// or elevation).
	GridUnits, GridReference, GridBFS, HeightSign string
	// OrthoKOverride (query parameter orthokOverride=true) asks for ortho-k
	// on a cornea the screening contraindicates: the practitioner's explicit
	// decision, recorded on the scan and audited.
	OrthoKOverride string
	File           []byte
	// ScanID, when set, is the id the scan is created with: the one fixed
	// by the request's Idempotency-Key (httpkit.ResourceID). An upload whose
	// scan already exists (an earlier attempt committed it, then crashed or
	// failed) answers with that scan instead of creating a second one.
	ScanID string
}

// parseRefraction reads the optional refraction and its vertex distance.
func parseRefraction(rx, vertex string) (*lens.Refraction, error) {
	v, err := parseOptional("vertex", vertex, 0, lens.MaxVertexMM)
	if err != nil {
		return nil, err
	}
	if rx == "" {
		if v != nil {
			return nil, errs.Field("scans.upload", "vertex", "is given without a refraction (rx)")
		}
		return nil, nil
	}
	r, err := lens.ParseRefraction(rx)
	if err != nil {
		return nil, errs.E("scans.upload", errs.Invalid, err)
	}
	if v != nil {
		r.VertexMM = *v
	}
	return &r, nil
}

func parseOptional(field, v string, lo, hi float64) (*float64, error) {
	if v == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errs.Field("scans.upload", field, "not a number")
	}
	if f < lo || f > hi {
		return nil, errs.Field("scans.upload", field, "out of range [%g, %g]", lo, hi)
	}
	return &f, nil
}

// Upload validates the scan fully, stores it envelope-encrypted, records it
// and announces it, in that order: a scan record exists only once its file
// and its parsed surface are completely stored, and its event is committed
// with it (outbox).
func (s *Service) Upload(ctx context.Context, a auth.Actor, in UploadInput) (Scan, error) {
	const op = "scans.upload"
	if in.Eye != "OD" && in.Eye != "OS" {
		return Scan{}, errs.Field(op, "eye", "must be OD or OS")
	}
	if !contains(LensTypes, in.LensType) {
		return Scan{}, errs.Field(op, "lensType", "must be one of %s", strings.Join(LensTypes, ", "))
	}
	rx, err := parseRefraction(in.Rx, in.Vertex)
	if err != nil {
		return Scan{}, err
	}
	hvid, err := parseOptional("hvid", in.HVID, 9, 14)
	if err != nil {
		return Scan{}, err
	}
	switch in.HeightSign {
	case "", topo.HeightSignDepth, topo.HeightSignElevation:
	default:
		return Scan{}, errs.Field(op, "heightSign", "must be %q or %q", topo.HeightSignDepth, topo.HeightSignElevation)
	}
	override := false
	switch in.OrthoKOverride {
	case "", "false":
	case "true":
		if in.LensType != "orthok" {
			return Scan{}, errs.Field(op, "orthokOverride", "applies to ortho-k only (lensType is %s)", in.LensType)
		}
		override = true
	default:
		return Scan{}, errs.Field(op, "orthokOverride", "must be true or false")
	}
	if _, err := s.patient(ctx, a, in.PatientID); err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "scan.create", "patients/"+servicekit.SafeID(in.PatientID)+"/scans", audit.Denied)
		}
		return Scan{}, err
	}
	bfs, err := parseOptional("gridBfs", in.GridBFS, 5, 12)
	if err != nil {
		return Scan{}, err
	}
	grid := GridOptions{Units: in.GridUnits, Reference: in.GridReference, HeightSign: in.HeightSign}
	if bfs != nil {
		grid.BFSRadiusMM = *bfs
	}
	// At least as many points, at as many distinct positions, as the
	// design's fit needs: a scan that could never be fitted is refused now.
	opts := grid.topo()
	opts.MinPoints = max(topo.DefaultMinPoints, designModel.FewestPoints())
	surf, ids, err := topo.Parse(in.File, opts)
	if err != nil {
		return Scan{}, errs.E(op, errs.Invalid, err)
	}
	if surf.Eye != "" && string(surf.Eye) != in.Eye {
		return Scan{}, errs.Field(op, "eye", "is %s but the file says %s", in.Eye, surf.Eye)
	}

	id := in.ScanID
	if id == "" {
		id = s.NewID()
	} else if !servicekit.ValidID(id) {
		return Scan{}, errs.Ef(op, errs.Other, "malformed scan id from the idempotency record")
	}
	if prev, ok, err := s.existing(ctx, a, id); err != nil || ok {
		return prev, err
	}
	sc := Scan{ID: id, ClinicID: a.ClinicID, PatientID: in.PatientID, Eye: in.Eye, LensType: in.LensType,
		Rx: rx, HVIDMM: hvid, Format: surf.Format, Layout: surf.Layout, Points: len(surf.X), Bytes: len(in.File),
		OrthoKOverride: override, Status: StatusReceived, Received: s.Now()}
	if rx != nil {
		sphere := rx.SphereD
		sc.RxD = &sphere
	}
	if grid != (GridOptions{}) {
		sc.Grid = &grid
	}
	sc.Object = fileObjectPrefix + sc.ID
	if ids != nil && !ids.Empty() {
		plain, _ := json.Marshal(ids)
		if sc.SealedIdentifiers, err = s.Sealer.Encrypt(plain, ports.AssociatedData("scan-identifiers", sc.ClinicID, sc.PatientID, sc.ID)); err != nil {
			return Scan{}, errs.E(op+": seal", errs.Unavailable, err)
		}
	}
	enc, done, err := encodeSurface(surf)
	if err != nil {
		return Scan{}, err
	}
	defer done()
	sc.Surface = &StoredSurface{Object: surfaceObjectPrefix + sc.ID, Version: topo.BinaryVersion, Bytes: len(enc)}
	// IfAbsent, unless this id is being retried: then objects left by the
	// attempt that failed may be there, and have no record (checked above).
	put := ports.PutOptions{ContentType: "application/octet-stream", IfAbsent: in.ScanID == ""}
	if err := s.putObjects(ctx, sc, in.File, enc, put); err != nil {
		s.removeFiles(ctx, sc)
		return Scan{}, err
	}
	ev := ports.Event{ID: s.NewID(), Type: TypeScanReceived, Source: EventSource, Subject: "scans/" + sc.ID,
		Time: sc.Received, Data: mustJSON(ScanReceived{ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: sc.PatientID})}
	err = s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		if err := tx.Create(ScansCollection, sc.ID, sc); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, TopicScanReceived, ev)
	})
	if errs.Is(errs.Exists, err) && in.ScanID != "" {
		// A concurrent attempt with the same key committed first.
		if prev, ok, gerr := s.existing(ctx, a, sc.ID); gerr == nil && ok {
			return prev, nil
		}
	}
	if err != nil {
		s.removeFiles(ctx, sc)
		return Scan{}, err
	}
	if err := s.Audit(ctx, a, "scan.create", "scans/"+sc.ID, audit.Success); err != nil {
		return Scan{}, err
	}
	if sc.OrthoKOverride {
		// The practitioner overrides the screening: its own record.
		if err := s.Audit(ctx, a, "orthok.override", "scans/"+sc.ID, audit.Success); err != nil {
			return Scan{}, err
		}
	}
	s.Metrics.ScanReceived(ctx, sc.Format, sc.LensType)
	if s.Relay != nil {
		// Best effort: a failed publish stays in the outbox for the relay.
		_ = s.Relay.Send(context.WithoutCancel(ctx), ev.ID)
	}
	return sc, nil
}

// existing returns the scan id of the actor's clinic if an earlier attempt
// of the same request created it.
func (s *Service) existing(ctx context.Context, a auth.Actor, id string) (Scan, bool, error) {
	sc, ok, err := ports.Prior(ctx, s.Docs, ScansCollection, id, func(sc Scan) bool { return sc.ClinicID == a.ClinicID })
	if err != nil || !ok {
		return Scan{}, false, err
	}
	return sc, true, s.Audit(ctx, a, "scan.create", "scans/"+sc.ID, audit.Success)
}

// encodeSurface returns the binary form of surf in a pooled buffer, and
// done, which gives the buffer back: call it once the form is sealed.
// Encoding first lets the parsed points go before anything is sealed.
func encodeSurface(surf *topo.Surface) (enc []byte, done func(), err error) {
	buf := surfaceBuffers.Get().(*[]byte)
	enc, err = surf.AppendBinary((*buf)[:0])
	if err != nil {
		surfaceBuffers.Put(buf)
		return nil, nil, errs.E("scans.upload: encode the surface", errs.Other, err)
	}
	return enc, func() {
		if cap(enc) <= maxPooledSurface {
			*buf = enc
			surfaceBuffers.Put(buf)
		}
	}, nil
}

// surfaceBuffers holds buffers for the binary form of uploaded surfaces,
// up to maxPooledSurface bytes (43,000 points or more): a typical scan's
// buffer serves upload after upload, while a rare large one is left to
// the collector rather than kept.
var surfaceBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledSurface = 1 << 20

// putObjects stores sc's file and its surface's binary form enc, each
// sealed with its own associated data, both at once: the upload waits for
// the slower write, not for one after the other. It returns the file's
// error first.
func (s *Service) putObjects(ctx context.Context, sc Scan, file, enc []byte, opts ports.PutOptions) error {
	var surfErr error
	var wg sync.WaitGroup
	wg.Go(func() { surfErr = s.putSealed(ctx, sc.Surface.Object, enc, AssociatedDataForSurface(sc), opts) })
	fileErr := s.putSealed(ctx, sc.Object, file, AssociatedDataForScan(sc), opts)
	wg.Wait()
	if fileErr != nil {
		return fileErr
	}
	return surfErr
}

// putSealed seals plain with ad and stores it under name.
func (s *Service) putSealed(ctx context.Context, name string, plain, ad []byte, opts ports.PutOptions) error {
	sealed, err := s.Sealer.Encrypt(plain, ad)
	if err != nil {
		return errs.E("scans.upload: seal", errs.Unavailable, err)
	}
	return s.Blobs.Put(ctx, name, sealed, opts)
}

// removeFiles deletes the stored objects (file and surface) of an upload
// whose record was not written, so a rejected upload leaves nothing
// behind. It first makes sure the record really is absent (a commit
// reported as failed may have happened), and retries briefly: storage that
// fails now usually answers a moment later. What it cannot remove,
// SweepOrphans does.
func (s *Service) removeFiles(ctx context.Context, sc Scan) {
	ctx = context.WithoutCancel(ctx)
	left := sc.objects()
	_ = retry.Do(ctx, removeRetry, nil, func() error {
		var cur Scan
		err := s.Docs.Get(ctx, ScansCollection, sc.ID, &cur)
		if err == nil {
			return nil // committed after all: the objects are its
		}
		if !errs.Is(errs.NotFound, err) {
			return err
		}
		left = slices.DeleteFunc(left, func(name string) bool { return s.Blobs.Delete(ctx, name) == nil })
		if len(left) > 0 {
			return errObjectsLeft
		}
		return nil
	})
}

// removeRetry bounds removeFiles: six attempts, pauses of about 10 ms
// doubling to 160 ms, whatever failed.
var removeRetry = retry.Policy{Attempts: 6, Initial: 10 * time.Millisecond}

var errObjectsLeft = errs.Ef("scans.removeFiles", errs.Unavailable, "objects left to remove")

// Get returns a scan of the actor's clinic (NotFound for other clinics').
func (s *Service) Get(ctx context.Context, a auth.Actor, id string) (Scan, error) {
	sc, err := s.scan(ctx, a, id)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "scan.read", "scans/"+servicekit.SafeID(id), audit.Denied)
		}
		return Scan{}, err
	}
	return sc, s.Audit(ctx, a, "scan.read", "scans/"+sc.ID, audit.Success)
}

func (s *Service) scan(ctx context.Context, a auth.Actor, id string) (Scan, error) {
	var sc Scan
	if !servicekit.ValidID(id) {
		return sc, errs.E("scans.get", errs.NotFound, fmt.Errorf("scan not found"))
	}
	err := s.Docs.Get(ctx, ScansCollection, id, &sc)
	if errs.Is(errs.NotFound, err) || (err == nil && sc.ClinicID != a.ClinicID) {
		return Scan{}, errs.E("scans.get", errs.NotFound, fmt.Errorf("scan not found"))
	}
	return sc, err
}

// GetDesign returns the design of a scan of the actor's clinic. A scan not
// yet designed is errs.Conflict with its status; a failed one says why.
func (s *Service) GetDesign(ctx context.Context, a auth.Actor, scanID string) (*pipeline.Result, error) {
	sc, err := s.scan(ctx, a, scanID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "design.read", "scans/"+servicekit.SafeID(scanID)+"/design", audit.Denied)
		}
		return nil, err
	}
	switch sc.Status {
	case StatusReceived:
		return nil, errs.Ef("designs.get", errs.Conflict, "the scan is still being designed (status %q); try again shortly", sc.Status)
	case StatusFailed:
		return nil, errs.Ef("designs.get", errs.Conflict, "design failed: %s", sc.Reason)
	}
	_, out, err := s.design(ctx, sc.ClinicID, sc.DesignID)
	if err != nil {
		return nil, err
	}
	return out, s.Audit(ctx, a, "design.read", "scans/"+sc.ID+"/design", audit.Success)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// SweepOrphans deletes stored scan files and surfaces that have no scan
// record: the remains of uploads that crashed between storing them and
// committing the record. Call it only when no upload is in flight (at
// start-up of the single-process local stack); it returns how many objects
// it removed.
func (s *Service) SweepOrphans(ctx context.Context) (int, error) {
	n := 0
	for _, prefix := range []string{fileObjectPrefix, surfaceObjectPrefix} {
		swept, err := s.sweepOrphans(ctx, prefix)
		n += swept
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// sweepOrphans deletes the objects named prefix + scan id whose scan has
// no record.
func (s *Service) sweepOrphans(ctx context.Context, prefix string) (int, error) {
	names, err := s.Blobs.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		var sc Scan
		err := s.Docs.Get(ctx, ScansCollection, strings.TrimPrefix(name, prefix), &sc)
		if !errs.Is(errs.NotFound, err) {
			if err != nil {
				return n, err
			}
			continue
		}
		if err := s.Blobs.Delete(ctx, name); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
