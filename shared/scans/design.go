package scans

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/cornea"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/topo"
)

// EngineVersion names the design engine that produced a design.
const EngineVersion = "lensflow-design/0.1 (conic surface)"

// designChordsMM are the chords at which the surface sag is reported.
var designChordsMM = []float64{8, 10}

// DesignScan is the design step for one scan-received event (requestID
// identifies the delivery in the audit log). It is
// idempotent: a scan already designed (or failed) is left alone, so
// redelivered events have one effect. Transient failures are returned (the
// event is retried); a scan that cannot be designed is marked failed with a
// reason and nil is returned.
func (s *Service) DesignScan(ctx context.Context, ev ScanReceived, requestID string) error {
	const op = "scans.design"
	actor := Actor{Subject: "design-function", Role: "service", ClinicID: ev.ClinicID, RequestID: requestID}
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
	sealed, err := s.Blobs.Get(ctx, sc.Object)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			return s.fail(ctx, actor, sc, "the stored scan file is missing")
		}
		return err
	}
	file, err := s.Sealer.Decrypt(sealed, AssociatedDataForScan(sc))
	if err != nil {
		_ = s.audit(ctx, actor, "scan.read", "scans/"+sc.ID, audit.Failure)
		return s.fail(ctx, actor, sc, "the stored scan file failed its integrity check")
	}
	if err := s.audit(ctx, actor, "scan.read", "scans/"+sc.ID, audit.Success); err != nil {
		return err
	}
	d, err := s.design(sc, file)
	if err != nil {
		if errs.Is(errs.Invalid, err) {
			return s.fail(ctx, actor, sc, errs.Message(err))
		}
		return errs.E(op, errs.Other, err)
	}
	plain, _ := json.Marshal(d)
	sealedDesign, err := s.Sealer.Encrypt(plain, ports.AssociatedData("design", sc.ClinicID, sc.PatientID, sc.ID))
	if err != nil {
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
		t := d.Created
		cur.Status, cur.Designed = StatusDesigned, &t
		if err := tx.Set(ScansCollection, cur.ID, cur); err != nil {
			return err
		}
		done = true
		return tx.Set(DesignsCollection, cur.ID, designDoc{ScanID: cur.ID, ClinicID: cur.ClinicID, Sealed: sealedDesign, Created: t})
	})
	if err != nil || !done {
		return err
	}
	return s.audit(ctx, actor, "design.create", "scans/"+sc.ID+"/design", audit.Success)
}

// design runs the pure domain on a decrypted scan file.
func (s *Service) design(sc Scan, file []byte) (Design, error) {
	surf, _, err := topo.Parse(file, topo.Options{})
	if err != nil {
		return Design{}, errs.E("design: parse", errs.Invalid, err)
	}
	// The fitted zone spans the largest chord reported, so every reported
	// sag rests on measured data; a scan that does not reach it is refused.
	c, err := cornea.FitConic(surf, cornea.ConicOptions{ZoneDiameterMM: designChordsMM[len(designChordsMM)-1]})
	if err != nil {
		return Design{}, errs.E("design: fit", errs.Invalid, err)
	}
	cs := CornealSurface{Model: "conic", ApicalRadiusMM: c.R0MM, ShapeFactorP: c.P, Eccentricity: c.E(),
		AsphericityQ: c.Q(), FlatKMM: c.R0MM, FlatKD: cornea.KeratometricDioptres(c.R0MM, cornea.StandardKeratometricIndex),
		KIndex: cornea.StandardKeratometricIndex, SagMM: map[string]float64{}, SagSource: map[string]string{}, ZoneMM: c.ZoneDiameterMM,
		RMSUM: c.ResidualRMSUM, Points: c.Points, Coverage: c.Coverage}
	for _, chord := range designChordsMM {
		sag, err := c.Sag(chord)
		if err != nil {
			return Design{}, errs.E("design: sag", errs.Invalid, err)
		}
		key := strconv.FormatFloat(chord, 'f', -1, 64)
		cs.SagMM[key] = sag
		cs.SagSource[key] = "measured"
		if c.Extrapolates(chord) {
			cs.SagSource[key] = "extrapolated (fitted conic)"
		}
	}
	return Design{ScanID: sc.ID, LensType: sc.LensType, Eye: sc.Eye, Engine: EngineVersion, Created: s.now(), Surface: cs}, nil
}

func (s *Service) fail(ctx context.Context, a Actor, sc Scan, reason string) error {
	err := s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		var cur Scan
		if err := tx.Get(ScansCollection, sc.ID, &cur); err != nil {
			return err
		}
		if cur.Status != StatusReceived {
			return nil
		}
		cur.Status, cur.Reason = StatusFailed, reason
		return tx.Set(ScansCollection, cur.ID, cur)
	})
	if err != nil {
		return err
	}
	return s.audit(ctx, a, "design.create", "scans/"+sc.ID+"/design", audit.Failure)
}
