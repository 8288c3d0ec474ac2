package scans

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/tracing"
)

// DesignScan is the design step for one scan-received event (requestID
// identifies the delivery in the audit log, where it has one record:
// design.create, its outcome success or failure). It is
// idempotent: a scan already designed (or failed) is left alone, so
// redelivered events have one effect. Transient failures are returned (the
// event is retried); a scan that cannot be designed is marked failed with a
// reason and nil is returned.
func (s *Service) DesignScan(ctx context.Context, ev ScanReceived, requestID string) error {
	const op = "scans.design"
	actor := auth.Actor{Subject: "design-function", Role: auth.RoleService, ClinicID: ev.ClinicID, RequestID: requestID}
	var sc Scan
	if err := s.Docs.Get(ctx, ScansCollection, ev.ScanID, &sc); err != nil {
		if errs.Is(errs.NotFound, err) {
			return nil // nothing to design; the event outlived its scan
		}
		return err
	}
	if sc.Status != StatusReceived || sc.ClinicID != ev.ClinicID || sc.PatientID != ev.PatientID {
		return nil
	}
	release, err := s.reserve(ctx, sc)
	if err != nil {
		return err
	}
	defer release()
	surf, err := s.openSurface(ctx, sc)
	if err != nil {
		return s.failUnread(ctx, actor, sc, err)
	}
	// The scan has been read: whatever happens next, the delivery leaves
	// its one record, a failure unless the design is stored.
	outcome := audit.Failure
	defer func() {
		if outcome != "" {
			_ = s.Audit(ctx, actor, "design.create", "scans/"+sc.ID+"/design", outcome)
		}
	}()
	d, err := s.runEngine(sc, surf)
	if err != nil {
		if errs.Is(errs.Invalid, err) {
			outcome = "" // fail records it
			return s.fail(ctx, actor, sc, "invalid_scan", errs.Message(err))
		}
		return errs.E(op, errs.Other, err)
	}
	rec := DesignRecord{ID: s.NewID(), ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: sc.PatientID, Version: 1,
		Reason: "designed from the scan", Created: s.Now(), Traceparent: tracing.Traceparent(trace.SpanContextFromContext(ctx))}
	d.DesignID, d.Version = rec.ID, rec.Version
	plain, _ := json.Marshal(d)
	if rec.Sealed, err = s.Sealer.Encrypt(plain, AssociatedDataForDesign(rec)); err != nil {
		return errs.E(op+": seal", errs.Unavailable, err)
	}
	done := false
	err = s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		done = false
		var cur Scan
		if err := tx.Get(ScansCollection, sc.ID, &cur); err != nil {
			return err
		}
		if cur.Status != StatusReceived {
			return nil
		}
		t := rec.Created
		cur.Status, cur.Designed, cur.DesignID, cur.DesignVersion = StatusDesigned, &t, rec.ID, rec.Version
		if err := tx.Set(ScansCollection, cur.ID, cur); err != nil {
			return err
		}
		done = true
		return tx.Create(DesignsCollection, rec.ID, rec)
	})
	if err != nil || !done {
		return err
	}
	outcome = ""
	s.Metrics.DesignProduced(ctx, sc.LensType, rec.Created.Sub(sc.Received))
	return s.Audit(ctx, actor, "design.create", "scans/"+sc.ID+"/design", audit.Success)
}

// designModel is how the design fits the cornea: the defaults. Upload
// refuses a scan with fewer points than this fit can use.
var designModel = cornea.ModelOptions{}

// failUnread settles a design whose scan could not be read (openSurface's
// err): a missing or damaged object, or a file that no longer parses,
// fails the scan with the reason; anything else (storage unavailable) is
// returned, so the event is retried.
func (s *Service) failUnread(ctx context.Context, actor auth.Actor, sc Scan, err error) error {
	what := "file"
	if sc.readsSurface() {
		what = "surface"
	}
	switch {
	case errs.Is(errs.NotFound, err):
		return s.fail(ctx, actor, sc, "missing_file", "the stored scan "+what+" is missing")
	case errors.Is(err, errIntegrity):
		return s.fail(ctx, actor, sc, "integrity", "the stored scan "+what+" failed its integrity check")
	case errs.Is(errs.Invalid, err):
		return s.fail(ctx, actor, sc, "invalid_scan", errs.Message(err))
	}
	return err
}

// runEngine runs the design engine on a scan's surface: the lens type and
// clinical inputs given at upload, the default nomograms.
func (s *Service) runEngine(sc Scan, surf *topo.Surface) (*pipeline.Result, error) {
	lt, err := lens.ParseType(sc.LensType)
	if err != nil {
		return nil, errs.E("design: lens type", errs.Invalid, err)
	}
	in := pipeline.Inputs{LensType: lt, OrthoKOverride: sc.OrthoKOverride, Model: designModel}
	switch {
	case sc.Rx != nil:
		in.Clinical = in.Clinical.WithRefraction(*sc.Rx)
	case sc.RxD != nil: // a scan recorded before the whole refraction was
		in.Clinical.RefractionD = *sc.RxD
	}
	if sc.HVIDMM != nil {
		in.Clinical.HVIDMM = *sc.HVIDMM
	}
	r, err := pipeline.Design(surf, in)
	if err != nil {
		if errs.KindOf(err) == errs.Invalid {
			return nil, err
		}
		return nil, errs.E("design", errs.Other, err)
	}
	r.ScanID, r.Created = sc.ID, s.Now().Format(time.RFC3339Nano)
	return r, nil
}

// fail marks sc failed for reason (shown to the clinic) and counts the
// failure under kind (a metric attribute: missing_file, integrity,
// invalid_scan).
func (s *Service) fail(ctx context.Context, a auth.Actor, sc Scan, kind, reason string) error {
	failed := false
	err := s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		failed = false
		var cur Scan
		if err := tx.Get(ScansCollection, sc.ID, &cur); err != nil {
			return err
		}
		if cur.Status != StatusReceived {
			return nil
		}
		cur.Status, cur.Reason = StatusFailed, reason
		failed = true
		return tx.Set(ScansCollection, cur.ID, cur)
	})
	if err != nil {
		return err
	}
	if failed {
		s.Metrics.DesignFailed(ctx, sc.LensType, kind)
	}
	return s.Audit(ctx, a, "design.create", "scans/"+sc.ID+"/design", audit.Failure)
}

// ErrDesignChanged is the cause of the errs.Conflict CommitRevision
// returns when the scan's current design is no longer the one the revision
// was prepared over: another revision was stored meanwhile. Prepare again.
var ErrDesignChanged = errors.New("the design was revised meanwhile")

// Revision is a new version of a scan's design, computed by PrepareRevision
// and not yet stored: CommitRevision stores it inside the caller's
// transaction, with whatever else that transaction records (the
// assessment that asked for it), so a revision is stored with its cause or
// not at all.
type Revision struct {
	// Record is the new version, sealed: its id, number and reason.
	Record DesignRecord
	// Result is the new version's content.
	Result *pipeline.Result
	// From is the version the revision was computed from.
	From DesignRecord
	// Replaces is the scan's current design when the revision was
	// prepared; CommitRevision stores the revision only while it still is.
	Replaces string
}

// PrepareRevision computes a new version of a scan of the actor's clinic
// with a revise function (an aftercare adjustment) applied to the scan's
// surface and to the version fromDesignID of its design ("" for the
// current one). Nothing is stored. The new version is numbered after the
// scan's current version, whichever version it was computed from. reason
// says why, in the lab's words, with no PHI. The caller audits the request
// that revises (one record per request, naming what it was for).
func (s *Service) PrepareRevision(ctx context.Context, a auth.Actor, scanID, fromDesignID, reason string,
	revise func(surf *topo.Surface, from *pipeline.Result) (*pipeline.Result, error)) (Revision, error) {
	const op = "scans.revise"
	sc, err := s.scan(ctx, a, scanID)
	if err != nil {
		return Revision{}, err
	}
	if sc.DesignID == "" {
		return Revision{}, errs.Ef(op, errs.Conflict, "the scan has no design to revise (status %q)", sc.Status)
	}
	if fromDesignID == "" {
		fromDesignID = sc.DesignID
	}
	fromRec, from, err := s.design(ctx, sc.ClinicID, fromDesignID)
	if err != nil {
		return Revision{}, err
	}
	if fromRec.ScanID != sc.ID {
		return Revision{}, errs.Ef(op, errs.NotFound, "design not found")
	}
	surf, release, err := s.storedSurface(ctx, op, sc)
	if err != nil {
		return Revision{}, err
	}
	defer release()
	next, err := revise(surf, from)
	if err != nil {
		return Revision{}, err
	}
	rec := DesignRecord{ID: s.NewID(), ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: sc.PatientID,
		Version: sc.DesignVersion + 1, Reason: reason, Created: s.Now(), Traceparent: tracing.Traceparent(trace.SpanContextFromContext(ctx))}
	next.ScanID, next.DesignID, next.Version, next.Created = sc.ID, rec.ID, rec.Version, rec.Created.Format(time.RFC3339Nano)
	plain, _ := json.Marshal(next)
	if rec.Sealed, err = s.Sealer.Encrypt(plain, AssociatedDataForDesign(rec)); err != nil {
		return Revision{}, errs.E(op+": seal", errs.Unavailable, err)
	}
	return Revision{Record: rec, Result: next, From: fromRec, Replaces: sc.DesignID}, nil
}

// CommitRevision stores r inside tx and makes it the scan's current
// design. It reads the scan, so call it after the transaction's own reads
// and before its writes. It is errs.Conflict with ErrDesignChanged when the
// scan's current design is no longer r.Replaces (nothing is written).
func CommitRevision(tx ports.Tx, r Revision) error {
	const op = "scans.revise"
	var cur Scan
	if err := tx.Get(ScansCollection, r.Record.ScanID, &cur); err != nil {
		return err
	}
	if cur.DesignID != r.Replaces || cur.DesignVersion+1 != r.Record.Version {
		return errs.E(op, errs.Conflict, fmt.Errorf("%w (now version %d); try again", ErrDesignChanged, cur.DesignVersion))
	}
	cur.DesignID, cur.DesignVersion = r.Record.ID, r.Record.Version
	if err := tx.Set(ScansCollection, cur.ID, cur); err != nil {
		return err
	}
	return tx.Create(DesignsCollection, r.Record.ID, r.Record)
}

// storedSurface loads a scan's surface (openSurface): the surface every
// step after the upload works from. It first waits for the memory a design
// of it takes (reserve), held until release is called: the caller fits the
// surface next. The scan was accepted at upload, so a stored object that
// does not open or decode is the lab's failure (errs.Other); a missing
// object stays errs.NotFound.
func (s *Service) storedSurface(ctx context.Context, op string, sc Scan) (surf *topo.Surface, release func(), err error) {
	release, err = s.reserve(ctx, sc)
	if err != nil {
		return nil, nil, err
	}
	if surf, err = s.openSurface(ctx, sc); err != nil {
		release()
		if errs.Is(errs.NotFound, err) {
			return nil, nil, err
		}
		return nil, nil, errs.E(op, errs.Other, err)
	}
	return surf, release, nil
}

// errIntegrity marks a stored object that does not open or does not
// decode: changed, swapped or damaged since it was written. Its errors
// quote their cause as text, so they stay errs.Other (the lab's), never
// the kind of the cause.
var errIntegrity = errors.New("failed its integrity check")

// openSurface reads, opens and decodes a scan's stored surface. A scan
// without one this build reads (uploaded before surfaces were stored)
// has its file read, opened and parsed with the upload's grid statements
// instead. A missing object is errs.NotFound; one that does not open or
// decode wraps errIntegrity; a file that no longer parses is errs.Invalid.
func (s *Service) openSurface(ctx context.Context, sc Scan) (*topo.Surface, error) {
	const op = "scans.surface"
	if !sc.readsSurface() {
		return s.parseFile(ctx, sc)
	}
	plain, err := s.open(ctx, sc.Surface.Object, AssociatedDataForSurface(sc))
	if err != nil {
		return nil, err
	}
	surf := &topo.Surface{}
	if err := surf.UnmarshalBinary(plain); err != nil {
		return nil, errs.E(op+": decode", errs.Other, fmt.Errorf("%w: %v", errIntegrity, err))
	}
	return surf, nil
}

// parseFile reads, opens and parses a scan's stored file, as every read
// did before surfaces were stored.
func (s *Service) parseFile(ctx context.Context, sc Scan) (*topo.Surface, error) {
	file, err := s.open(ctx, sc.Object, AssociatedDataForScan(sc))
	if err != nil {
		return nil, err
	}
	opts := topo.Options{}
	if sc.Grid != nil {
		opts = sc.Grid.topo()
	}
	surf, _, err := topo.Parse(file, opts)
	if err != nil {
		return nil, errs.E("scans.surface: parse", errs.Invalid, err)
	}
	return surf, nil
}

// open reads the object name and opens it with the associated data ad. An
// object that does not open (ports.ErrNotAuthentic) wraps errIntegrity; a
// failure of the key service (unavailable, refused) keeps its kind, so it
// is retried rather than taken for a damaged object.
func (s *Service) open(ctx context.Context, name string, ad []byte) ([]byte, error) {
	const op = "scans.surface: unseal"
	sealed, err := s.Blobs.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	plain, err := s.Sealer.Decrypt(sealed, ad)
	switch {
	case errors.Is(err, ports.ErrNotAuthentic):
		return nil, errs.E(op, errs.Other, fmt.Errorf("%w: %v", errIntegrity, err))
	case err != nil:
		return nil, errs.Wrap(op, err)
	}
	return plain, nil
}
