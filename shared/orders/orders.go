// Package orders is the path from a design to a lens in the post: a
// clinic orders a design version, the manufacturing step turns the order
// into a lathe job with its point files, and the lab moves the job through
// cutting, inspection and dispatch while the order's timeline records every
// transition. It is the application layer over the ports and the pure
// workflow, engine and lathe packages.
package orders

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
	"github.com/lensflow/lensflow/shared/servicekit"
	"github.com/lensflow/lensflow/shared/tracing"
)

// Collections, topics and event types.
const (
	OrdersCollection = "orders"
	JobsCollection   = "jobs"

	TopicOrderPlaced = "order-placed"
	TypeOrderPlaced  = "com.lensflow.order.placed.v1"
	// TopicManufacturingJobs is what the lab's lathe cell pulls.
	TopicManufacturingJobs = "manufacturing-jobs"
	TypeJobQueued          = "com.lensflow.job.queued.v1"
	// TopicJobStatus carries every job transition (notifications consume it).
	TopicJobStatus       = "job-status"
	TypeJobStatusChanged = "com.lensflow.job.status_changed.v1"

	EventSource = "/lensflow/orders"
)

// LatheCellSubscription is the pull subscription the lab's lathe cell
// reads the manufacturing-jobs topic through.
var LatheCellSubscription = ports.SubscriptionSpec{Name: TopicManufacturingJobs + "-to-lathe-cell", Topic: TopicManufacturingJobs,
	DeadLetterTopic: TopicManufacturingJobs + "-to-lathe-cell-dead-letter", MaxDeliveryAttempts: 5, AckDeadline: 60 * time.Second}

// MaxQuantity bounds the lenses in one order; MaxNotes its notes.
const (
	MaxQuantity = 10
	MaxNotes    = 2000
)

// Order is a clinic's order of one design version.
type Order struct {
	ID            string                   `json:"id"`
	ClinicID      string                   `json:"clinicId"`
	PatientID     string                   `json:"patientId"`
	ScanID        string                   `json:"scanId"`
	DesignID      string                   `json:"designId"`
	DesignVersion int                      `json:"designVersion"`
	LensType      string                   `json:"lensType"`
	Quantity      int                      `json:"quantity"`
	SealedNotes   []byte                   `json:"sealedNotes,omitempty"` // the practitioner's notes, encrypted
	Status        workflow.OrderStatus     `json:"status"`
	JobID         string                   `json:"jobId,omitempty"`
	Timeline      []workflow.TimelineEntry `json:"timeline"`
	Created       time.Time                `json:"created"`
	Dispatched    *time.Time               `json:"dispatched,omitempty"`
	// Revisions are the design versions made after the order, by
	// assessments with an adjust outcome (the order keeps its ordered one).
	Revisions []OrderDesign `json:"revisions,omitempty"`
}

// JobFile is one lathe point file of a job, stored encrypted.
type JobFile struct {
	Name   string `json:"name"`   // e.g. "<jobId>.V5B"
	Object string `json:"object"` // blob name
	Side   string `json:"side"`   // "back" or "front"
	Points int    `json:"points"` // per meridian
	Bytes  int    `json:"bytes"`
}

// Job is a manufacturing job: one order's lens on the lathe cell.
type Job struct {
	ID       string                   `json:"id"`
	OrderID  string                   `json:"orderId"`
	ClinicID string                   `json:"clinicId"`
	DesignID string                   `json:"designId"`
	LensType string                   `json:"lensType"`
	Quantity int                      `json:"quantity"`
	State    workflow.JobState        `json:"state"`
	Status   workflow.JobStatus       `json:"status"` // State.Status, top level so it can be queried
	Files    []JobFile                `json:"files"`
	Timeline []workflow.TimelineEntry `json:"timeline"`
	Created  time.Time                `json:"created"`
	Updated  time.Time                `json:"updated"`
}

// OrderPlaced is the data of an order-placed event: ids only.
// The data structs of events are their contracts: their JSON Schemas are
// generated from them and their field comments (shared/eventschema).
type OrderPlaced struct {
	// The order placed (GET /v1/orders/{orderId}).
	OrderID string `json:"orderId"`
	// The clinic that placed it.
	ClinicID string `json:"clinicId"`
}

// JobEvent is the data of job-queued and job-status-changed events.
type JobEvent struct {
	// The manufacturing job (GET /v1/lab/jobs/{jobId}).
	JobID string `json:"jobId"`
	// The order the job makes.
	OrderID string `json:"orderId"`
	// The clinic that ordered.
	ClinicID string `json:"clinicId"`
	// The job's status after the transition (queued, cutting, ...).
	Status string `json:"status"`
	// The order's status after the transition.
	Order string `json:"orderStatus"`
	// Whether the transition moved the order too (what clinics are told
	// about; job-internal steps such as a recut do not).
	OrderChanged bool `json:"orderChanged,omitempty"`
}

// Service runs orders and jobs over the ports.
type Service struct {
	Docs   ports.Documents
	Blobs  ports.Blobs
	Sealer ports.Sealer
	Scans  *scans.Service
	Relay  *outbox.Relay
	// Kit is the clock, the new ids and the audit trail.
	servicekit.Kit
	// Metrics counts jobs entering each status (nil records nothing).
	Metrics *metrics.Metrics
}

func (s *Service) send(ctx context.Context, ids ...string) {
	if s.Relay != nil && len(ids) > 0 {
		_ = s.Relay.Send(context.WithoutCancel(ctx), ids...) // failures stay in the outbox
	}
}

func event(id, typ, subject string, at time.Time, data any) ports.Event {
	b, _ := json.Marshal(data)
	return ports.Event{ID: id, Type: typ, Source: EventSource, Subject: subject, Time: at, Data: b}
}

// PlaceInput is the body of POST /v1/orders.
type PlaceInput struct {
	DesignID string `json:"designId"`
	Quantity int    `json:"quantity"`
	Notes    string `json:"notes"`
	// OrderID, when set, is the id the order is created with: the one fixed
	// by the request's Idempotency-Key (httpkit.ResourceID), so a retry of
	// a request whose order was committed answers with that order.
	OrderID string `json:"-"`
}

// Place records an order of a design version of the actor's clinic. The
// design must be the scan's current version (errs.Conflict otherwise: a
// revised design supersedes it).
func (s *Service) Place(ctx context.Context, a auth.Actor, in PlaceInput) (Order, error) {
	const op = "orders.place"
	switch {
	case in.DesignID == "":
		return Order{}, errs.Field(op, "designId", "required")
	case in.Quantity < 1 || in.Quantity > MaxQuantity:
		return Order{}, errs.Field(op, "quantity", "must be 1 to %d", MaxQuantity)
	case utf8.RuneCountInString(in.Notes) > MaxNotes:
		return Order{}, errs.Field(op, "notes", "longer than %d characters", MaxNotes)
	case strings.IndexFunc(in.Notes, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		return Order{}, errs.Field(op, "notes", "contains control characters")
	}
	if in.OrderID != "" {
		if prev, ok, err := s.placed(ctx, a, in.OrderID); err != nil || ok {
			return prev, err
		}
	}
	d, _, err := s.Scans.Design(ctx, a.ClinicID, in.DesignID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "order.create", "designs/"+servicekit.SafeID(in.DesignID), audit.Denied)
		}
		return Order{}, err
	}
	tracing.LinkTo(ctx, d.Traceparent, "design")
	var sc scans.Scan
	if err := s.Docs.Get(ctx, scans.ScansCollection, d.ScanID, &sc); err != nil {
		return Order{}, err
	}
	if sc.DesignID != d.ID {
		return Order{}, errs.Ef(op, errs.Conflict, "design %s is version %d; the current design of this scan is %s (version %d)",
			d.ID, d.Version, sc.DesignID, sc.DesignVersion)
	}
	now := s.Now()
	id := in.OrderID
	if id == "" {
		id = s.NewID()
	}
	o := Order{ID: id, ClinicID: a.ClinicID, PatientID: d.PatientID, ScanID: d.ScanID, DesignID: d.ID,
		DesignVersion: d.Version, LensType: sc.LensType, Quantity: in.Quantity, Status: workflow.OrderPlaced, Created: now}
	if in.Notes != "" {
		if o.SealedNotes, err = s.Sealer.Encrypt([]byte(in.Notes), ports.AssociatedData("order-notes", o.ClinicID, o.ID)); err != nil {
			return Order{}, errs.E(op+": seal", errs.Unavailable, err)
		}
	}
	if o.Timeline, err = workflow.Append[workflow.OrderStatus](nil, now, "", workflow.OrderPlaced, string(a.Role), "design="+d.ID); err != nil {
		return Order{}, err
	}
	ev := event(s.NewID(), TypeOrderPlaced, "orders/"+o.ID, now, OrderPlaced{OrderID: o.ID, ClinicID: o.ClinicID})
	if err := s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		if err := tx.Create(OrdersCollection, o.ID, o); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, TopicOrderPlaced, ev)
	}); err != nil {
		if errs.Is(errs.Exists, err) && in.OrderID != "" {
			// A concurrent attempt with the same key committed first.
			if prev, ok, gerr := s.placed(ctx, a, in.OrderID); gerr == nil && ok {
				return prev, nil
			}
		}
		return Order{}, err
	}
	if err := s.Audit(ctx, a, "order.create", "orders/"+o.ID, audit.Success); err != nil {
		return Order{}, err
	}
	s.send(ctx, ev.ID)
	return o, nil
}

// placed returns the order id of the actor's clinic if an earlier attempt of
// the same request placed it (audited as that request's create).
func (s *Service) placed(ctx context.Context, a auth.Actor, id string) (Order, bool, error) {
	o, ok, err := ports.Prior(ctx, s.Docs, OrdersCollection, id, func(o Order) bool { return o.ClinicID == a.ClinicID })
	if err != nil || !ok {
		return Order{}, false, err
	}
	return o, true, s.Audit(ctx, a, "order.create", "orders/"+o.ID, audit.Success)
}

// OrderView is an order as its clinic sees it.
type OrderView struct {
	Order
	Notes string `json:"notes,omitempty"`
}

// Get returns an order of the actor's clinic with its notes and timeline
// (errs.NotFound for another clinic's).
func (s *Service) Get(ctx context.Context, a auth.Actor, id string) (OrderView, error) {
	o, err := s.order(ctx, a.ClinicID, id)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "order.read", "orders/"+servicekit.SafeID(id), audit.Denied)
		}
		return OrderView{}, err
	}
	v := OrderView{Order: o}
	if len(o.SealedNotes) > 0 {
		plain, err := s.Sealer.Decrypt(o.SealedNotes, ports.AssociatedData("order-notes", o.ClinicID, o.ID))
		if err != nil {
			return OrderView{}, errs.E("orders.get: unseal", errs.Other, err)
		}
		v.Notes = string(plain)
	}
	v.SealedNotes = nil
	return v, s.Audit(ctx, a, "order.read", "orders/"+o.ID, audit.Success)
}

func (s *Service) order(ctx context.Context, clinicID, id string) (Order, error) {
	var o Order
	if !servicekit.ValidID(id) {
		return o, errs.Ef("orders.get", errs.NotFound, "order not found")
	}
	err := s.Docs.Get(ctx, OrdersCollection, id, &o)
	if errs.Is(errs.NotFound, err) || (err == nil && clinicID != "" && o.ClinicID != clinicID) {
		return Order{}, errs.Ef("orders.get", errs.NotFound, "order not found")
	}
	return o, err
}
