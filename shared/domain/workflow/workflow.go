// Package workflow holds the lab's two state machines, as pure functions:
// an order's life (placed, made, dispatched, worn) and a manufacturing
// job's life on the lathe cell (queued, cut, inspected, dispatched, or
// failed and requeued).
//
//	Order:  placed ──> in_production ──> dispatched ──> in_aftercare ──> closed
//	          │             │    ▲
//	          │             ▼    │ (lab restarts production with a new job)
//	          │        needs_attention
//	          ▼             │
//	      cancelled <───────┘ (lab abandons the order)
//
//	Job:    queued ──> cutting ──> inspection ──> dispatched
//	          │           ▲            │
//	          │           │            ▼
//	          │       requeued <──── failed   (at most MaxInspectionFailures-1 requeues)
//	          ▼           │
//	      cancelled <─────┘
//
// A clinic may cancel an order only before production (placed); the lab
// may abandon an order that needs attention. A job that fails inspection
// MaxInspectionFailures times stays failed, and its order needs attention:
// a person at the lab decides whether to restart production (a fresh job,
// order back to in_production) or cancel.
//
// Transition checks one step and tells three outcomes apart: legal (nil),
// already in the target state (ErrAlreadyInState, so an event consumer can
// ack a duplicate) and illegal (ErrIllegal). All errors are errs.Conflict
// (HTTP 409) and name both states; statuses are not PHI.
package workflow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

// OrderStatus is where an order is in its life.
type OrderStatus string

// Order statuses.
const (
	// OrderPlaced: accepted from the clinic; no lens cut yet. The clinic may cancel.
	OrderPlaced OrderStatus = "placed"
	// OrderInProduction: the lab is making the lens (cutting, inspecting, or recutting).
	OrderInProduction OrderStatus = "in_production"
	// OrderNeedsAttention: the job failed inspection MaxInspectionFailures
	// times; a person at the lab restarts production or cancels.
	OrderNeedsAttention OrderStatus = "needs_attention"
	// OrderDispatched: the lens has left the lab; aftercare visits fall due from here.
	OrderDispatched OrderStatus = "dispatched"
	// OrderInAftercare: the first assessment has been recorded; follow-ups continue.
	OrderInAftercare OrderStatus = "in_aftercare"
	// OrderClosed: wear has ended (lens replaced or discontinued); no more follow-ups.
	OrderClosed OrderStatus = "closed"
	// OrderCancelled: stopped before a lens was made.
	OrderCancelled OrderStatus = "cancelled"
)

// JobStatus is where a manufacturing job is on the lathe cell.
type JobStatus string

// Job statuses.
const (
	// JobQueued: waiting for the lathe cell to pull it.
	JobQueued JobStatus = "queued"
	// JobCutting: on the lathe.
	JobCutting JobStatus = "cutting"
	// JobInspection: cut; being measured against the design's tolerances.
	JobInspection JobStatus = "inspection"
	// JobDispatched: passed inspection and shipped.
	JobDispatched JobStatus = "dispatched"
	// JobFailed: failed inspection. Requeued unless it has failed
	// MaxInspectionFailures times, when it stays failed.
	JobFailed JobStatus = "failed"
	// JobRequeued: waiting to be cut again after a failed inspection.
	JobRequeued JobStatus = "requeued"
	// JobCancelled: withdrawn before cutting because its order was cancelled.
	JobCancelled JobStatus = "cancelled"
)

// MaxInspectionFailures is how many failed inspections a job may have. At
// this many the job cannot be requeued and its order needs attention: three
// failed cuts of one design usually mean a problem with the design, the
// blank or the lathe, which a person should look at before more material
// is spent.
const MaxInspectionFailures = 3

// Status is either kind of status; the generic functions pick the machine
// from the type.
type Status interface{ OrderStatus | JobStatus }

// Sentinel causes, for errors.Is. Every error from this package that wraps
// one of them is classified errs.Conflict.
var (
	// ErrIllegal: the transition is not allowed from the current state.
	ErrIllegal = errors.New("illegal transition")
	// ErrAlreadyInState: the record is already in the target state; a
	// duplicate request or event. Event consumers ack it.
	ErrAlreadyInState = errors.New("already in that state")
	// ErrStale: the record has already moved past the target state (an
	// event delivered late). Event consumers ack it.
	ErrStale = errors.New("already past that state")
	// ErrTooManyFailures: a job that failed MaxInspectionFailures times
	// cannot be requeued.
	ErrTooManyFailures = errors.New("too many failed inspections")
)

// Ackable reports whether err says the transition has, in effect, already
// happened (ErrAlreadyInState or ErrStale), so that an event consumer can
// acknowledge the event without doing anything.
func Ackable(err error) bool {
	return errors.Is(err, ErrAlreadyInState) || errors.Is(err, ErrStale)
}

// machine is one state machine: its states in display order, the legal
// next states of each, and (orders only) a rank that increases along the
// forward path, for AdvanceOrder.
type machine[S ~string] struct {
	subject string // "order" or "job"
	initial S
	states  []S
	next    map[S][]S
	rank    map[S]int
}

var orders = &machine[OrderStatus]{
	subject: "order",
	initial: OrderPlaced,
	states: []OrderStatus{OrderPlaced, OrderInProduction, OrderNeedsAttention, OrderDispatched,
		OrderInAftercare, OrderClosed, OrderCancelled},
	next: map[OrderStatus][]OrderStatus{
		OrderPlaced:         {OrderInProduction, OrderCancelled},
		OrderInProduction:   {OrderDispatched, OrderNeedsAttention},
		OrderNeedsAttention: {OrderInProduction, OrderCancelled},
		OrderDispatched:     {OrderInAftercare},
		OrderInAftercare:    {OrderClosed},
	},
	rank: map[OrderStatus]int{
		OrderPlaced: 0, OrderInProduction: 1, OrderNeedsAttention: 2, OrderDispatched: 3,
		OrderInAftercare: 4, OrderClosed: 5, OrderCancelled: 6,
	},
}

var jobs = &machine[JobStatus]{
	subject: "job",
	initial: JobQueued,
	states:  []JobStatus{JobQueued, JobCutting, JobInspection, JobDispatched, JobFailed, JobRequeued, JobCancelled},
	next: map[JobStatus][]JobStatus{
		JobQueued:     {JobCutting, JobCancelled},
		JobCutting:    {JobInspection},
		JobInspection: {JobDispatched, JobFailed},
		JobFailed:     {JobRequeued},
		JobRequeued:   {JobCutting, JobCancelled},
	},
}

func machineOf[S Status]() *machine[S] {
	var zero S
	switch any(zero).(type) {
	case OrderStatus:
		return any(orders).(*machine[S])
	default:
		return any(jobs).(*machine[S])
	}
}

func (m *machine[S]) known(s S) bool { return slices.Contains(m.states, s) }

func (m *machine[S]) names() string {
	parts := make([]string, len(m.states))
	for i, s := range m.states {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

func (m *machine[S]) unknown(op string) error {
	return errs.Field(op, "status", "unknown %s status (want one of %s)", m.subject, m.names())
}

func (m *machine[S]) transition(op string, from, to S) error {
	if !m.known(from) || !m.known(to) {
		return m.unknown(op)
	}
	if from == to {
		return errs.E(op, errs.Conflict, fmt.Errorf("%w: %s is already %s", ErrAlreadyInState, m.subject, to))
	}
	if slices.Contains(m.next[from], to) {
		return nil
	}
	return errs.E(op, errs.Conflict, fmt.Errorf("%w: %s cannot go from %s to %s%s", ErrIllegal, m.subject, from, to, m.allowed(from)))
}

func (m *machine[S]) allowed(from S) string {
	nx := m.next[from]
	if len(nx) == 0 {
		return fmt.Sprintf(" (%s is final)", from)
	}
	parts := make([]string, len(nx))
	for i, s := range nx {
		parts[i] = string(s)
	}
	return " (next: " + strings.Join(parts, " or ") + ")"
}

// Transition reports whether a record may move from one status to another
// in one step: nil if legal; errs.Conflict wrapping ErrAlreadyInState if
// from == to; errs.Conflict wrapping ErrIllegal otherwise, naming both
// states and the legal next ones. An unknown status is errs.Invalid on
// field "status".
//
// Transition knows nothing of a job's failure count; use JobState.Step to
// apply the requeue limit.
func Transition[S Status](from, to S) error {
	return machineOf[S]().transition("workflow.Transition", from, to)
}

// Next returns the statuses reachable from from in one step (none for a
// final status or an unknown one). The slice is the caller's.
func Next[S Status](from S) []S {
	return slices.Clone(machineOf[S]().next[from])
}

// Final reports whether s has no next status.
func Final[S Status](s S) bool {
	m := machineOf[S]()
	return m.known(s) && len(m.next[s]) == 0
}

// Initial returns the status a new record starts in (placed, queued).
func Initial[S Status]() S { return machineOf[S]().initial }

// Statuses returns every status of the machine, in display order.
func Statuses[S Status]() []S { return slices.Clone(machineOf[S]().states) }

// ParseOrderStatus returns the order status spelled s, or errs.Invalid on
// field "status". The error does not quote s.
func ParseOrderStatus(s string) (OrderStatus, error) {
	if st := OrderStatus(s); orders.known(st) {
		return st, nil
	}
	return "", orders.unknown("workflow.ParseOrderStatus")
}

// ParseJobStatus returns the job status spelled s, or errs.Invalid on field
// "status". The error does not quote s.
func ParseJobStatus(s string) (JobStatus, error) {
	if st := JobStatus(s); jobs.known(st) {
		return st, nil
	}
	return "", jobs.unknown("workflow.ParseJobStatus")
}

// AdvanceOrder plans how an order moves forward to target when the cause is
// an event that may arrive late, twice or out of order (for example the
// status of its job). It returns the steps to apply in order, each a legal
// Transition, moving only forward: it never takes needs_attention back to
// in_production (only a person at the lab does that, with Transition), and
// never passes through needs_attention on the way to another status.
//
// When there is nothing to do it returns an Ackable error: ErrAlreadyInState
// if the order is at target, ErrStale if the order is already past target
// (including cancelled or closed orders). A target that cannot be reached
// forward is ErrIllegal. All are errs.Conflict.
func AdvanceOrder(current, target OrderStatus) ([]OrderStatus, error) {
	const op = "workflow.AdvanceOrder"
	m := orders
	if !m.known(current) || !m.known(target) {
		return nil, m.unknown(op)
	}
	if current == target {
		return nil, errs.E(op, errs.Conflict, fmt.Errorf("%w: order is already %s", ErrAlreadyInState, target))
	}
	if m.rank[target] < m.rank[current] {
		return nil, errs.E(op, errs.Conflict, fmt.Errorf("%w: order is %s, past %s", ErrStale, current, target))
	}
	// Breadth-first search over forward edges; the graph is tiny.
	prev := map[OrderStatus]OrderStatus{current: current}
	queue := []OrderStatus{current}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, n := range m.next[s] {
			if _, seen := prev[n]; seen || m.rank[n] <= m.rank[s] {
				continue
			}
			prev[n] = s
			if n == target {
				var path []OrderStatus
				for at := n; at != current; at = prev[at] {
					path = append(path, at)
				}
				slices.Reverse(path)
				return path, nil
			}
			if n != OrderNeedsAttention { // a decision point: never passed through on the way elsewhere
				queue = append(queue, n)
			}
		}
	}
	return nil, errs.E(op, errs.Conflict, fmt.Errorf("%w: order cannot go from %s to %s%s", ErrIllegal, current, target, m.allowed(current)))
}

// JobState is the part of a manufacturing job the workflow needs: its
// status and how many inspections it has failed.
type JobState struct {
	Status   JobStatus `json:"status"`
	Failures int       `json:"failures"` // failed inspections so far
}

// NewJob returns the state of a new job: queued, no failures.
func NewJob() JobState { return JobState{Status: JobQueued} }

// Step applies one transition to the job, counting failed inspections and
// refusing a requeue once the job has failed MaxInspectionFailures times
// (errs.Conflict wrapping ErrTooManyFailures and ErrIllegal). Other errors
// are Transition's.
func (j JobState) Step(to JobStatus) (JobState, error) {
	const op = "workflow.JobState.Step"
	if err := jobs.transition(op, j.Status, to); err != nil {
		return j, err
	}
	if to == JobRequeued && j.Failures >= MaxInspectionFailures {
		return j, errs.E(op, errs.Conflict, fmt.Errorf("%w: %w: job cannot go from %s to %s after %d failed inspections; its order needs attention",
			ErrIllegal, ErrTooManyFailures, j.Status, to, j.Failures))
	}
	j.Status = to
	if to == JobFailed {
		j.Failures++
	}
	return j, nil
}

// Exhausted reports whether the job has failed for the last time: failed,
// with MaxInspectionFailures failures, so it will not be requeued.
func (j JobState) Exhausted() bool {
	return j.Status == JobFailed && j.Failures >= MaxInspectionFailures
}

// Next returns the job's legal next statuses, taking the requeue limit
// into account.
func (j JobState) Next() []JobStatus {
	if j.Exhausted() {
		return nil
	}
	return Next(j.Status)
}

// OrderStatus returns the order status a job in this state implies, and
// false when it implies none (a queued or cancelled job leaves its order
// as it is):
//
//	cutting, inspection, requeued, failed -> in_production
//	failed for the last time (Exhausted)  -> needs_attention
//	dispatched                            -> dispatched
//
// Feed it to AdvanceOrder. Apply only events of the order's current job:
// a late event from a job the lab has replaced must be ignored.
func (j JobState) OrderStatus() (OrderStatus, bool) {
	switch j.Status {
	case JobCutting, JobInspection, JobRequeued:
		return OrderInProduction, true
	case JobFailed:
		if j.Exhausted() {
			return OrderNeedsAttention, true
		}
		return OrderInProduction, true
	case JobDispatched:
		return OrderDispatched, true
	}
	return "", false
}

// TimelineEntry is one transition in an order's or job's history. It
// holds statuses, a role and ids only: never names, notes written by
// people, or anything else that could be PHI.
type TimelineEntry struct {
	At      time.Time `json:"at"`
	Subject string    `json:"subject"`        // "order" or "job", or what a Mark is about (SubjectComment)
	From    string    `json:"from,omitempty"` // empty for the entry that creates the record
	To      string    `json:"to"`
	Actor   string    `json:"actor"`          // role of who caused it: practitioner, lab or service
	Note    string    `json:"note,omitempty"` // optional ids, e.g. "job=j_123" or "design=d_9,version=2"
}

// maxNote bounds a timeline note.
const maxNote = 200

// Append checks the transition from -> to and returns tl with an entry for
// it. from may be empty only for the record's creation, when to must be
// the initial status (placed, queued). actor must be a role name (lower
// case letters, '_' or '-'); note, if any, may hold only ids: letters,
// digits and . _ - : / , = (no spaces), at most 200 bytes, so free text
// cannot slip in. at must be set; it is stored in UTC.
//
// Transition errors come back unchanged, so a duplicate is still
// recognizably ErrAlreadyInState; the others are errs.Invalid naming the
// field ("at", "actor", "note").
//
// For a job, apply JobState.Step first: Append checks the pair of states
// only, not the requeue limit.
//
// Append never changes tl's elements; it appends to a clipped copy.
func Append[S Status](tl []TimelineEntry, at time.Time, from, to S, actor, note string) ([]TimelineEntry, error) {
	const op = "workflow.Append"
	m := machineOf[S]()
	if from == "" {
		if to != m.initial {
			return tl, errs.E(op, errs.Conflict, fmt.Errorf("%w: a new %s starts as %s, not %s", ErrIllegal, m.subject, m.initial, to))
		}
	} else if err := m.transition(op, from, to); err != nil {
		return tl, err
	}
	if at.IsZero() {
		return tl, errs.Field(op, "at", "must be set")
	}
	if !roleName(actor) {
		return tl, errs.Field(op, "actor", "must be a role name (lower case letters, '_' or '-', at most 32)")
	}
	if !idsOnly(note) {
		return tl, errs.Field(op, "note", "may hold only ids: letters, digits and . _ - : / , = (no spaces), at most %d bytes", maxNote)
	}
	return append(slices.Clip(tl), TimelineEntry{
		At: at.UTC(), Subject: m.subject, From: string(from), To: string(to), Actor: actor, Note: note,
	}), nil
}

// SubjectComment is the subject of a timeline entry noting a comment on
// the record (Mark).
const SubjectComment = "comment"

// Mark returns tl with an entry noting something that happened to the
// record without changing its status (a comment posted): subject says
// what, event what happened to it (a lower-case word), with the same
// checks on actor and note as Append. Entries keep time order: one older
// than the last is placed before the entries it precedes.
func Mark(tl []TimelineEntry, at time.Time, subject, event, actor, note string) ([]TimelineEntry, error) {
	const op = "workflow.Mark"
	switch {
	case at.IsZero():
		return tl, errs.Field(op, "at", "must be set")
	case !roleName(subject) || !roleName(event):
		return tl, errs.Field(op, "subject", "subject and event must be lower-case words")
	case !roleName(actor):
		return tl, errs.Field(op, "actor", "must be a role name (lower case letters, '_' or '-', at most 32)")
	case !idsOnly(note):
		return tl, errs.Field(op, "note", "may hold only ids: letters, digits and . _ - : / , = (no spaces), at most %d bytes", maxNote)
	}
	e := TimelineEntry{At: at.UTC(), Subject: subject, To: event, Actor: actor, Note: note}
	i := len(tl)
	for i > 0 && tl[i-1].At.After(e.At) {
		i--
	}
	return slices.Insert(slices.Clip(tl), i, e), nil
}

func roleName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func idsOnly(s string) bool {
	if len(s) > maxNote {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("._-:/,=", c)) {
			return false
		}
	}
	return true
}
