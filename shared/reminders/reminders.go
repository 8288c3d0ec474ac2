// Package reminders runs the wear follow-ups: once a day (Cloud Scheduler
// in production, a ticker in the local stack) it finds every dispatched
// lens whose aftercare visit has fallen due by the schedule for its lens
// type, and emits one reminder per order and visit, exactly once however
// often it runs: each reminder is a document created in the same
// transaction as its follow-up-due event (outbox), keyed by order and
// visit.
package reminders

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/lensflow/lensflow/shared/domain/aftercare"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
)

// Collection, topic and event type.
const (
	RemindersCollection = "reminders"
	TopicFollowUpDue    = "follow-up-due"
	TypeFollowUpDue     = "com.lensflow.followup.due.v1"
	EventSource         = "/lensflow/followups"
)

// Reminder records that a visit's reminder was sent.
type Reminder struct {
	OrderID  string    `json:"orderId"`
	ClinicID string    `json:"clinicId"`
	VisitKey string    `json:"visitKey"`
	Due      time.Time `json:"due"`
	Sent     time.Time `json:"sent"`
	EventID  string    `json:"eventId"`
}

// FollowUpDue is the data of a follow-up-due event: ids and the visit only.
// Its JSON Schema is generated from this struct and its field comments
// (shared/eventschema).
type FollowUpDue struct {
	// The dispatched order whose aftercare visit is due.
	OrderID string `json:"orderId"`
	// The clinic of the order.
	ClinicID string `json:"clinicId"`
	// The visit in the lens type's aftercare schedule, e.g. "week-1".
	VisitKey string `json:"visitKey"`
	// When the visit is due, RFC 3339.
	Due time.Time `json:"due"`
}

// Report says what one run did.
type Report struct {
	AsOf    time.Time `json:"asOf"`
	Orders  int       `json:"ordersChecked"`
	Due     int       `json:"visitsDue"`
	Sent    int       `json:"remindersSent"`
	Already int       `json:"alreadySent"`
}

// Service runs the follow-up task over the ports.
type Service struct {
	Docs      ports.Documents
	Relay     *outbox.Relay
	Schedules aftercare.Schedules
	Now       func() time.Time
}

// RunBatch is how many orders one query of Run reads: the task walks the
// dispatched orders in batches (status ==, by id: no composite index),
// never the whole collection at once.
var RunBatch = 200

// Run emits the reminders due by asOf. Running it again for the same day
// (or any later day) sends nothing twice.
func (s *Service) Run(ctx context.Context, asOf time.Time) (Report, error) {
	r := Report{AsOf: asOf.UTC()}
	now := time.Now().UTC()
	if s.Now != nil {
		now = s.Now().UTC()
	}
	var sent []string
	for _, st := range []workflow.OrderStatus{workflow.OrderDispatched, workflow.OrderInAftercare} {
		q := ports.Query{Collection: orders.OrdersCollection,
			Where: []ports.Where{{Field: "status", Op: "==", Value: string(st)}}}
		err := paging.Batches(ctx, s.Docs, q, RunBatch, func(docs []ports.Doc) error {
			for _, d := range docs {
				var o orders.Order
				if err := d.Decode(&o); err != nil || o.Dispatched == nil {
					continue
				}
				r.Orders++
				visits, err := s.Schedules.Due(o.LensType, *o.Dispatched, asOf)
				if err != nil {
					return errs.Wrap("reminders.run", err)
				}
				for _, v := range visits {
					r.Due++
					id, err := s.remind(ctx, o, v, now)
					if err != nil {
						return err
					}
					if id == "" {
						r.Already++
						continue
					}
					r.Sent++
					sent = append(sent, id)
				}
			}
			return nil
		})
		if err != nil {
			return r, err
		}
	}
	if s.Relay != nil && len(sent) > 0 {
		_ = s.Relay.Send(context.WithoutCancel(ctx), sent...) // failures stay in the outbox
	}
	return r, nil
}

// remind records the reminder for (order, visit) with its event, unless it
// exists; it returns the new event's id, or "" when it was sent before.
func (s *Service) remind(ctx context.Context, o orders.Order, v aftercare.Visit, now time.Time) (string, error) {
	docID := o.ID + "-" + v.Key
	var evID string
	err := s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		evID = ""
		var existing Reminder
		err := tx.Get(RemindersCollection, docID, &existing)
		if err == nil {
			return nil
		}
		if !errs.Is(errs.NotFound, err) {
			return err
		}
		data, _ := json.Marshal(FollowUpDue{OrderID: o.ID, ClinicID: o.ClinicID, VisitKey: v.Key, Due: v.Due})
		ev := ports.Event{ID: uuid.NewString(), Type: TypeFollowUpDue, Source: EventSource,
			Subject: "orders/" + o.ID + "/follow-ups/" + v.Key, Time: now, Data: data}
		if err := tx.Create(RemindersCollection, docID, Reminder{OrderID: o.ID, ClinicID: o.ClinicID, VisitKey: v.Key,
			Due: v.Due, Sent: now, EventID: ev.ID}); err != nil {
			return err
		}
		evID = ev.ID
		return outbox.Add(ctx, tx, TopicFollowUpDue, ev)
	})
	return evID, err
}
