package orders

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/aftercare"
	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/retry"
	"github.com/lensflow/lensflow/shared/scans"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// Assessments, visits, and the design-revised event.
const (
	AssessmentsCollection = "assessments"
	// AssessmentVisitsCollection holds one document per recorded visit of
	// an order (id: the order id, "_", a hash of the visit) naming the
	// visit's current assessment. Recording or superseding an assessment
	// reads and writes it in the transaction that stores the assessment, so
	// a visit has one current assessment however many requests race.
	AssessmentVisitsCollection = "assessment-visits"
	TopicDesignRevised         = "design-revised"
	TypeDesignRevised          = "com.lensflow.design.revised.v1"
)

// Audit actions of assessments: recording a visit, and replacing the
// assessment of a recorded visit.
const (
	ActionAssessmentCreate    = "assessment.create"
	ActionAssessmentSupersede = "assessment.supersede"
)

// AssessmentRecord is one aftercare visit of an order. The clinical
// content (and the adjustment, whose reasons quote measurements) is sealed.
// A visit of an order has one current assessment; one that replaces it
// (Supersedes) leaves it in place, marked SupersededBy.
type AssessmentRecord struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	ClinicID string `json:"clinicId"`
	VisitKey string `json:"visitKey"`
	// Visit is the visit's identity in its order (aftercare.VisitID): the
	// visit key, or "unscheduled:" and the UTC day of an unscheduled visit.
	// Empty on assessments recorded before visits had one (see visitOf).
	Visit   string `json:"visit,omitempty"`
	Outcome string `json:"outcome"`
	Sealed  []byte `json:"sealed"`
	// FromDesignID is the design the visit found: the scan's current design
	// when it was recorded or, for an assessment that supersedes another,
	// the design the superseded one found. Adjustments start from it.
	FromDesignID    string `json:"fromDesignId,omitempty"`
	RevisedDesignID string `json:"revisedDesignId,omitempty"`
	RevisedVersion  int    `json:"revisedVersion,omitempty"`
	// Supersedes is the assessment of the same visit this one replaced;
	// SupersededBy the one that replaced this one, at Superseded.
	Supersedes   string     `json:"supersedes,omitempty"`
	SupersededBy string     `json:"supersededBy,omitempty"`
	Superseded   *time.Time `json:"superseded,omitempty"`
	Created      time.Time  `json:"created"`
}

// assessmentVisit is the document of one recorded visit of an order
// (AssessmentVisitsCollection): its current assessment.
type assessmentVisit struct {
	OrderID      string    `json:"orderId"`
	ClinicID     string    `json:"clinicId"`
	Visit        string    `json:"visit"`
	AssessmentID string    `json:"assessmentId"`
	Updated      time.Time `json:"updated"`
}

// visitDocID is the id of an order's visit document. The visit is hashed:
// a visit key is the client's text, which stays out of document ids.
func visitDocID(orderID, visit string) string {
	h := sha256.Sum256([]byte(visit))
	return orderID + "_" + hex.EncodeToString(h[:])
}

// visitOf is the identity of the visit rec records; an assessment from
// before visits had one is placed by its key and the day it was recorded.
func visitOf(rec AssessmentRecord) string {
	if rec.Visit != "" {
		return rec.Visit
	}
	return aftercare.VisitID(rec.VisitKey, rec.Created)
}

// assessmentContent is what is sealed.
type assessmentContent struct {
	Assessment aftercare.Assessment  `json:"assessment"`
	Adjustment *aftercare.Adjustment `json:"adjustment,omitempty"`
}

// AssessInput is the body of POST /v1/orders/{orderId}/assessments: the
// assessment (its fields at the top level) and, to replace the assessment
// a visit already has, that assessment's id.
type AssessInput struct {
	aftercare.Assessment
	// Supersedes is the id of the current assessment of the same visit,
	// which this one replaces (a correction): the visit's lens is then
	// computed again from the design that visit found, not from the one the
	// replaced assessment made. Empty for a visit not recorded yet.
	Supersedes string `json:"supersedes,omitempty"`
}

// AssessmentView is the answer to recording an assessment.
type AssessmentView struct {
	ID              string                `json:"id"`
	OrderID         string                `json:"orderId"`
	VisitKey        string                `json:"visitKey"`
	Outcome         string                `json:"outcome"`
	Assessment      aftercare.Assessment  `json:"assessment"`
	Adjustment      *aftercare.Adjustment `json:"adjustment,omitempty"`
	FromDesignID    string                `json:"fromDesignId,omitempty"`
	RevisedDesignID string                `json:"revisedDesignId,omitempty"`
	RevisedVersion  int                   `json:"revisedVersion,omitempty"`
	Supersedes      string                `json:"supersedes,omitempty"`
	SupersededBy    string                `json:"supersededBy,omitempty"`
	Created         time.Time             `json:"created"`
	// Replayed says the answer is an earlier request's: this request
	// repeated an assessment already recorded, and changed nothing. (Not
	// part of the body: the function answers it as Idempotent-Replayed.)
	Replayed bool `json:"-"`
}

func viewOf(rec AssessmentRecord, c assessmentContent) AssessmentView {
	return AssessmentView{ID: rec.ID, OrderID: rec.OrderID, VisitKey: rec.VisitKey, Outcome: rec.Outcome, Assessment: c.Assessment,
		Adjustment: c.Adjustment, FromDesignID: rec.FromDesignID, RevisedDesignID: rec.RevisedDesignID, RevisedVersion: rec.RevisedVersion,
		Supersedes: rec.Supersedes, SupersededBy: rec.SupersededBy, Created: rec.Created}
}

// DesignRevised is the data of a design-revised event: ids only.
type DesignRevised struct {
	// The order whose aftercare assessment revised the design.
	OrderID string `json:"orderId"`
	// The clinic of the order.
	ClinicID string `json:"clinicId"`
	// The scan the design is of.
	ScanID string `json:"scanId"`
	// The new design (GET /v1/scans/{scanId}/design).
	DesignID string `json:"designId"`
	// The new design's version number for the scan.
	Version int `json:"version"`
}

// OrderDesign is one design version in an order's history.
type OrderDesign struct {
	DesignID string    `json:"designId"`
	Version  int       `json:"version"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// assessRetry bounds how often Assess plans again after the visit or the
// design changed between its plan and its commit: five attempts, with short
// jittered pauses (about 5 ms, doubling, at most 40 ms) so that requests
// that raced do not race again in step.
var assessRetry = retry.Policy{Attempts: 5, Initial: 5 * time.Millisecond, Max: 40 * time.Millisecond}

func isMoved(err error) bool { return errors.Is(err, errMoved) }

// errMoved: the visit's current assessment or the scan's current design
// changed between an attempt's plan and its transaction. Plan again.
var errMoved = errors.New("the visit or the design changed meanwhile")

// Assess records in, an aftercare visit of a dispatched order of the
// actor's clinic, once it is valid for the order's lens type (the function
// decodes it from the request's body). The first assessment moves the
// order into aftercare. An adjust outcome applies the adjustment rules to the design
// the visit found and makes a revised design version, which the order's
// history keeps and the clinic is told about.
//
// A visit (aftercare.VisitID) has one current assessment:
//   - the same assessment again (a retry, a double click) changes nothing
//     and answers the recorded one, Replayed;
//   - a different one is errs.Conflict naming the visit and the recorded
//     assessment, unless it supersedes that assessment (Supersedes: its
//     id). It then replaces it: the earlier is kept, marked superseded, and
//     the lens is computed again from the design the visit found, never on
//     top of the superseded adjustment. That needs the design to be still
//     the one the superseded assessment left (errs.Conflict otherwise).
//
// id, when set, is the new assessment's id: the one the request's
// Idempotency-Key fixed, so that a retry of a request whose assessment was
// stored answers with it. The assessment, its visit, the revised design,
// the order's history and the design-revised event are stored in one
// transaction: nothing of an attempt that fails survives it, and of any
// number of concurrent requests for a visit one records it and the others
// answer with its assessment.
func (s *Service) Assess(ctx context.Context, a auth.Actor, orderID, id string, in AssessInput) (AssessmentView, error) {
	const op = "orders.assess"
	o, err := s.order(ctx, a.ClinicID, orderID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, ActionAssessmentCreate, "orders/"+servicekit.SafeID(orderID)+"/assessments", audit.Denied)
		}
		return AssessmentView{}, err
	}
	if o.Status != workflow.OrderDispatched && o.Status != workflow.OrderInAftercare {
		return AssessmentView{}, errs.Ef(op, errs.Conflict, "order is %s: assessments start once the lens is dispatched", o.Status)
	}
	if err := in.Validate(o.LensType); err != nil {
		return AssessmentView{}, err
	}
	if in.Supersedes != "" && !servicekit.ValidID(in.Supersedes) {
		return AssessmentView{}, errs.Field(op, "supersedes", "not an assessment id")
	}
	if id == "" {
		id = s.NewID()
	}
	var v AssessmentView
	err = retry.Do(ctx, assessRetry, isMoved, func() (err error) {
		v, err = s.assess(ctx, a, o, in, id)
		return err
	})
	if errors.Is(err, errMoved) {
		return AssessmentView{}, errs.Ef(op, errs.Conflict, "the visit or the design changed while the assessment was recorded; try again")
	}
	return v, err
}

// assessPlan is what one attempt of Assess found before its transaction.
type assessPlan struct {
	visit   string            // the visit's identity
	cur     *AssessmentRecord // the visit's current assessment, nil if none
	claimed bool              // the visit's document exists and names cur
	from    string            // the design the visit found ("" for a new visit without a revision: read in the transaction)
	rev     *planRevision     // the design version the assessment makes, if any
}

// assess is one attempt of Assess: errMoved when the visit or the design
// changed before its transaction.
func (s *Service) assess(ctx context.Context, a auth.Actor, o Order, in AssessInput, id string) (AssessmentView, error) {
	const op = "orders.assess"
	now := s.Now()
	p, err := s.visitNow(ctx, o, in, now)
	if err != nil {
		return AssessmentView{}, err
	}
	if p.cur != nil {
		c, err := s.content(*p.cur)
		if err != nil {
			return AssessmentView{}, err
		}
		same, _ := json.Marshal(c.Assessment)
		asked, _ := json.Marshal(in.Assessment)
		switch {
		case bytes.Equal(same, asked):
			return s.replay(ctx, a, *p.cur, c, id)
		case in.Supersedes == "":
			return AssessmentView{}, &errs.Error{Op: op, Kind: errs.Conflict, Field: "visitKey", Err: fmt.Errorf(
				"visit %s of this order already has assessment %s; to replace it, send the new assessment with \"supersedes\": %q",
				aftercare.VisitLabel(p.visit), p.cur.ID, p.cur.ID)}
		case in.Supersedes != p.cur.ID:
			return AssessmentView{}, &errs.Error{Op: op, Kind: errs.Conflict, Field: "supersedes", Err: fmt.Errorf(
				"assessment %s is not the current assessment of visit %s of this order, %s is: to replace it, send \"supersedes\": %q",
				in.Supersedes, aftercare.VisitLabel(p.visit), p.cur.ID, p.cur.ID)}
		}
	}
	if err := s.planDesign(ctx, a, o, in, &p); err != nil {
		return AssessmentView{}, err
	}

	rec := AssessmentRecord{ID: id, OrderID: o.ID, ClinicID: o.ClinicID, VisitKey: in.VisitKey, Visit: p.visit, Outcome: in.Outcome,
		FromDesignID: p.from, Supersedes: in.Supersedes, Created: now}
	content := assessmentContent{Assessment: in.Assessment}
	var revised *OrderDesign
	if p.rev != nil {
		rec.FromDesignID = p.rev.From.ID
		rec.RevisedDesignID, rec.RevisedVersion = p.rev.Record.ID, p.rev.Record.Version
		revised = &OrderDesign{DesignID: p.rev.Record.ID, Version: p.rev.Record.Version, Reason: p.rev.Record.Reason, At: p.rev.Record.Created}
		content.Adjustment = p.rev.adjustment
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
		var v assessmentVisit
		switch err := tx.Get(AssessmentVisitsCollection, visitDocID(o.ID, p.visit), &v); {
		case errs.Is(errs.NotFound, err):
			if p.claimed {
				return errMoved
			}
		case err != nil:
			return err
		case !p.claimed || v.AssessmentID != p.cur.ID:
			return errMoved // another request recorded the visit
		}
		var earlier AssessmentRecord
		if p.cur != nil {
			if err := tx.Get(AssessmentsCollection, p.cur.ID, &earlier); err != nil {
				return err
			}
			if earlier.SupersededBy != "" {
				return errMoved
			}
		}
		switch {
		case p.rev != nil:
			if err := scans.CommitRevision(tx, p.rev.Revision); err != nil {
				if errors.Is(err, scans.ErrDesignChanged) {
					return errMoved
				}
				return err
			}
		case p.from == "":
			var sc scans.Scan
			if err := tx.Get(scans.ScansCollection, cur.ScanID, &sc); err != nil {
				return err
			}
			rec.FromDesignID = sc.DesignID
		}
		t := s.Now()
		if cur.Status == workflow.OrderDispatched {
			tl, err := workflow.Append(cur.Timeline, t, cur.Status, workflow.OrderInAftercare, string(a.Role), "assessment="+rec.ID)
			if err != nil {
				return err
			}
			cur.Timeline, cur.Status = tl, workflow.OrderInAftercare
		}
		if revised != nil {
			cur.Revisions = append(cur.Revisions, *revised)
			data, _ := json.Marshal(DesignRevised{OrderID: cur.ID, ClinicID: cur.ClinicID, ScanID: cur.ScanID,
				DesignID: revised.DesignID, Version: revised.Version})
			ev := ports.Event{ID: s.NewID(), Type: TypeDesignRevised, Source: EventSource, Subject: "orders/" + cur.ID, Time: t, Data: data}
			if err := outbox.Add(ctx, tx, TopicDesignRevised, ev); err != nil {
				return err
			}
			evID = ev.ID
		}
		if err := tx.Set(OrdersCollection, cur.ID, cur); err != nil {
			return err
		}
		if p.cur != nil {
			earlier.Visit, earlier.SupersededBy, earlier.Superseded = p.visit, rec.ID, &t
			if err := tx.Set(AssessmentsCollection, earlier.ID, earlier); err != nil {
				return err
			}
		}
		if err := tx.Create(AssessmentsCollection, rec.ID, rec); err != nil {
			return err
		}
		v = assessmentVisit{OrderID: cur.ID, ClinicID: cur.ClinicID, Visit: p.visit, AssessmentID: rec.ID, Updated: t}
		if p.claimed {
			return tx.Set(AssessmentVisitsCollection, visitDocID(cur.ID, p.visit), v)
		}
		return tx.Create(AssessmentVisitsCollection, visitDocID(cur.ID, p.visit), v)
	})
	if errs.Is(errs.Exists, err) {
		err = errMoved // a concurrent request created the visit (or this id) first
	}
	if err != nil {
		return AssessmentView{}, err
	}
	if err := s.Audit(ctx, a, createAction(rec), "orders/"+o.ID+"/assessments/"+rec.ID, audit.Success); err != nil {
		return AssessmentView{}, err
	}
	if evID != "" {
		s.send(ctx, evID)
	}
	return viewOf(rec, content), nil
}

// createAction is the audit action of the request that stored rec.
func createAction(rec AssessmentRecord) string {
	if rec.Supersedes != "" {
		return ActionAssessmentSupersede
	}
	return ActionAssessmentCreate
}

// replay answers a request that repeats the visit's current assessment
// cur. When cur is the request's own (id: an earlier attempt of the same
// Idempotency-Key stored it and failed after), it is audited as that
// request's create, as retried orders and patients are, and answered as
// created; otherwise the answer is a read of cur, audited as a replay.
func (s *Service) replay(ctx context.Context, a auth.Actor, cur AssessmentRecord, c assessmentContent, id string) (AssessmentView, error) {
	v := viewOf(cur, c)
	action := httpkit.ReplayAction
	if cur.ID == id {
		action = createAction(cur)
	} else {
		v.Replayed = true
	}
	return v, s.Audit(ctx, a, action, "orders/"+cur.OrderID+"/assessments/"+cur.ID, audit.Success)
}

// visitNow finds the visit the assessment records and its current
// assessment: the visit of the assessment it supersedes, or the visit its
// key names today.
func (s *Service) visitNow(ctx context.Context, o Order, in AssessInput, now time.Time) (assessPlan, error) {
	const op = "orders.assess"
	var p assessPlan
	p.visit = aftercare.VisitID(in.VisitKey, now)
	if in.Supersedes != "" {
		var earlier AssessmentRecord
		err := s.Docs.Get(ctx, AssessmentsCollection, in.Supersedes, &earlier)
		if errs.Is(errs.NotFound, err) || (err == nil && (earlier.OrderID != o.ID || earlier.ClinicID != o.ClinicID || earlier.VisitKey != in.VisitKey)) {
			return p, errs.Field(op, "supersedes", "not an assessment of visit %s of this order", in.VisitKey)
		}
		if err != nil {
			return p, err
		}
		p.visit = visitOf(earlier) // an unscheduled visit of another day is superseded in its own visit
	}
	var v assessmentVisit
	err := s.Docs.Get(ctx, AssessmentVisitsCollection, visitDocID(o.ID, p.visit), &v)
	switch {
	case err == nil:
		var cur AssessmentRecord
		if err := s.Docs.Get(ctx, AssessmentsCollection, v.AssessmentID, &cur); err != nil {
			return p, err
		}
		p.cur, p.claimed = &cur, true
	case errs.Is(errs.NotFound, err):
		if p.cur, err = s.unclaimedVisit(ctx, o, p.visit); err != nil {
			return p, err
		}
	default:
		return p, err
	}
	if p.cur == nil && in.Supersedes != "" {
		return p, errs.Field(op, "supersedes", "visit %s of this order has no assessment to supersede", aftercare.VisitLabel(p.visit))
	}
	return p, nil
}

// unclaimedVisit returns the current assessment of a visit that has no
// visit document: one recorded before visits had documents, which the
// next assessment of the visit claims. nil when the visit was never
// recorded.
func (s *Service) unclaimedVisit(ctx context.Context, o Order, visit string) (*AssessmentRecord, error) {
	docs, err := s.Docs.Query(ctx, ports.Query{Collection: AssessmentsCollection,
		Where: []ports.Where{{Field: "orderId", Op: "==", Value: o.ID}}})
	if err != nil {
		return nil, err
	}
	var cur *AssessmentRecord
	for _, d := range docs {
		var rec AssessmentRecord
		if err := d.Decode(&rec); err != nil || rec.ClinicID != o.ClinicID || rec.SupersededBy != "" || visitOf(rec) != visit {
			continue
		}
		if cur == nil || rec.Created.Before(cur.Created) {
			cur = &rec // the first, if duplicates were recorded before
		}
	}
	return cur, nil
}

// planRevision is a design revision with the adjustment that made it.
type planRevision struct {
	scans.Revision
	adjustment *aftercare.Adjustment
}

// planDesign decides what the assessment does to the design, for a new
// visit (p.cur nil) or one that supersedes p.cur, and prepares the
// revision (not stored) if there is one.
func (s *Service) planDesign(ctx context.Context, a auth.Actor, o Order, in AssessInput, p *assessPlan) error {
	const op = "orders.assess"
	visit := aftercare.VisitLabel(p.visit)
	if p.cur == nil {
		if in.Outcome != aftercare.OutcomeAdjust {
			return nil // the design it found is read in the transaction
		}
		rev, err := s.adjust(ctx, a, o, in.Assessment, "", "adjusted after the "+visit+" assessment")
		if err != nil {
			return err
		}
		p.rev, p.from = rev, rev.From.ID
		return nil
	}
	earlier := *p.cur
	from := earlier.FromDesignID
	if from == "" {
		var err error
		if from, err = s.designFound(ctx, o, earlier); err != nil {
			return err
		}
	}
	left := from // the design the earlier assessment left current
	if earlier.RevisedDesignID != "" {
		left = earlier.RevisedDesignID
	}
	p.from = from
	if in.Outcome != aftercare.OutcomeAdjust && left == from {
		return nil // continue after continue: the design stays
	}
	var sc scans.Scan
	if err := s.Docs.Get(ctx, scans.ScansCollection, o.ScanID, &sc); err != nil {
		return err
	}
	if sc.DesignID != left {
		return &errs.Error{Op: op, Kind: errs.Conflict, Field: "supersedes", Err: fmt.Errorf(
			"the design has been revised since assessment %s (version %d is current): record the change at a later visit instead",
			earlier.ID, sc.DesignVersion)}
	}
	var rev *planRevision
	var err error
	if in.Outcome == aftercare.OutcomeAdjust {
		rev, err = s.adjust(ctx, a, o, in.Assessment, from, "")
	} else {
		rev, err = s.restore(ctx, a, o, from)
	}
	if err != nil {
		return err
	}
	if rev.Replaces != left {
		return errMoved
	}
	if rev.adjustment != nil {
		rev.Record.Reason = fmt.Sprintf("adjusted from version %d after the %s assessment, which superseded assessment %s",
			rev.From.Version, visit, earlier.ID)
	} else {
		rev.Record.Reason = fmt.Sprintf("version %d again: the %s assessment superseded assessment %s without an adjustment",
			rev.From.Version, visit, earlier.ID)
	}
	p.rev = rev
	return nil
}

// designFound is the design an assessment recorded before assessments kept
// it found: the version before the one it made, or the scan's latest
// version when it was recorded.
func (s *Service) designFound(ctx context.Context, o Order, rec AssessmentRecord) (string, error) {
	docs, err := s.Docs.Query(ctx, ports.Query{Collection: scans.DesignsCollection,
		Where: []ports.Where{{Field: "scanId", Op: "==", Value: o.ScanID}}})
	if err != nil {
		return "", err
	}
	var found scans.DesignRecord
	for _, d := range docs {
		var dr scans.DesignRecord
		if err := d.Decode(&dr); err != nil || dr.ClinicID != o.ClinicID {
			continue
		}
		switch {
		case rec.RevisedVersion > 0:
			if dr.Version == rec.RevisedVersion-1 {
				found = dr
			}
		case !dr.Created.After(rec.Created) && dr.Version > found.Version:
			found = dr
		}
	}
	if found.ID == "" {
		return "", errs.Ef("orders.assess", errs.Conflict, "the design assessment %s started from is not known: record the change at a later visit instead", rec.ID)
	}
	return found.ID, nil
}

// adjust applies the adjustment rules to the design fromDesignID ("" for
// the scan's current one) and prepares the revised version.
func (s *Service) adjust(ctx context.Context, a auth.Actor, o Order, in aftercare.Assessment, fromDesignID, reason string) (*planRevision, error) {
	var adj aftercare.Adjustment
	rev, err := s.Scans.PrepareRevision(ctx, a, o.ScanID, fromDesignID, reason,
		func(surf *topo.Surface, prev *pipeline.Result) (*pipeline.Result, error) {
			params, err := aftercare.ParamsFromDesign(prev.Lens)
			if err != nil {
				return nil, err
			}
			if adj, err = aftercare.Adjust(o.LensType, params, in, aftercare.DefaultRules()); err != nil {
				return nil, err
			}
			return pipeline.Revise(surf, prev, overridesOf(params, adj.Revised, prev.Lens.Type), cornea.ModelOptions{})
		})
	if err != nil {
		return nil, err
	}
	return &planRevision{Revision: rev, adjustment: &adj}, nil
}

// restore prepares a version that is the design fromDesignID again: what
// a visit whose adjustment was superseded by "continue" leaves.
func (s *Service) restore(ctx context.Context, a auth.Actor, o Order, fromDesignID string) (*planRevision, error) {
	rev, err := s.Scans.PrepareRevision(ctx, a, o.ScanID, fromDesignID, "",
		func(_ *topo.Surface, prev *pipeline.Result) (*pipeline.Result, error) {
			again := *prev
			return &again, nil
		})
	if err != nil {
		return nil, err
	}
	return &planRevision{Revision: rev}, nil
}

// content unseals an assessment's clinical content.
func (s *Service) content(rec AssessmentRecord) (assessmentContent, error) {
	var c assessmentContent
	plain, err := s.Sealer.Decrypt(rec.Sealed, ports.AssociatedData("assessment", rec.ClinicID, rec.OrderID, rec.ID))
	if err != nil {
		return c, errs.E("orders.assessments: unseal", errs.Other, err)
	}
	if err := json.Unmarshal(plain, &c); err != nil {
		return c, errs.E("orders.assessments: decode", errs.Other, err)
	}
	return c, nil
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

// Assessments lists one page of an order's assessments, oldest first (by
// created, then id), for its clinic (errs.NotFound for another clinic's
// order), and the next page's token ("" on the last page). The query is
// orderId == ordered by created (composite index orderId, created). Each
// read is audited.
func (s *Service) Assessments(ctx context.Context, a auth.Actor, orderID string, pr paging.Request) ([]AssessmentView, string, error) {
	o, err := s.order(ctx, a.ClinicID, orderID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "assessment.read", "orders/"+servicekit.SafeID(orderID)+"/assessments", audit.Denied)
		}
		return nil, "", err
	}
	docs, next, err := paging.Query(ctx, s.Docs, ports.Query{Collection: AssessmentsCollection,
		Where: []ports.Where{{Field: "orderId", Op: "==", Value: o.ID}}, OrderBy: "created"},
		pr, paging.NewScope("assessments.list", a.ClinicID, o.ID))
	if err != nil {
		return nil, "", err
	}
	out := make([]AssessmentView, 0, len(docs))
	for _, d := range docs {
		var rec AssessmentRecord
		if err := d.Decode(&rec); err != nil || rec.ClinicID != o.ClinicID {
			continue
		}
		c, err := s.content(rec)
		if err != nil {
			return nil, "", err
		}
		out = append(out, viewOf(rec, c))
	}
	// Two recorded at the same moment (a frozen clock): the superseded one
	// first, within the page.
	slices.SortStableFunc(out, func(x, y AssessmentView) int {
		switch {
		case !x.Created.Equal(y.Created):
			return 0 // already in created order
		case x.Supersedes == y.ID:
			return 1
		case y.Supersedes == x.ID:
			return -1
		}
		return 0
	})
	return out, next, s.Audit(ctx, a, "assessment.read", "orders/"+o.ID+"/assessments", audit.Success)
}
