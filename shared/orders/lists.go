package orders

import (
	"context"
	"slices"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/aftercare"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/paging"
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

// decodeOrders decodes query results, keeping only clinicID's orders
// (belt and braces over the query's own clinic filter).
func decodeOrders(docs []ports.Doc, clinicID string) ([]Order, error) {
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

// List returns one page of the actor's clinic's orders, newest first (by
// created, then id), and the next page's token ("" on the last page). The
// request leaves one audit record (order.list). The query filters by the
// token's clinic and orders by created (composite index clinicId, created
// desc), so it reads one page, never the clinic's whole collection.
func (s *Service) List(ctx context.Context, a auth.Actor, pr paging.Request) ([]OrderSummary, string, error) {
	if a.ClinicID == "" {
		return nil, "", errs.Ef("orders.list", errs.Permission, "no clinic in the token")
	}
	docs, next, err := paging.Query(ctx, s.Docs, ports.Query{Collection: OrdersCollection,
		Where: []ports.Where{{Field: "clinicId", Op: "==", Value: a.ClinicID}}, OrderBy: "created", Desc: true},
		pr, paging.NewScope("orders.list", a.ClinicID))
	if err != nil {
		return nil, "", err
	}
	page, err := decodeOrders(docs, a.ClinicID)
	if err != nil {
		return nil, "", err
	}
	out := make([]OrderSummary, 0, len(page))
	for _, o := range page {
		up := o.Created
		if n := len(o.Timeline); n > 0 && o.Timeline[n-1].At.After(up) {
			up = o.Timeline[n-1].At
		}
		out = append(out, OrderSummary{ID: o.ID, Status: o.Status, DesignID: o.DesignID, ScanID: o.ScanID,
			PatientID: o.PatientID, Quantity: o.Quantity, Created: o.Created, Updated: up})
	}
	return out, next, s.Audit(ctx, a, "order.list", "orders", audit.Success)
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

// FollowUps returns one page of the actor's clinic's aftercare visits not
// yet recorded, and the next page's token ("" on the last page): for each
// dispatched order (or one in aftercare), by the default aftercare
// schedule of its lens type, every visit due by asOf without an
// assessment of that visit key (overdue once its reminder window has
// closed), and the order's next visit after asOf (upcoming). Orders come
// oldest dispatch first (by dispatched, then id), each order's visits
// soonest first: the longest-waiting patients lead.
//
// A page reads at most pageSize+1 of the clinic's dispatched orders (query
// clinicId ==, ordered by dispatched: composite index clinicId,
// dispatched) and each one's assessments (query orderId ==); an order
// whose visits do not all fit is continued on the next page, whose token
// names the order and the last visit served. The request leaves one audit
// record (followup.list).
func (s *Service) FollowUps(ctx context.Context, a auth.Actor, asOf time.Time, pr paging.Request) ([]FollowUp, string, error) {
	if a.ClinicID == "" {
		return nil, "", errs.Ef("orders.followups", errs.Permission, "no clinic in the token")
	}
	scope := paging.NewScope("followups.list", a.ClinicID)
	pos, err := pr.Start(scope)
	if err != nil {
		return nil, "", err
	}
	size := paging.Capped(pr.Size)
	var page []Order
	if pos.Key != "" { // the order the last page stopped inside
		var o Order
		switch err := s.Docs.Get(ctx, OrdersCollection, pos.Cursor.ID, &o); {
		case err == nil && o.ClinicID == a.ClinicID:
			page = append(page, o)
		case err != nil && !errs.Is(errs.NotFound, err):
			return nil, "", err
		}
	}
	docs, err := s.Docs.Query(ctx, ports.Query{Collection: OrdersCollection,
		Where: []ports.Where{{Field: "clinicId", Op: "==", Value: a.ClinicID}}, OrderBy: "dispatched",
		After: pos.Cursor, Limit: size + 1})
	if err != nil {
		return nil, "", err
	}
	more := len(docs) > size
	if more {
		docs = docs[:size]
	}
	rest, err := decodeOrders(docs, a.ClinicID)
	if err != nil {
		return nil, "", err
	}
	page = append(page, rest...)
	cursors := map[string]ports.Cursor{}
	if pos.Key != "" {
		cursors[pos.Cursor.ID] = *pos.Cursor
	}
	for _, d := range docs {
		c, err := ports.CursorOf(d, "dispatched")
		if err != nil {
			return nil, "", errs.Wrap("orders.followups", err)
		}
		cursors[d.ID] = c
	}
	out, stop, err := s.followUpsOf(ctx, page, cursors, pos.Key, asOf, size)
	if err != nil {
		return nil, "", err
	}
	next := ""
	switch {
	case stop != nil:
		next = paging.Token(scope, *stop)
	case more:
		c := cursors[docs[len(docs)-1].ID]
		next = paging.Token(scope, paging.Position{Cursor: &c})
	}
	return out, next, s.Audit(ctx, a, "followup.list", "follow-ups", audit.Success)
}

// followUpsOf lists the follow-ups of orders, in order, skipping the first
// order's visits up to and including skipThrough, until size are listed.
// cursors holds each order's position in the query. stop is where the next
// page starts when the list filled before the orders' follow-ups ran out:
// after the last visit served.
func (s *Service) followUpsOf(ctx context.Context, page []Order, cursors map[string]ports.Cursor, skipThrough string, asOf time.Time, size int) ([]FollowUp, *paging.Position, error) {
	schedules := aftercare.DefaultSchedules()
	out := []FollowUp{}
	var last *paging.Position
	for i, o := range page {
		if o.Dispatched == nil || (o.Status != workflow.OrderDispatched && o.Status != workflow.OrderInAftercare) {
			continue
		}
		sc, err := schedules.For(o.LensType)
		if err != nil {
			continue // not a lens type with a schedule: nothing to follow up
		}
		recorded, err := s.recordedVisits(ctx, o)
		if err != nil {
			return nil, nil, err
		}
		plan := sc.Plan(*o.Dispatched)
		vs := visitsOf(o, plan, recorded, asOf)
		if i == 0 && skipThrough != "" {
			// Served up to skipThrough on the last page: go on after it in the plan.
			index := func(key string) int {
				return slices.IndexFunc(plan, func(v aftercare.Visit) bool { return v.Key == key })
			}
			k := index(skipThrough)
			vs = slices.DeleteFunc(vs, func(f FollowUp) bool { return index(f.Visit) <= k })
		}
		for _, f := range vs {
			if len(out) == size {
				return out, last, nil
			}
			out = append(out, f)
			c := cursors[o.ID]
			last = &paging.Position{Cursor: &c, Key: f.Visit}
		}
	}
	return out, nil, nil
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

// recordedVisits returns the visit keys order o's clinic has recorded an
// assessment of (query orderId ==; a handful per order).
func (s *Service) recordedVisits(ctx context.Context, o Order) (map[string]bool, error) {
	docs, err := s.Docs.Query(ctx, ports.Query{Collection: AssessmentsCollection,
		Where: []ports.Where{{Field: "orderId", Op: "==", Value: o.ID}}})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, d := range docs {
		var r AssessmentRecord
		if err := d.Decode(&r); err != nil {
			return nil, errs.E("orders.followups: decode", errs.Other, err)
		}
		if r.ClinicID == o.ClinicID {
			out[r.VisitKey] = true
		}
	}
	return out, nil
}
