// Package docstest is the conformance suite for ports.Documents. Every
// Documents adapter runs it from its own tests, so the embedded store and the
// Firestore adapter are held to the same semantics:
//
//	func TestConformance(t *testing.T) {
//		docstest.Run(t, func(t *testing.T) ports.Documents { return openFresh(t) })
//	}
//
// open must return an empty store (or one whose collections no other test
// uses) and arrange for it to be closed, e.g. with t.Cleanup.
package docstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// inner is nested in record to check that nested objects round-trip.
type inner struct {
	Label  string    `json:"label"`
	PowerD float64   `json:"powerD"`
	Tags   []string  `json:"tags"`
	When   time.Time `json:"when"`
}

// record is the document type the suite stores: one field of every JSON
// shape lensflow uses.
type record struct {
	Name      string            `json:"name"`
	Count     int               `json:"count"`
	Big       int64             `json:"big"`
	Ratio     float64           `json:"ratio"`
	Whole     float64           `json:"whole"` // a float that happens to be integral
	OK        bool              `json:"ok"`
	At        time.Time         `json:"at"`
	Inner     inner             `json:"inner"`
	Items     []inner           `json:"items"`
	Ints      []int             `json:"ints"`
	Attrs     map[string]string `json:"attrs"`
	Ptr       *inner            `json:"ptr"`
	Omit      string            `json:"omit,omitempty"`
	Unicode   string            `json:"unicode"`
	Empty     []string          `json:"empty"`
	NilSlice  []string          `json:"nilSlice"`
	NegCount  int               `json:"negCount"`
	SmallFrac float64           `json:"smallFrac"`
}

func sampleRecord() record {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	return record{
		Name:  "r1",
		Count: 42,
		Big:   9007199254740993, // 2^53+1: not exact as a float64
		Ratio: 0.1,
		Whole: 3,
		OK:    true,
		At:    at,
		Inner: inner{Label: "in", PowerD: -3.25, Tags: []string{"a", "b"}, When: at.Add(time.Hour)},
		Items: []inner{
			{Label: "x", PowerD: 1, Tags: []string{}, When: at},
			{Label: "y", PowerD: 2.5, Tags: []string{"t"}, When: at.Add(-time.Minute)},
		},
		Ints:      []int{3, 1, 2},
		Attrs:     map[string]string{"k": "v", "z": ""},
		Unicode:   "Grüße, 世界 \u00e9\"\\",
		Empty:     []string{},
		NegCount:  -7,
		SmallFrac: 1e-9,
	}
}

// Run runs the conformance suite. open is called once per subtest and must
// return a store in which the suite's collections are empty.
func Run(t *testing.T, open func(t *testing.T) ports.Documents) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ports.Documents)
	}{
		{"GetMissing", testGetMissing},
		{"RoundTrip", testRoundTrip},
		{"InvalidValues", testInvalidValues},
		{"InvalidNames", testInvalidNames},
		{"CreateExisting", testCreateExisting},
		{"CreateExistingIgnored", testCreateExistingIgnored},
		{"SetReplaces", testSetReplaces},
		{"Delete", testDelete},
		{"FnErrorWritesNothing", testFnErrorWritesNothing},
		{"Isolation", testIsolation},
		{"ReadAfterWrite", testReadAfterWrite},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"Query", testQuery},
		{"QueryInvalid", testQueryInvalid},
		{"QueryDecode", testQueryDecode},
		{"Paging", testPaging},
		{"PagingInvalid", testPagingInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantKind fails t unless err is classified as kind.
func wantKind(t *testing.T, what string, err error, kind errs.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got nil error, want %v", what, kind)
	}
	if got := errs.KindOf(err); got != kind {
		t.Fatalf("%s: got kind %v (%v), want %v", what, got, err, kind)
	}
}

func mustSet(t *testing.T, s ports.Documents, collection, id string, v any) {
	t.Helper()
	err := s.RunTransaction(ctxFor(t), func(ctx context.Context, tx ports.Tx) error {
		return tx.Set(collection, id, v)
	})
	if err != nil {
		t.Fatalf("Set %s/%s: %v", collection, id, err)
	}
}

func testGetMissing(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	var r record
	wantKind(t, "Get in unknown collection", s.Get(ctx, "never", "nope", &r), errs.NotFound)
	mustSet(t, s, "things", "a", map[string]any{"x": 1})
	wantKind(t, "Get missing id", s.Get(ctx, "things", "nope", &r), errs.NotFound)
	err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Get("things", "nope", &r)
	})
	wantKind(t, "Tx.Get missing id", err, errs.NotFound)
}

func testRoundTrip(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	want := sampleRecord()
	err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Create("records", "r1", want)
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	var got record
	if err := s.Get(ctx, "records", "r1", &got); err != nil {
		t.Fatalf("Get: %v", err)
	}
	compareRecords(t, "Get", got, want)

	// The same through a transaction, and with a pointer value.
	var inTx record
	err = s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Get("records", "r1", &inTx)
	})
	if err != nil {
		t.Fatalf("Tx.Get: %v", err)
	}
	compareRecords(t, "Tx.Get", inTx, want)

	mustSet(t, s, "records", "r2", &want)
	var viaPtr record
	if err := s.Get(ctx, "records", "r2", &viaPtr); err != nil {
		t.Fatalf("Get r2: %v", err)
	}
	compareRecords(t, "Set(&v)", viaPtr, want)

	// A generic map decode sees the JSON field names, and integers stay exact.
	var m map[string]any
	if err := s.Get(ctx, "records", "r1", &m); err != nil {
		t.Fatalf("Get map: %v", err)
	}
	if _, ok := m["omit"]; ok {
		t.Errorf("omitempty field stored: %v", m["omit"])
	}
	var raw map[string]json.RawMessage
	if err := s.Get(ctx, "records", "r1", &raw); err != nil {
		t.Fatalf("Get raw: %v", err)
	}
	if string(raw["big"]) != "9007199254740993" {
		t.Errorf("big = %s, want 9007199254740993 exactly", raw["big"])
	}
	if string(raw["count"]) != "42" {
		t.Errorf("count = %s, want 42", raw["count"])
	}
}

func compareRecords(t *testing.T, what string, got, want record) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("%s: round trip mismatch\ngot:  %s\nwant: %s", what, g, w)
	}
}

func testInvalidValues(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	var nilRecord *record
	tests := []struct {
		name string
		v    any
	}{
		{"number", 5},
		{"string", "text"},
		{"slice", []int{1, 2}},
		{"nil", nil},
		{"nil pointer", nilRecord},
		{"unencodable", map[string]any{"ch": make(chan int)}},
		{"array in array", map[string]any{"grid": [][]int{{1, 2}, {3}}}},
		{"array in array in object", map[string]any{"o": map[string]any{"grid": []any{1, []int{2}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, op := range []string{"Create", "Set"} {
				err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
					if op == "Create" {
						return tx.Create("bad", "x", tt.v)
					}
					return tx.Set("bad", "x", tt.v)
				})
				wantKind(t, op, err, errs.Invalid)
			}
			var m map[string]any
			wantKind(t, "Get after invalid writes", s.Get(ctx, "bad", "x", &m), errs.NotFound)
		})
	}
}

func testInvalidNames(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	tests := []struct{ name, collection, id string }{
		{"empty id", "c", ""},
		{"empty collection", "", "x"},
		{"slash in id", "c", "a/b"},
		{"slash in collection", "a/b", "x"},
		{"dot id", "c", "."},
		{"dotdot id", "c", ".."},
		{"reserved id", "c", "__x__"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			wantKind(t, "Get", s.Get(ctx, tt.collection, tt.id, &m), errs.Invalid)
			err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
				return tx.Set(tt.collection, tt.id, map[string]any{"a": 1})
			})
			wantKind(t, "Set", err, errs.Invalid)
		})
	}
}

func testCreateExisting(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	mustSet(t, s, "orders", "a", map[string]any{"v": "original"})
	err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		if err := tx.Create("orders", "b", map[string]any{"v": "b"}); err != nil {
			return err
		}
		if err := tx.Set("other", "c", map[string]any{"v": "c"}); err != nil {
			return err
		}
		return tx.Create("orders", "a", map[string]any{"v": "overwritten"})
	})
	wantKind(t, "Create on existing", err, errs.Exists)
	assertNoWrites(t, s)
}

// testCreateExistingIgnored checks that a Create conflict fails the whole
// transaction even when fn ignores the error (Firestore reports it at commit).
func testCreateExistingIgnored(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	mustSet(t, s, "orders", "a", map[string]any{"v": "original"})
	err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		if err := tx.Create("orders", "b", map[string]any{"v": "b"}); err != nil {
			return err
		}
		if err := tx.Set("other", "c", map[string]any{"v": "c"}); err != nil {
			return err
		}
		_ = tx.Create("orders", "a", map[string]any{"v": "overwritten"})
		return nil
	})
	wantKind(t, "Create on existing, error ignored", err, errs.Exists)
	assertNoWrites(t, s)
}

func assertNoWrites(t *testing.T, s ports.Documents) {
	t.Helper()
	ctx := ctxFor(t)
	var m map[string]any
	if err := s.Get(ctx, "orders", "a", &m); err != nil || m["v"] != "original" {
		t.Fatalf("orders/a = %v, %v; want unchanged", m, err)
	}
	wantKind(t, "orders/b after failed tx", s.Get(ctx, "orders", "b", &m), errs.NotFound)
	wantKind(t, "other/c after failed tx", s.Get(ctx, "other", "c", &m), errs.NotFound)
}

func testSetReplaces(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	mustSet(t, s, "c", "d", map[string]any{"a": 1, "b": "two", "n": map[string]any{"x": 1, "y": 2}})
	mustSet(t, s, "c", "d", map[string]any{"a": 3, "n": map[string]any{"y": 5}})
	var got map[string]any
	if err := s.Get(ctx, "c", "d", &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": 3.0, "n": map[string]any{"y": 5.0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after replace: got %v, want %v", got, want)
	}
}

func testDelete(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	mustSet(t, s, "c", "d", map[string]any{"a": 1})
	mustSet(t, s, "c", "keep", map[string]any{"a": 2})
	del := func(collection, id string) error {
		return s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
			return tx.Delete(collection, id)
		})
	}
	tests := []struct{ name, collection, id string }{
		{"existing", "c", "d"},
		{"already deleted", "c", "d"},
		{"never existed", "c", "nope"},
		{"unknown collection", "nocoll", "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := del(tt.collection, tt.id); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			var m map[string]any
			wantKind(t, "Get after Delete", s.Get(ctx, tt.collection, tt.id, &m), errs.NotFound)
		})
	}
	var m map[string]any
	if err := s.Get(ctx, "c", "keep", &m); err != nil {
		t.Fatalf("other document lost: %v", err)
	}
	// Delete then re-create in one later transaction.
	err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Create("c", "d", map[string]any{"a": 9})
	})
	if err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
}

var errSentinel = errors.New("docstest: fn failed on purpose")

func testFnErrorWritesNothing(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	mustSet(t, s, "c", "existing", map[string]any{"v": 1})
	calls := 0
	err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		calls++
		var m map[string]any
		if err := tx.Get("c", "existing", &m); err != nil {
			return err
		}
		if err := tx.Set("c", "existing", map[string]any{"v": 2}); err != nil {
			return err
		}
		if err := tx.Create("c", "new", map[string]any{"v": 3}); err != nil {
			return err
		}
		if err := tx.Delete("c", "existing"); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errSentinel)
	})
	if !errors.Is(err, errSentinel) {
		t.Fatalf("RunTransaction = %v, want fn's error", err)
	}
	if calls < 1 {
		t.Fatalf("fn called %d times", calls)
	}
	var m map[string]any
	if err := s.Get(ctx, "c", "existing", &m); err != nil || m["v"] != 1.0 {
		t.Fatalf("c/existing = %v, %v; want unchanged", m, err)
	}
	wantKind(t, "c/new", s.Get(ctx, "c", "new", &m), errs.NotFound)

	// An error of a known kind keeps its kind.
	err = s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return errs.E("docstest.fn", errs.Permission, nil)
	})
	wantKind(t, "fn's classified error", err, errs.Permission)
}

func testIsolation(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	mustSet(t, s, "c", "seen", map[string]any{"v": 1})
	err := s.RunTransaction(ctx, func(txCtx context.Context, tx ports.Tx) error {
		if err := tx.Set("c", "fresh", map[string]any{"v": 1}); err != nil {
			return err
		}
		if err := tx.Set("c", "seen", map[string]any{"v": 2}); err != nil {
			return err
		}
		// Outside the transaction, nothing is visible yet.
		var m map[string]any
		if err := s.Get(ctx, "c", "fresh", &m); !errs.Is(errs.NotFound, err) {
			return fmt.Errorf("uncommitted create visible outside the transaction: %v %v", m, err)
		}
		if err := s.Get(ctx, "c", "seen", &m); err != nil || m["v"] != 1.0 {
			return fmt.Errorf("uncommitted set visible outside the transaction: %v %v", m, err)
		}
		docs, err := s.Query(ctx, ports.Query{Collection: "c"})
		if err != nil {
			return err
		}
		if len(docs) != 1 {
			return fmt.Errorf("query outside the transaction saw %d documents, want 1", len(docs))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := s.Get(ctx, "c", "fresh", &m); err != nil {
		t.Fatalf("after commit: %v", err)
	}
	if err := s.Get(ctx, "c", "seen", &m); err != nil || m["v"] != 2.0 {
		t.Fatalf("after commit c/seen = %v, %v", m, err)
	}
}

func testReadAfterWrite(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	mustSet(t, s, "c", "a", map[string]any{"v": 1})
	var getErr error
	err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		if err := tx.Set("c", "b", map[string]any{"v": 2}); err != nil {
			return err
		}
		var m map[string]any
		getErr = tx.Get("c", "a", &m)
		return nil // ignore it: the transaction must fail anyway
	})
	wantKind(t, "Tx.Get after a write", getErr, errs.Invalid)
	wantKind(t, "RunTransaction with a read after a write", err, errs.Invalid)
	var m map[string]any
	wantKind(t, "c/b", s.Get(ctx, "c", "b", &m), errs.NotFound)
}

type counter struct {
	N int `json:"n"`
}

func testConcurrentIncrements(t *testing.T, s ports.Documents) {
	// Contention is the point, speed is not: Firestore's client backs off
	// 1 s, 2 s, 4 s... between contended attempts, so the worker count is
	// kept modest and the deadline generous for a loaded CI machine.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	mustSet(t, s, "counters", "c", counter{})
	const workers, each = 8, 6
	var wg sync.WaitGroup
	errc := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
					var c counter
					if err := tx.Get("counters", "c", &c); err != nil {
						return err
					}
					c.N++
					return tx.Set("counters", "c", c)
				})
				if err != nil {
					errc <- err
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("increment: %v", err)
	}
	var c counter
	if err := s.Get(ctx, "counters", "c", &c); err != nil {
		t.Fatal(err)
	}
	if c.N != workers*each {
		t.Fatalf("counter = %d, want %d", c.N, workers*each)
	}
}

// lens is the query fixture.
type lens struct {
	Name  string  `json:"name"`
	N     int     `json:"n"`
	F     float64 `json:"f"`
	OK    bool    `json:"ok"`
	Rank  int     `json:"rank"` // decreases as the id increases
	Mixed any     `json:"mixed,omitempty"`
}

func seedQuery(t *testing.T, s ports.Documents) {
	t.Helper()
	docs := map[string]lens{
		"a": {Rank: 5, Name: "alpha", N: 1, F: 0.5, OK: true, Mixed: 1},
		"b": {Rank: 4, Name: "bravo", N: 2, F: 1.5, OK: false, Mixed: "1"},
		"c": {Rank: 3, Name: "charlie", N: 3, F: 2.5, OK: true, Mixed: 3.5},
		"d": {Rank: 2, Name: "delta", N: 4, F: 3.5, OK: false},
		"e": {Rank: 1, Name: "echo", N: 5, F: 4.5, OK: true, Mixed: true},
	}
	err := s.RunTransaction(ctxFor(t), func(ctx context.Context, tx ports.Tx) error {
		for id, d := range docs {
			if err := tx.Set("lenses", id, d); err != nil {
				return err
			}
		}
		return tx.Set("unrelated", "z", lens{Name: "alpha", N: 1})
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

func ids(docs []ports.Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

func testQuery(t *testing.T, s ports.Documents) {
	seedQuery(t, s)
	w := func(field, op string, v any) ports.Where { return ports.Where{Field: field, Op: op, Value: v} }
	tests := []struct {
		name      string
		q         ports.Query
		want      []string
		unordered bool // only the set matters
	}{
		{"all by id", ports.Query{}, []string{"a", "b", "c", "d", "e"}, false},
		{"all by id desc", ports.Query{Desc: true}, []string{"e", "d", "c", "b", "a"}, false},
		{"limit", ports.Query{Limit: 2}, []string{"a", "b"}, false},
		{"== string", ports.Query{Where: []ports.Where{w("name", "==", "charlie")}}, []string{"c"}, false},
		{"== int", ports.Query{Where: []ports.Where{w("n", "==", 4)}}, []string{"d"}, false},
		{"== int64", ports.Query{Where: []ports.Where{w("n", "==", int64(4))}}, []string{"d"}, false},
		{"== float matches int", ports.Query{Where: []ports.Where{w("n", "==", 4.0)}}, []string{"d"}, false},
		{"== bool", ports.Query{Where: []ports.Where{w("ok", "==", true)}}, []string{"a", "c", "e"}, false},
		{"< int", ports.Query{Where: []ports.Where{w("n", "<", 3)}}, []string{"a", "b"}, false},
		{"<= int", ports.Query{Where: []ports.Where{w("n", "<=", 3)}}, []string{"a", "b", "c"}, false},
		{"> int", ports.Query{Where: []ports.Where{w("n", ">", 3)}}, []string{"d", "e"}, false},
		{">= int", ports.Query{Where: []ports.Where{w("n", ">=", 3)}}, []string{"c", "d", "e"}, false},
		{">= int on floats", ports.Query{Where: []ports.Where{w("f", ">=", 2)}}, []string{"c", "d", "e"}, false},
		{"< string", ports.Query{Where: []ports.Where{w("name", "<", "c")}}, []string{"a", "b"}, false},
		{"range and equality", ports.Query{Where: []ports.Where{w("n", ">=", 2), w("ok", "==", true)}}, []string{"c", "e"}, false},
		{"two ranges on one field", ports.Query{Where: []ports.Where{w("n", ">", 1), w("n", "<", 4)}}, []string{"b", "c"}, false},
		{"order asc", ports.Query{OrderBy: "f"}, []string{"a", "b", "c", "d", "e"}, false},
		{"order desc", ports.Query{OrderBy: "n", Desc: true}, []string{"e", "d", "c", "b", "a"}, false},
		{"order desc limit", ports.Query{OrderBy: "n", Desc: true, Limit: 2}, []string{"e", "d"}, false},
		{"filter order limit", ports.Query{Where: []ports.Where{w("n", ">=", 2)}, OrderBy: "n", Desc: true, Limit: 2}, []string{"e", "d"}, false},
		{"order by string", ports.Query{OrderBy: "name", Desc: true}, []string{"e", "d", "c", "b", "a"}, false},
		{"type mismatch string vs int", ports.Query{Where: []ports.Where{w("n", "==", "3")}}, nil, false},
		{"type mismatch int vs string", ports.Query{Where: []ports.Where{w("name", ">", 0)}}, nil, false},
		{"type mismatch bool vs int", ports.Query{Where: []ports.Where{w("ok", "==", 1)}}, nil, false},
		{"mixed field: numbers only", ports.Query{Where: []ports.Where{w("mixed", ">", 0)}}, []string{"a", "c"}, true},
		{"mixed field: strings only", ports.Query{Where: []ports.Where{w("mixed", ">=", "")}}, []string{"b"}, false},
		{"missing field never matches", ports.Query{Where: []ports.Where{w("nosuch", "==", 1)}}, nil, false},
		{"range keeps id order", ports.Query{Where: []ports.Where{w("rank", "<", 4)}}, []string{"c", "d", "e"}, false},
		{"range keeps id order, limit", ports.Query{Where: []ports.Where{w("rank", "<", 4)}, Limit: 2}, []string{"c", "d"}, false},
		{"range keeps id order, desc", ports.Query{Where: []ports.Where{w("rank", "<", 4)}, Desc: true}, []string{"e", "d", "c"}, false},
		{"order by other field than range", ports.Query{Where: []ports.Where{w("rank", "<", 4)}, OrderBy: "name", Desc: true}, []string{"e", "d", "c"}, false},
		{"no match", ports.Query{Where: []ports.Where{w("n", ">", 100)}}, nil, false},
	}
	ctx := ctxFor(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			q.Collection = "lenses"
			docs, err := s.Query(ctx, q)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			got := ids(docs)
			want := tt.want
			if tt.unordered {
				sort.Strings(got)
				want = append([]string(nil), want...)
				sort.Strings(want)
			}
			if len(got) == 0 && len(want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ids = %v, want %v", got, want)
			}
		})
	}
	t.Run("unknown collection", func(t *testing.T) {
		docs, err := s.Query(ctx, ports.Query{Collection: "nothing-here"})
		if err != nil || len(docs) != 0 {
			t.Fatalf("Query = %v, %v; want empty", ids(docs), err)
		}
	})
}

func testQueryInvalid(t *testing.T, s ports.Documents) {
	seedQuery(t, s)
	ctx := ctxFor(t)
	tests := []struct {
		name string
		q    ports.Query
	}{
		{"bad op", ports.Query{Collection: "lenses", Where: []ports.Where{{Field: "n", Op: "!=", Value: 1}}}},
		{"empty field", ports.Query{Collection: "lenses", Where: []ports.Where{{Field: "", Op: "==", Value: 1}}}},
		{"nil value", ports.Query{Collection: "lenses", Where: []ports.Where{{Field: "n", Op: "==", Value: nil}}}},
		{"struct value", ports.Query{Collection: "lenses", Where: []ports.Where{{Field: "n", Op: "==", Value: struct{}{}}}}},
		{"negative limit", ports.Query{Collection: "lenses", Limit: -1}},
		{"empty collection", ports.Query{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Query(ctx, tt.q)
			wantKind(t, "Query", err, errs.Invalid)
		})
	}
}

func testQueryDecode(t *testing.T, s ports.Documents) {
	ctx := ctxFor(t)
	want := sampleRecord()
	mustSet(t, s, "records", "r1", want)
	docs, err := s.Query(ctx, ports.Query{Collection: "records", Where: []ports.Where{{Field: "big", Op: "==", Value: int64(9007199254740993)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].ID != "r1" {
		t.Fatalf("query by exact int64: got %v, want [r1]", ids(docs))
	}
	var got record
	if err := docs[0].Decode(&got); err != nil {
		t.Fatal(err)
	}
	compareRecords(t, "Doc.Decode", got, want)
}

// pageDoc is the paging fixture: many ties on group, a filter field and a
// numeric field with ties.
type pageDoc struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	N     int    `json:"n"`
}

// seedPaging stores 23 documents whose ids do not follow their field
// order, with runs of equal group and n values.
func seedPaging(t *testing.T, s ports.Documents) map[string]pageDoc {
	t.Helper()
	docs := map[string]pageDoc{}
	for i := range 23 {
		id := fmt.Sprintf("p%02d", (i*7)%23) // ids in a shuffled order
		docs[id] = pageDoc{Group: fmt.Sprintf("g%d", i%4), Kind: []string{"x", "y"}[i%2], N: i / 5}
	}
	err := s.RunTransaction(ctxFor(t), func(ctx context.Context, tx ports.Tx) error {
		for id, d := range docs {
			if err := tx.Set("pages", id, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return docs
}

// pageAll pages through q with pages of size, following each page's last
// document's cursor, and returns the ids in the order received.
func pageAll(t *testing.T, s ports.Documents, q ports.Query, size int) []string {
	t.Helper()
	ctx := ctxFor(t)
	q.Limit = size
	var out []string
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatalf("paging does not end: %v", out)
		}
		docs, err := s.Query(ctx, q)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(docs) > size {
			t.Fatalf("page %d has %d documents, limit %d", page, len(docs), size)
		}
		out = append(out, ids(docs)...)
		if len(docs) < size {
			return out
		}
		c, err := ports.CursorOf(docs[len(docs)-1], q.OrderBy)
		if err != nil {
			t.Fatalf("CursorOf: %v", err)
		}
		q.After = &c
	}
}

// expected sorts the fixture's matching ids as Firestore orders them.
func expected(docs map[string]pageDoc, keep func(pageDoc) bool, key func(pageDoc) string, desc bool) []string {
	var out []string
	for id, d := range docs {
		if keep == nil || keep(d) {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if key != nil && key(docs[a]) != key(docs[b]) {
			return (key(docs[a]) < key(docs[b])) != desc
		}
		return (a < b) != desc
	})
	return out
}

func testPaging(t *testing.T, s ports.Documents) {
	docs := seedPaging(t, s)
	group := func(d pageDoc) string { return d.Group }
	num := func(d pageDoc) string { return fmt.Sprintf("%03d", d.N) }
	isX := func(d pageDoc) bool { return d.Kind == "x" }
	nAtLeast2 := func(d pageDoc) bool { return d.N >= 2 }
	eqX := []ports.Where{{Field: "kind", Op: "==", Value: "x"}}
	tests := []struct {
		name string
		q    ports.Query
		want []string
	}{
		{"by id", ports.Query{}, expected(docs, nil, nil, false)},
		{"by id desc", ports.Query{Desc: true}, expected(docs, nil, nil, true)},
		{"by id, filtered", ports.Query{Where: eqX}, expected(docs, isX, nil, false)},
		{"string ties asc", ports.Query{OrderBy: "group"}, expected(docs, nil, group, false)},
		{"string ties desc", ports.Query{OrderBy: "group", Desc: true}, expected(docs, nil, group, true)},
		{"number ties asc", ports.Query{OrderBy: "n"}, expected(docs, nil, num, false)},
		{"number ties desc", ports.Query{OrderBy: "n", Desc: true}, expected(docs, nil, num, true)},
		{"filtered, ties asc", ports.Query{Where: eqX, OrderBy: "group"}, expected(docs, isX, group, false)},
		{"filtered, ties desc", ports.Query{Where: eqX, OrderBy: "n", Desc: true}, expected(docs, isX, num, true)},
		{"range on the order field", ports.Query{Where: []ports.Where{{Field: "n", Op: ">=", Value: 2}}, OrderBy: "n", Desc: true},
			expected(docs, nAtLeast2, num, true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Collection = "pages"
			for _, size := range []int{1, 4, 23} {
				got := pageAll(t, s, tt.q, size)
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("pages of %d: ids = %v, want %v", size, got, tt.want)
				}
			}
			// One query without a limit gives the same order.
			all, err := s.Query(ctxFor(t), ports.Query{Collection: "pages", Where: tt.q.Where, OrderBy: tt.q.OrderBy, Desc: tt.q.Desc})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(all); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("unpaged ids = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("cursor of a deleted document", func(t *testing.T) {
		// A cursor is a position, not a document: paging goes on after the
		// document it came from is gone (the outbox deletes as it pages).
		ctx := ctxFor(t)
		q := ports.Query{Collection: "pages", OrderBy: "group", Limit: 3}
		first, err := s.Query(ctx, q)
		if err != nil || len(first) != 3 {
			t.Fatalf("first page: %v, %v", ids(first), err)
		}
		c, err := ports.CursorOf(first[2], "group")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
			return tx.Delete("pages", first[2].ID)
		}); err != nil {
			t.Fatal(err)
		}
		q.After = &c
		next, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := expected(docs, nil, group, false)[3:6]
		if got := ids(next); !reflect.DeepEqual(got, want) {
			t.Fatalf("after a deleted cursor document: %v, want %v", got, want)
		}
	})
}

func testPagingInvalid(t *testing.T, s ports.Documents) {
	seedPaging(t, s)
	ctx := ctxFor(t)
	tests := []struct {
		name string
		q    ports.Query
	}{
		{"no id", ports.Query{Collection: "pages", OrderBy: "n", After: &ports.Cursor{Value: 1}}},
		{"value on an id order", ports.Query{Collection: "pages", After: &ports.Cursor{Value: 1, ID: "p01"}}},
		{"struct value", ports.Query{Collection: "pages", OrderBy: "n", After: &ports.Cursor{Value: struct{}{}, ID: "p01"}}},
		{"nil value on a field order", ports.Query{Collection: "pages", OrderBy: "n", After: &ports.Cursor{ID: "p01"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Query(ctx, tt.q)
			wantKind(t, "Query", err, errs.Invalid)
		})
	}
	if _, err := ports.CursorOf(ports.Doc{ID: "x", Data: json.RawMessage(`{"a":1}`)}, "b"); !errs.Is(errs.Invalid, err) {
		t.Fatalf("CursorOf a document without the field: %v, want Invalid", err)
	}
}
