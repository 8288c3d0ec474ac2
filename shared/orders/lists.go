package orders

import (
	"context"
	"sort"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/aftercare"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// OrderSummary is one order of a clinic's order list.
type OrderSummary struct {
	ID        string               `json:"id"`
	Status    workflow.OrderStatus `json:"status"`
	DesignID  string               `json:"designId"`
	ScanID    string               `json:"scanId"`
	PatientID string               `json:"patientId"`
	Quantity  int                  `json:"quantity"`
	Created   time.Time            `json:"created"`
	Updated   time.Time            `json:"updated"` // the last timeline entry's time
}

// clinicOrders returns every order of a clinic. The clinic filter is the
// query's; callers order the result themselves, so no composite index
// (clinicId + created) is needed.
func (s *Service) clinicOrders(ctx context.Context, clinicID string) ([]Order, error) {
	if clinicID == "" {
		return nil, errs.Ef("orders.list", errs.Permission, "no clinic in the token")
	}
	docs, err := s.Docs.Query(ctx, ports.Query{Collection: OrdersCollection,
		Where: []ports.Where{{Field: "clinicId", Op: "==", Value: clinicID}}})
	if err != nil {
		return nil, err
	}
	out := make([]Order, 0, len(docs))
	for _, d := range docs {
		var o Order
		if err := d.Decode(&o); err != nil {
			return nil, errs.E("orders.list: decode", errs.Other, err)
		}
		if o.ClinicID == clinicID {
			out = append(out, o)
		}
	}
	return out, nil
}

// List returns the actor's clinic's orders, newest first. The request
// leaves one audit record (order.list).
func (s *Service) List(ctx context.Context, a auth.Actor) ([]OrderSummary, error) {
	all, err := s.clinicOrders(ctx, a.ClinicID)
	if err != nil {
		return nil, err
	}
	out := make([]OrderSummary, 0, len(all))
	for _, o := range all {
		up := o.Created
		if n := len(o.Timeline); n > 0 && o.Timeline[n-1].At.After(up) {
			up = o.Timeline[n-1].At
		}
		out = append(out, OrderSummary{ID: o.ID, Status: o.Status, DesignID: o.DesignID, ScanID: o.ScanID,
			PatientID: o.PatientID, Quantity: o.Quantity, Created: o.Created, Updated: up})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, s.Audit(ctx, a, "order.list", "orders", audit.Success)
}

// Follow-up states.
const (
	FollowUpOverdue  = "overdue"  // due, and its reminder window has closed
	FollowUpDue      = "due"      // due now (inside its reminder window)
	FollowUpUpcoming = "upcoming" // the order's next visit, not yet due
)

// FollowUp is one aftercare visit of a dispatched order that has no
// recorded assessment.
type FollowUp struct {
	OrderID   string    `json:"orderId"`
	PatientID string    `json:"patientId"`
	Visit     string    `json:"visit"` // the visit key, e.g. "week-1"
	Label     string    `json:"label"` // the visit in the lab's words, e.g. "Week 1"
	Due       time.Time `json:"due"`
	State     string    `json:"state"`
}

// FollowUps returns the actor's clinic's aftercare visits not yet
// recorded, soonest first: for each dispatched order (or one in
// aftercare), by the default aftercare schedule of its lens type, every
// visit due by asOf without an assessment of that visit key (overdue once
// its reminder window has closed), and the order's next visit after asOf
// (upcoming). The request leaves one audit record (followup.list).
func (s *Service) FollowUps(ctx context.Context, a auth.Actor, asOf time.Time) ([]FollowUp, error) {
	all, err := s.clinicOrders(ctx, a.ClinicID)
	if err != nil {
		return nil, err
	}
	recorded, err := s.recordedVisits(ctx, a.ClinicID)
	if err != nil {
		return nil, err
	}
	schedules := aftercare.DefaultSchedules()
	var out []FollowUp
	for _, o := range all {
		if o.Dispatched == nil || (o.Status != workflow.OrderDispatched && o.Status != workflow.OrderInAftercare) {
			continue
		}
		sc, err := schedules.For(o.LensType)
		if err != nil {
			continue // not a lens type with a schedule: nothing to follow up
		}
		out = append(out, visitsOf(o, sc.Plan(*o.Dispatched), recorded[o.ID], asOf)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Due.Equal(out[j].Due) {
			return out[i].Due.Before(out[j].Due)
		}
		if out[i].OrderID != out[j].OrderID {
			return out[i].OrderID < out[j].OrderID
		}
		return out[i].Visit < out[j].Visit
	})
	if out == nil {
		out = []FollowUp{}
	}
	return out, s.Audit(ctx, a, "followup.list", "follow-ups", audit.Success)
}

// visitsOf picks an order's unrecorded visits from its plan (in date
// order): those due by asOf, and the first one after it.
func visitsOf(o Order, plan []aftercare.Visit, recorded map[string]bool, asOf time.Time) []FollowUp {
	var out []FollowUp
	for _, v := range plan {
		if recorded[v.Key] {
			continue
		}
		f := FollowUp{OrderID: o.ID, PatientID: o.PatientID, Visit: v.Key, Label: v.Label, Due: v.Due}
		switch {
		case v.Due.After(asOf):
			f.State = FollowUpUpcoming
			return append(out, f)
		case asOf.Before(v.Until):
			f.State = FollowUpDue
		default:
			f.State = FollowUpOverdue
		}
		out = append(out, f)
	}
	return out
}

// recordedVisits returns, by order id, the visit keys a clinic has
// recorded an assessment of.
func (s *Service) recordedVisits(ctx context.Context, clinicID string) (map[string]map[string]bool, error) {
	docs, err := s.Docs.Query(ctx, ports.Query{Collection: AssessmentsCollection,
		Where: []ports.Where{{Field: "clinicId", Op: "==", Value: clinicID}}})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]bool{}
	for _, d := range docs {
		var r AssessmentRecord
		if err := d.Decode(&r); err != nil {
			return nil, errs.E("orders.followups: decode", errs.Other, err)
		}
		if r.ClinicID != clinicID {
			continue
		}
		if out[r.OrderID] == nil {
			out[r.OrderID] = map[string]bool{}
		}
		out[r.OrderID][r.VisitKey] = true
	}
	return out, nil
}
