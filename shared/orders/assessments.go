package orders

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/lensflow/lensflow/shared/aftercare"
	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/cornea"
	"github.com/lensflow/lensflow/shared/engine"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/lens"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/topo"
	"github.com/lensflow/lensflow/shared/workflow"
)

// Assessments, and the design-revised event.
const (
	AssessmentsCollection = "assessments"
	TopicDesignRevised    = "design-revised"
	TypeDesignRevised     = "com.lensflow.design.revised.v1"
)

// AssessmentRecord is one aftercare visit of an order. The clinical
// content (and the adjustment, whose reasons quote measurements) is sealed.
type AssessmentRecord struct {
	ID              string    `json:"id"`
	OrderID         string    `json:"orderId"`
	ClinicID        string    `json:"clinicId"`
	VisitKey        string    `json:"visitKey"`
	Outcome         string    `json:"outcome"`
	Sealed          []byte    `json:"sealed"`
	RevisedDesignID string    `json:"revisedDesignId,omitempty"`
	RevisedVersion  int       `json:"revisedVersion,omitempty"`
	Created         time.Time `json:"created"`
}

// assessmentContent is what is sealed.
type assessmentContent struct {
	Assessment aftercare.Assessment  `json:"assessment"`
	Adjustment *aftercare.Adjustment `json:"adjustment,omitempty"`
}

// AssessmentView is the answer to recording an assessment.
type AssessmentView struct {
	ID              string                `json:"id"`
	OrderID         string                `json:"orderId"`
	VisitKey        string                `json:"visitKey"`
	Outcome         string                `json:"outcome"`
	Assessment      aftercare.Assessment  `json:"assessment"`
	Adjustment      *aftercare.Adjustment `json:"adjustment,omitempty"`
	RevisedDesignID string                `json:"revisedDesignId,omitempty"`
	RevisedVersion  int                   `json:"revisedVersion,omitempty"`
	Created         time.Time             `json:"created"`
}

// DesignRevised is the data of a design-revised event: ids only.
type DesignRevised struct {
	OrderID  string `json:"orderId"`
	ClinicID string `json:"clinicId"`
	ScanID   string `json:"scanId"`
	DesignID string `json:"designId"`
	Version  int    `json:"version"`
}

// OrderDesign is one design version in an order's history.
type OrderDesign struct {
	DesignID string    `json:"designId"`
	Version  int       `json:"version"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// Assess records an aftercare visit of a dispatched order of the actor's
// clinic. The first assessment moves the order into aftercare. An adjust
// outcome applies the adjustment rules to the current design and makes a
// revised design version, which the order's history keeps and the clinic
// is told about.
func (s *Service) Assess(ctx context.Context, a Actor, orderID string, body []byte) (AssessmentView, error) {
	const op = "orders.assess"
	o, err := s.order(ctx, a.ClinicID, orderID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.audit(ctx, a, "assessment.create", "orders/"+safeID(orderID)+"/assessments", audit.Denied)
		}
		return AssessmentView{}, err
	}
	if o.Status != workflow.OrderDispatched && o.Status != workflow.OrderInAftercare {
		return AssessmentView{}, errs.Ef(op, errs.Conflict, "order is %s: assessments start once the lens is dispatched", o.Status)
	}
	var in aftercare.Assessment
	if err := httpkit.UnmarshalStrict(body, &in); err != nil {
		return AssessmentView{}, err
	}
	if err := in.Validate(o.LensType); err != nil {
		return AssessmentView{}, err
	}
	content := assessmentContent{Assessment: in}
	rec := AssessmentRecord{ID: s.newID(), OrderID: o.ID, ClinicID: o.ClinicID, VisitKey: in.VisitKey, Outcome: in.Outcome, Created: s.now()}
	var revised *OrderDesign
	if in.Outcome == "adjust" {
		adj, dr, err := s.adjust(ctx, a, o, in)
		if err != nil {
			return AssessmentView{}, err
		}
		content.Adjustment = &adj
		rec.RevisedDesignID, rec.RevisedVersion = dr.DesignID, dr.Version
		revised = &dr
	}
	plain, _ := json.Marshal(content)
	if rec.Sealed, err = s.Sealer.Encrypt(plain, ports.AssociatedData("assessment", rec.ClinicID, rec.OrderID, rec.ID)); err != nil {
		return AssessmentView{}, errs.E(op+": seal", errs.Unavailable, err)
	}
	var evID string
	err = s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		evID = ""
		var cur Order
		if err := tx.Get(OrdersCollection, o.ID, &cur); err != nil {
			return err
		}
		now := s.now()
		if cur.Status == workflow.OrderDispatched {
			tl, err := workflow.Append(cur.Timeline, now, cur.Status, workflow.OrderInAftercare, a.Role, "assessment="+rec.ID)
			if err != nil {
				return err
			}
			cur.Timeline, cur.Status = tl, workflow.OrderInAftercare
		}
		if revised != nil {
			cur.Revisions = append(cur.Revisions, *revised)
			data, _ := json.Marshal(DesignRevised{OrderID: cur.ID, ClinicID: cur.ClinicID, ScanID: cur.ScanID,
				DesignID: revised.DesignID, Version: revised.Version})
			ev := ports.Event{ID: s.newID(), Type: TypeDesignRevised, Source: EventSource, Subject: "orders/" + cur.ID, Time: now, Data: data}
			if err := outbox.Add(ctx, tx, TopicDesignRevised, ev); err != nil {
				return err
			}
			evID = ev.ID
		}
		if err := tx.Set(OrdersCollection, cur.ID, cur); err != nil {
			return err
		}
		return tx.Create(AssessmentsCollection, rec.ID, rec)
	})
	if err != nil {
		return AssessmentView{}, err
	}
	if err := s.audit(ctx, a, "assessment.create", "orders/"+o.ID+"/assessments/"+rec.ID, audit.Success); err != nil {
		return AssessmentView{}, err
	}
	if evID != "" {
		s.send(ctx, evID)
	}
	return AssessmentView{ID: rec.ID, OrderID: o.ID, VisitKey: rec.VisitKey, Outcome: rec.Outcome, Assessment: in,
		Adjustment: content.Adjustment, RevisedDesignID: rec.RevisedDesignID, RevisedVersion: rec.RevisedVersion, Created: rec.Created}, nil
}

// adjust applies the adjustment rules to the scan's current design and
// stores the revised version.
func (s *Service) adjust(ctx context.Context, a Actor, o Order, in aftercare.Assessment) (aftercare.Adjustment, OrderDesign, error) {
	var adj aftercare.Adjustment
	rec, _, err := s.Scans.Revise(ctx, a, o.ScanID, "adjusted after the "+in.VisitKey+" assessment",
		func(surf *topo.Surface, prev *engine.Result) (*engine.Result, error) {
			params, err := aftercare.ParamsFromDesign(prev.Lens)
			if err != nil {
				return nil, err
			}
			if adj, err = aftercare.Adjust(o.LensType, params, in, aftercare.DefaultRules()); err != nil {
				return nil, err
			}
			return engine.Revise(surf, prev, overridesOf(params, adj.Revised, prev.Lens.Type), cornea.ModelOptions{})
		})
	if err != nil {
		return adj, OrderDesign{}, err
	}
	return adj, OrderDesign{DesignID: rec.ID, Version: rec.Version, Reason: rec.Reason, At: rec.Created}, nil
}

// overridesOf turns what an adjustment changed (cur -> rev) into the
// overrides a lens revision takes; unchanged parameters stay derived.
func overridesOf(cur, rev aftercare.DesignParams, t lens.Type) lens.Overrides {
	var o lens.Overrides
	if rev.BOZRMM != cur.BOZRMM {
		o.BOZRMM = rev.BOZRMM
	}
	if rev.BOZDMM != cur.BOZDMM {
		o.BOZDMM = rev.BOZDMM
	}
	if rev.TDMM != cur.TDMM {
		o.TDMM = rev.TDMM
	}
	if rev.PowerD != cur.PowerD {
		p := rev.PowerD
		o.PowerD = &p
	}
	if rev.Toric != cur.Toric {
		tor := rev.Toric
		o.Toric = &tor
	}
	switch t {
	case lens.Scleral:
		if rev.LensSagMM != cur.LensSagMM {
			o.LensSagMM = rev.LensSagMM
		}
	case lens.OrthoK:
		if rev.ReturnZoneDepthMM != cur.ReturnZoneDepthMM {
			o.ReturnZoneDepthMM = rev.ReturnZoneDepthMM
		}
	}
	if t != lens.RGP && !slices.Equal(rev.Landings, cur.Landings) {
		for _, l := range rev.Landings {
			o.LandingAngles = append(o.LandingAngles, lens.LandingAngle{MeridianDeg: l.MeridianDeg, AngleDeg: l.AngleDeg})
		}
	}
	return o
}

// Assessments lists an order's assessments, oldest first, for its clinic
// (errs.NotFound for another clinic's order). Each read is audited.
func (s *Service) Assessments(ctx context.Context, a Actor, orderID string) ([]AssessmentView, error) {
	o, err := s.order(ctx, a.ClinicID, orderID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.audit(ctx, a, "assessment.read", "orders/"+safeID(orderID)+"/assessments", audit.Denied)
		}
		return nil, err
	}
	docs, err := s.Docs.Query(ctx, ports.Query{Collection: AssessmentsCollection,
		Where: []ports.Where{{Field: "orderId", Op: "==", Value: o.ID}}})
	if err != nil {
		return nil, err
	}
	out := make([]AssessmentView, 0, len(docs))
	for _, d := range docs {
		var rec AssessmentRecord
		if err := d.Decode(&rec); err != nil || rec.ClinicID != o.ClinicID {
			continue
		}
		plain, err := s.Sealer.Decrypt(rec.Sealed, ports.AssociatedData("assessment", rec.ClinicID, rec.OrderID, rec.ID))
		if err != nil {
			return nil, errs.E("orders.assessments: unseal", errs.Other, err)
		}
		var c assessmentContent
		if err := json.Unmarshal(plain, &c); err != nil {
			return nil, errs.E("orders.assessments: decode", errs.Other, err)
		}
		out = append(out, AssessmentView{ID: rec.ID, OrderID: rec.OrderID, VisitKey: rec.VisitKey, Outcome: rec.Outcome,
			Assessment: c.Assessment, Adjustment: c.Adjustment, RevisedDesignID: rec.RevisedDesignID,
			RevisedVersion: rec.RevisedVersion, Created: rec.Created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, s.audit(ctx, a, "assessment.read", "orders/"+o.ID+"/assessments", audit.Success)
}
