// Package firestoredocs is the Google Cloud ports.Documents: documents in
// Cloud Firestore (native mode), through cloud.google.com/go/firestore.
//
// Documents go through JSON both ways so that the same Go struct (with its
// json tags) works here and on the embedded store: a value is encoded with
// encoding/json, decoded into a map (integral numbers as int64, others as
// float64) and stored as Firestore fields; reading reverses this. time.Time
// fields are therefore stored as RFC 3339 strings, not Firestore timestamps
// (timestamps written by other tools still decode into time.Time).
//
// Errors are classified with package errs: NotFound, AlreadyExists (Exists),
// Aborted (Conflict: contention that outlived MaxAttempts), Unavailable,
// DeadlineExceeded and ResourceExhausted (Unavailable), InvalidArgument
// (Invalid). Queries that need a composite index fail with Other until the
// index is deployed; the emulator needs none.
package firestoredocs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/errs/kinds"
	"github.com/lensflow/lensflow/shared/ports"
)

// DefaultMaxAttempts is how many times RunTransaction tries a transaction
// that keeps losing to contention before it returns errs.Conflict.
const DefaultMaxAttempts = 10

// Store is a ports.Documents on a Firestore client. It is safe for
// concurrent use.
type Store struct {
	client *firestore.Client
	// MaxAttempts bounds the tries of one RunTransaction (see DefaultMaxAttempts).
	MaxAttempts int
}

var _ ports.Documents = (*Store)(nil)

// New returns a Store on client. Close closes the client.
func New(client *firestore.Client) *Store {
	return &Store{client: client, MaxAttempts: DefaultMaxAttempts}
}

// Open connects to the default database of projectID. With
// FIRESTORE_EMULATOR_HOST set, the client library talks to that emulator.
func Open(ctx context.Context, projectID string, opts ...option.ClientOption) (*Store, error) {
	client, err := firestore.NewClient(ctx, projectID, opts...)
	if err != nil {
		return nil, errs.E("firestoredocs.Open", errs.Unavailable, err)
	}
	return New(client), nil
}

// Close closes the client.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return classify("firestoredocs.Close", err)
	}
	return nil
}

// Get decodes collection/id into dst.
func (s *Store) Get(ctx context.Context, collection, id string, dst any) error {
	const op = "firestoredocs.Get"
	if err := ports.CheckDocumentPath(op, collection, id); err != nil {
		return err
	}
	snap, err := s.client.Collection(collection).Doc(id).Get(ctx)
	if err != nil {
		return classify(op, err)
	}
	return decodeSnapshot(op, snap, dst)
}

// Query runs q and returns the matching documents in q's order: by
// q.OrderBy then document id, or by document id alone.
//
// Firestore cannot order by id alone when the query has a range filter (it
// orders by the filtered field first), nor scan ids in descending order on
// the emulator, and with a range filter on a field other than q.OrderBy it
// breaks ties by that field before the id. In those cases Query reads every
// match (no server-side Limit) and puts them in order itself, so prefer an
// OrderBy on the range field for large collections. q.After is then
// applied to the reordered results too; otherwise it becomes the query's
// StartAfter on (q.OrderBy, __name__), so the server reads only the page.
func (s *Store) Query(ctx context.Context, q ports.Query) ([]ports.Doc, error) {
	const op = "firestoredocs.Query"
	fq, fix, after, err := s.buildQuery(op, q)
	if err != nil {
		return nil, err
	}
	it := fq.Documents(ctx)
	defer it.Stop()
	var snaps []*firestore.DocumentSnapshot
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, classify(op, err)
		}
		snaps = append(snaps, snap)
	}
	if fix {
		snaps = reorder(snaps, q, after)
	}
	docs := make([]ports.Doc, len(snaps))
	for i, snap := range snaps {
		data, err := json.Marshal(snap.Data())
		if err != nil {
			return nil, errs.Ef(op, errs.Other, "encoding a document of collection %q as JSON: %w", q.Collection, err)
		}
		docs[i] = ports.Doc{ID: snap.Ref.ID, Data: data}
	}
	return docs, nil
}

// reorder puts server results in q's order and applies q.After (converted
// to after) and q.Limit, for the queries Firestore cannot order exactly (see
// Query).
func reorder(snaps []*firestore.DocumentSnapshot, q ports.Query, after any) []*firestore.DocumentSnapshot {
	byID := func(a, b *firestore.DocumentSnapshot) int {
		r := strings.Compare(a.Ref.ID, b.Ref.ID)
		if q.Desc {
			r = -r
		}
		return r
	}
	if q.OrderBy == "" {
		slices.SortFunc(snaps, byID)
	} else {
		// The server ordered by q.OrderBy; order each run of equal values by id.
		for i := 0; i < len(snaps); {
			j := i + 1
			vi, _ := snaps[i].DataAt(q.OrderBy)
			for j < len(snaps) {
				vj, _ := snaps[j].DataAt(q.OrderBy)
				if !reflect.DeepEqual(vi, vj) {
					break
				}
				j++
			}
			slices.SortFunc(snaps[i:j], byID)
			i = j
		}
	}
	if q.After != nil {
		snaps = slices.DeleteFunc(snaps, func(snap *firestore.DocumentSnapshot) bool {
			o := 0
			if q.OrderBy != "" {
				v, _ := snap.DataAt(q.OrderBy)
				o = compareScalars(v, after)
			}
			if o == 0 {
				o = strings.Compare(snap.Ref.ID, q.After.ID)
			}
			if q.Desc {
				o = -o
			}
			return o <= 0
		})
	}
	if q.Limit > 0 && len(snaps) > q.Limit {
		snaps = snaps[:q.Limit]
	}
	return snaps
}

// buildQuery translates q; fix reports that the results need reorder, and
// after is q.After's value as Firestore compares it.
func (s *Store) buildQuery(op string, q ports.Query) (fq firestore.Query, fix bool, after any, err error) {
	fq, fix, err = s.buildFilters(op, q)
	if err != nil || q.After == nil {
		return fq, fix, nil, err
	}
	if err := q.CheckAfter(op); err != nil {
		return fq, false, nil, err
	}
	if q.OrderBy == "" {
		if !fix {
			fq = fq.StartAfter(q.After.ID)
		}
		return fq, fix, nil, nil
	}
	v, ok := whereValue(q.After.Value)
	if !ok {
		return fq, false, nil, errs.Field(op, "after", "cursor value for field %q must be a string, bool or number, not %T", q.OrderBy, q.After.Value)
	}
	if !fix {
		dir := firestore.Asc
		if q.Desc {
			dir = firestore.Desc
		}
		// Spelled out so that StartAfter has both values to start after.
		fq = fq.OrderBy(firestore.DocumentID, dir).StartAfter(v, q.After.ID)
	}
	return fq, fix, v, nil
}

// compareScalars orders two Firestore values the way Firestore does for
// the types lensflow's cursors hold: by type (null, bool, number, string,
// anything else), then within the type. Hand-written because the client
// library does not export its comparator.
func compareScalars(a, b any) int {
	rank := func(v any) (int, float64) {
		switch x := v.(type) {
		case nil:
			return 0, 0
		case bool:
			if x {
				return 1, 1
			}
			return 1, 0
		case int64:
			return 2, float64(x)
		case float64:
			return 2, x
		case string:
			return 3, 0
		}
		return 4, 0
	}
	ra, fa := rank(a)
	rb, fb := rank(b)
	switch {
	case ra != rb:
		return cmp.Compare(ra, rb)
	case ra == 2:
		if x, ok := a.(int64); ok {
			if y, ok := b.(int64); ok {
				return cmp.Compare(x, y) // exact beyond 2^53
			}
		}
		return cmp.Compare(fa, fb)
	case ra == 3:
		return strings.Compare(a.(string), b.(string))
	}
	return cmp.Compare(fa, fb)
}

// buildFilters translates q without its cursor.
func (s *Store) buildFilters(op string, q ports.Query) (fq firestore.Query, fix bool, err error) {
	if err := ports.CheckDocumentName(q.Collection); err != nil {
		return fq, false, errs.Field(op, "collection", "%v", err)
	}
	if q.Limit < 0 {
		return fq, false, errs.Field(op, "limit", "must not be negative")
	}
	fq = s.client.Collection(q.Collection).Query
	rangeOnOther := false // a range filter on a field other than q.OrderBy
	for _, w := range q.Where {
		if w.Field == "" {
			return fq, false, errs.Field(op, "where", "empty field name")
		}
		switch w.Op {
		case "==":
		case "<", "<=", ">", ">=":
			rangeOnOther = rangeOnOther || w.Field != q.OrderBy
		default:
			return fq, false, errs.Field(op, "where", "unsupported operator %q (want ==, <, <=, > or >=)", w.Op)
		}
		v, ok := whereValue(w.Value)
		if !ok {
			return fq, false, errs.Field(op, "where", "value for field %q must be a string, bool or number, not %T", w.Field, w.Value)
		}
		// A FieldPath of one element: the name is a top-level field, never a dotted path.
		fq = fq.WherePath(firestore.FieldPath{w.Field}, w.Op, v)
	}
	dir := firestore.Asc
	if q.Desc {
		dir = firestore.Desc
	}
	switch {
	case q.OrderBy != "":
		// Firestore breaks ties by id in the same direction, unless a range
		// filter on another field comes first.
		fq = fq.OrderByPath(firestore.FieldPath{q.OrderBy}, dir)
		fix = rangeOnOther
	case !rangeOnOther && !q.Desc:
		fq = fq.OrderBy(firestore.DocumentID, firestore.Asc)
	default:
		fix = true
	}
	if q.Limit > 0 && !fix {
		fq = fq.Limit(q.Limit)
	}
	return fq, fix, nil
}

// whereValue converts a filter value to what Firestore compares with
// numbers as stored: int64 when integral, else float64.
func whereValue(v any) (any, bool) {
	switch x := v.(type) {
	case string, bool:
		return x, true
	case json.Number:
		return numberValue(x)
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil, false
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return float64(u), true
		}
		return int64(u), true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return f, true
	}
	return nil, false
}

// RunTransaction runs fn in a Firestore transaction, retrying it on
// contention up to MaxAttempts times.
func (s *Store) RunTransaction(ctx context.Context, fn func(ctx context.Context, tx ports.Tx) error) error {
	const op = "firestoredocs.RunTransaction"
	var fnErr error
	err := s.client.RunTransaction(ctx, func(ctx context.Context, ftx *firestore.Transaction) error {
		tx := &txn{s: s, ftx: ftx}
		err := fn(ctx, tx)
		tx.done = true
		if err == nil {
			err = tx.failed // even if fn ignored it
		}
		fnErr = err
		return err
	}, firestore.MaxAttempts(max(1, s.MaxAttempts)))
	switch {
	case err == nil:
		return nil
	case fnErr != nil && errors.Is(err, fnErr) && !isAborted(fnErr):
		return fnErr // fn's own error, kind and all
	}
	return classify(op, err)
}

func isAborted(err error) bool {
	return status.Code(err) == codes.Aborted
}

// txn is a ports.Tx over a Firestore transaction.
type txn struct {
	s      *Store
	ftx    *firestore.Transaction
	wrote  bool
	failed error // sticky: fails the transaction even if fn ignores it
	done   bool
}

func (t *txn) fail(err error) error {
	if t.failed == nil {
		t.failed = err
	}
	return err
}

func (t *txn) ref(op, collection, id string) (*firestore.DocumentRef, error) {
	if t.done {
		return nil, errs.Ef(op, errs.Invalid, "transaction used after its function returned")
	}
	if err := ports.CheckDocumentPath(op, collection, id); err != nil {
		return nil, t.fail(err)
	}
	return t.s.client.Collection(collection).Doc(id), nil
}

// Get decodes collection/id into dst. It must come before any write.
func (t *txn) Get(collection, id string, dst any) error {
	const op = "firestoredocs.Tx.Get"
	ref, err := t.ref(op, collection, id)
	if err != nil {
		return err
	}
	if t.wrote {
		return t.fail(errs.Ef(op, errs.Invalid, "read after write in transaction: all reads must come before the first write (Firestore rule)"))
	}
	snap, err := t.ftx.Get(ref)
	if err != nil {
		return classify(op, err) // keeps Aborted visible to the retry loop
	}
	return decodeSnapshot(op, snap, dst)
}

// Create adds a create of collection/id; the commit fails with errs.Exists
// if the document exists.
func (t *txn) Create(collection, id string, v any) error {
	const op = "firestoredocs.Tx.Create"
	ref, fields, err := t.prepareWrite(op, collection, id, v)
	if err != nil {
		return err
	}
	if err := t.ftx.Create(ref, fields); err != nil {
		return t.fail(classify(op, err))
	}
	return nil
}

// Set adds a create-or-replace of collection/id.
func (t *txn) Set(collection, id string, v any) error {
	const op = "firestoredocs.Tx.Set"
	ref, fields, err := t.prepareWrite(op, collection, id, v)
	if err != nil {
		return err
	}
	if err := t.ftx.Set(ref, fields); err != nil {
		return t.fail(classify(op, err))
	}
	return nil
}

// Delete adds a delete of collection/id (absent is fine).
func (t *txn) Delete(collection, id string) error {
	const op = "firestoredocs.Tx.Delete"
	ref, err := t.ref(op, collection, id)
	if err != nil {
		return err
	}
	t.wrote = true
	if err := t.ftx.Delete(ref); err != nil {
		return t.fail(classify(op, err))
	}
	return nil
}

func (t *txn) prepareWrite(op, collection, id string, v any) (*firestore.DocumentRef, map[string]any, error) {
	ref, err := t.ref(op, collection, id)
	if err != nil {
		return nil, nil, err
	}
	fields, err := encode(op, v)
	if err != nil {
		return nil, nil, t.fail(err)
	}
	t.wrote = true
	return ref, fields, nil
}

// encode turns v into Firestore fields through its JSON encoding.
func encode(op string, v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, errs.Ef(op, errs.Invalid, "encoding document: %w", err)
	}
	if len(data) == 0 || data[0] != '{' {
		return nil, errs.Ef(op, errs.Invalid, "document must encode to a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errs.Ef(op, errs.Invalid, "decoding document JSON: %w", err)
	}
	for k, v := range m {
		fv, err := fieldValue(v, false)
		if err != nil {
			return nil, errs.Field(op, k, "%v", err)
		}
		m[k] = fv
	}
	return m, nil
}

// fieldValue converts a decoded JSON value to a Firestore value: numbers to
// int64 when integral and in range, else float64.
func fieldValue(v any, inArray bool) (any, error) {
	switch x := v.(type) {
	case json.Number:
		n, ok := numberValue(x)
		if !ok {
			return nil, fmt.Errorf("number out of range")
		}
		return n, nil
	case []any:
		if inArray {
			return nil, errors.New("an array directly inside an array is not supported by Firestore")
		}
		for i := range x {
			fv, err := fieldValue(x[i], true)
			if err != nil {
				return nil, err
			}
			x[i] = fv
		}
		return x, nil
	case map[string]any:
		for k := range x {
			fv, err := fieldValue(x[k], false)
			if err != nil {
				return nil, err
			}
			x[k] = fv
		}
		return x, nil
	}
	return v, nil
}

// numberValue returns n as int64 if it is an integer in range, else float64.
func numberValue(n json.Number) (any, bool) {
	if !strings.ContainsAny(n.String(), ".eE") {
		if i, err := n.Int64(); err == nil {
			return i, true
		}
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return int64(f), true
	}
	return f, true
}

func decodeSnapshot(op string, snap *firestore.DocumentSnapshot, dst any) error {
	// snap.Data holds int64, float64, string, bool, nil, time.Time, []byte,
	// []any and map[string]any: all marshal to JSON that decodes back into
	// the caller's struct.
	data, err := json.Marshal(snap.Data())
	if err != nil {
		return errs.Ef(op, errs.Other, "encoding document as JSON: %w", err)
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return errs.Ef(op, errs.Other, "decoding document of collection %q: %w", snap.Ref.Parent.ID, err)
	}
	return nil
}

// classify maps a Firestore (gRPC) error to an errs kind, by lensflow's one
// table (package kinds): Aborted contention is Conflict, a missing index
// (FailedPrecondition) or a refused service account is internal.
func classify(op string, err error) error {
	return errs.E(op, kinds.Of(err), err)
}
