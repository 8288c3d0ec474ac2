// Package firestoreindex derives the composite indexes Cloud Firestore needs
// for lensflow's queries, so that Terraform declares exactly those.
//
// Firestore serves a query from its automatic single-field indexes when the
// query has only equality filters (merging them, ordered by document id),
// or a range filter and/or an order on one field and no other filter.
// Equality filters together with an order or a range on another field need
// a composite index: the equality fields (ascending, by name), then the
// order/range field in the query's direction (Firestore appends __name__
// in the same direction itself). Required applies these rules to a query's
// Shape.
//
// Why a registry and a recorder rather than the emulator alone: the
// Firestore emulator accepts every query without an index, so it cannot
// say which indexes production needs. Instead:
//
//   - Shapes lists every query shape lensflow's code issues (its own
//     package tests run each against the emulator through firestoredocs,
//     with a cursor and a limit, as the list routes issue them);
//   - the end-to-end paging test (scripts/local) runs every list route and
//     scheduled task with a Recorder around the stack's document store and
//     fails on a shape missing from Shapes, and on a Shape needing an index
//     that no test issued (a stale entry);
//   - the infra policy test (infra/policy, on the Terraform plan) compares
//     the google_firestore_index resources with Indexes(Shapes) both ways:
//     an index the code needs and Terraform lacks fails, and so does one
//     Terraform declares that no query needs.
package firestoreindex

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/lensflow/lensflow/shared/ports"
)

// Shape is what of a query decides its index: the collection, the fields
// with equality filters, the field with range filters, and the order.
type Shape struct {
	Collection string
	Equal      []string // sorted, distinct
	Range      string   // "" if none
	OrderBy    string   // "" means document id
	Desc       bool
}

// ShapeOf returns the shape of q.
func ShapeOf(q ports.Query) Shape {
	s := Shape{Collection: q.Collection, OrderBy: q.OrderBy, Desc: q.Desc}
	for _, w := range q.Where {
		if w.Op == "==" {
			if !slices.Contains(s.Equal, w.Field) {
				s.Equal = append(s.Equal, w.Field)
			}
			continue
		}
		s.Range = w.Field
	}
	slices.Sort(s.Equal)
	return s
}

// String is a stable one-line form, e.g. "orders: clinicId== order created desc".
func (s Shape) String() string {
	var b strings.Builder
	b.WriteString(s.Collection + ":")
	for _, f := range s.Equal {
		b.WriteString(" " + f + "==")
	}
	if s.Range != "" {
		b.WriteString(" " + s.Range + "<>")
	}
	if s.OrderBy != "" {
		b.WriteString(" order " + s.OrderBy)
	} else {
		b.WriteString(" order id")
	}
	if s.Desc {
		b.WriteString(" desc")
	}
	return b.String()
}

// Field is one field of a composite index.
type Field struct {
	Path  string
	Order string // "ASCENDING" or "DESCENDING"
}

// Index is a composite index of a collection (query scope COLLECTION),
// without the __name__ field Firestore appends.
type Index struct {
	Collection string
	Fields     []Field
}

func (ix Index) String() string {
	parts := make([]string, len(ix.Fields))
	for i, f := range ix.Fields {
		parts[i] = f.Path + " " + f.Order
	}
	return ix.Collection + "(" + strings.Join(parts, ", ") + ")"
}

// Required returns the composite index shape s needs, if it needs one.
func Required(s Shape) (Index, bool) {
	ordered := s.OrderBy
	if ordered == "" {
		ordered = s.Range // Firestore orders a range query by its field first
	}
	var eq []string
	for _, f := range s.Equal {
		if f != ordered && f != s.Range {
			eq = append(eq, f)
		}
	}
	if len(eq) == 0 && (s.Range == "" || s.OrderBy == "" || s.Range == s.OrderBy) {
		return Index{}, false // single-field indexes serve it
	}
	if ordered == "" {
		return Index{}, false // equality filters only, by id: merged single-field indexes
	}
	dir := "ASCENDING"
	if s.Desc {
		dir = "DESCENDING"
	}
	ix := Index{Collection: s.Collection}
	for _, f := range eq {
		ix.Fields = append(ix.Fields, Field{Path: f, Order: "ASCENDING"})
	}
	if s.Range != "" && s.OrderBy != "" && s.Range != s.OrderBy {
		ix.Fields = append(ix.Fields, Field{Path: s.Range, Order: "ASCENDING"})
	}
	ix.Fields = append(ix.Fields, Field{Path: ordered, Order: dir})
	return ix, true
}

// Indexes returns the distinct composite indexes shapes need, sorted by
// their String.
func Indexes(shapes []Shape) []Index {
	seen := map[string]bool{}
	var out []Index
	for _, s := range shapes {
		if ix, ok := Required(s); ok && !seen[ix.String()] {
			seen[ix.String()] = true
			out = append(out, ix)
		}
	}
	slices.SortFunc(out, func(a, b Index) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Shapes are the query shapes lensflow's code issues, each with where it
// is issued. Keep it in step with the code: the end-to-end paging test
// fails on a shape issued that is not here.
var Shapes = []Shape{
	// List routes (shared/paging pages): one composite index each.
	{Collection: "patients", Equal: []string{"clinicId"}, OrderBy: "created", Desc: true},            // GET /v1/patients
	{Collection: "scans", Equal: []string{"clinicId", "patientId"}, OrderBy: "received", Desc: true}, // GET /v1/patients/{id}/scans
	{Collection: "orders", Equal: []string{"clinicId"}, OrderBy: "created", Desc: true},              // GET /v1/orders
	{Collection: "orders", Equal: []string{"clinicId"}, OrderBy: "dispatched"},                       // GET /v1/follow-ups
	{Collection: "assessments", Equal: []string{"orderId"}, OrderBy: "created"},                      // GET /v1/orders/{id}/assessments
	{Collection: "order-comments", Equal: []string{"orderId"}, OrderBy: "created"},                   // GET /v1/orders/{id}/comments
	{Collection: "jobs", OrderBy: "created"},                                                         // GET /v1/lab/jobs
	{Collection: "jobs", Equal: []string{"status"}, OrderBy: "created"},                              // GET /v1/lab/jobs?status=
	{Collection: "clinics", Range: "geohash", OrderBy: "geohash"},                                    // GET /v1/clinics (geohash ranges)
	// Internal scans, in batches by id: equality filters only.
	{Collection: "jobs", Equal: []string{"status"}},                    // census task
	{Collection: "orders", Equal: []string{"status"}},                  // follow-up task
	{Collection: "notification-deliveries", Equal: []string{"status"}}, // notifications task
	{Collection: "outbox", OrderBy: "created"},                         // outbox task
	{Collection: "assessments", Equal: []string{"orderId"}},            // follow-ups' recorded visits, unclaimed visits
	{Collection: "designs", Equal: []string{"scanId"}},                 // an assessment's design found
	{Collection: "designs", Equal: []string{"scanId", "version"}},      // tear layer of a design version
}

// Registered reports whether s is in Shapes.
func Registered(s Shape) bool {
	return slices.ContainsFunc(Shapes, func(r Shape) bool { return r.String() == s.String() })
}

// Recorder is a ports.Documents that records the shape of every query it
// forwards.
type Recorder struct {
	ports.Documents
	mu     sync.Mutex
	shapes map[string]Shape
}

// NewRecorder wraps docs.
func NewRecorder(docs ports.Documents) *Recorder {
	return &Recorder{Documents: docs, shapes: map[string]Shape{}}
}

// Query records q's shape and runs it.
func (r *Recorder) Query(ctx context.Context, q ports.Query) ([]ports.Doc, error) {
	s := ShapeOf(q)
	r.mu.Lock()
	r.shapes[s.String()] = s
	r.mu.Unlock()
	return r.Documents.Query(ctx, q)
}

// Shapes returns the distinct shapes recorded, sorted by their String.
func (r *Recorder) Shapes() []Shape {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Shape, 0, len(r.shapes))
	for _, s := range r.shapes {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Shape) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Check compares issued shapes with Shapes: it returns one message per
// issued shape missing from Shapes, and per Shape needing a composite
// index that was never issued.
func Check(issued []Shape) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range issued {
		seen[s.String()] = true
		if !Registered(s) {
			out = append(out, fmt.Sprintf("query %s is not in firestoreindex.Shapes (add it; Terraform may need an index)", s))
		}
	}
	for _, s := range Shapes {
		if _, needs := Required(s); needs && !seen[s.String()] {
			out = append(out, fmt.Sprintf("firestoreindex.Shapes lists %s (needs an index) but no query issued it", s))
		}
	}
	return out
}
