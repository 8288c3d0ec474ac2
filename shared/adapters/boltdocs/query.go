package boltdocs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// compiled is a validated query.
type compiled struct {
	where   []term
	orderBy string
	desc    bool
	limit   int
	after   *cursor
}

// cursor is a validated ports.Cursor (value normalized like a filter's).
type cursor struct {
	value any
	id    string
}

type term struct {
	field string
	op    string
	value any // normalized: string, bool, *big.Float (numbers)
}

var validOps = map[string]bool{"==": true, "<": true, "<=": true, ">": true, ">=": true}

func compileQuery(op string, q ports.Query) (*compiled, error) {
	if err := ports.CheckDocumentName(q.Collection); err != nil {
		return nil, errs.Field(op, "collection", "%v", err)
	}
	if q.Limit < 0 {
		return nil, errs.Field(op, "limit", "must not be negative")
	}
	c := &compiled{orderBy: q.OrderBy, desc: q.Desc, limit: q.Limit}
	for _, w := range q.Where {
		if w.Field == "" {
			return nil, errs.Field(op, "where", "empty field name")
		}
		if !validOps[w.Op] {
			return nil, errs.Field(op, "where", "unsupported operator %q (want ==, <, <=, > or >=)", w.Op)
		}
		v, ok := normalizeWhere(w.Value)
		if !ok {
			return nil, errs.Field(op, "where", "value for field %q must be a string, bool or number, not %T", w.Field, w.Value)
		}
		c.where = append(c.where, term{field: w.Field, op: w.Op, value: v})
	}
	if q.After != nil {
		cur, err := compileCursor(op, q)
		if err != nil {
			return nil, err
		}
		c.after = cur
	}
	return c, nil
}

// compileCursor checks q.After against q's order.
func compileCursor(op string, q ports.Query) (*cursor, error) {
	if err := q.CheckAfter(op); err != nil {
		return nil, err
	}
	if q.OrderBy == "" {
		return &cursor{id: q.After.ID}, nil
	}
	v, ok := normalizeWhere(q.After.Value)
	if !ok {
		return nil, errs.Field(op, "after", "cursor value for field %q must be a string, bool or number, not %T", q.OrderBy, q.After.Value)
	}
	return &cursor{value: v, id: q.After.ID}, nil
}

// past reports whether r comes strictly after the cursor in c's order.
func (c *compiled) past(r row) bool {
	o := 0
	if c.orderBy != "" {
		o = compareValues(r.fields[c.orderBy], c.after.value)
	}
	if o == 0 {
		o = strings.Compare(r.id, c.after.id)
	}
	if c.desc {
		o = -o
	}
	return o > 0
}

// normalizeWhere converts a filter value to the representation decoded
// documents use: string, bool, or *big.Float for numbers.
func normalizeWhere(v any) (any, bool) {
	switch x := v.(type) {
	case string, bool:
		return x, true
	case json.Number:
		f, ok := new(big.Float).SetPrec(256).SetString(x.String())
		return f, ok
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil, false
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return new(big.Float).SetPrec(256).SetInt64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return new(big.Float).SetPrec(256).SetUint64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return new(big.Float).SetPrec(256).SetFloat64(f), true
	}
	return nil, false
}

type row struct {
	id     string
	data   []byte
	fields map[string]any // top-level fields, decoded lazily with numbers as *big.Float
}

func (c *compiled) run(ctx context.Context, b *bolt.Bucket) ([]ports.Doc, error) {
	var rows []row
	needFields := len(c.where) > 0 || c.orderBy != ""
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if len(rows)%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, ctxErr("boltdocs.Query", err)
			}
		}
		r := row{id: string(k), data: v}
		if needFields {
			fields, err := topLevel(v)
			if err != nil {
				return nil, errs.Ef("boltdocs.Query", errs.Other, "decoding a stored document: %w", err)
			}
			r.fields = fields
			if !c.matches(fields) {
				continue
			}
			if c.orderBy != "" {
				// Like Firestore, ordering by a field leaves out documents without it.
				if _, ok := fields[c.orderBy]; !ok {
					continue
				}
			}
		}
		rows = append(rows, r)
	}
	// Keys come sorted by id; sort stably by the field (ties keep id order).
	if c.orderBy != "" {
		sort.SliceStable(rows, func(i, j int) bool {
			return compareValues(rows[i].fields[c.orderBy], rows[j].fields[c.orderBy]) < 0
		})
	}
	if c.desc {
		slices.Reverse(rows)
	}
	if c.after != nil {
		// Rows are in order, so those past the cursor are a suffix.
		i, _ := slices.BinarySearchFunc(rows, true, func(r row, _ bool) int {
			if c.past(r) {
				return 1
			}
			return -1
		})
		rows = rows[i:]
	}
	if c.limit > 0 && len(rows) > c.limit {
		rows = rows[:c.limit]
	}
	docs := make([]ports.Doc, len(rows))
	for i, r := range rows {
		docs[i] = ports.Doc{ID: r.id, Data: bytes.Clone(r.data)}
	}
	return docs, nil
}

func (c *compiled) matches(fields map[string]any) bool {
	for _, w := range c.where {
		v, ok := fields[w.field]
		if !ok || typeRank(v) != typeRank(w.value) {
			return false // different JSON types never match
		}
		r := compareValues(v, w.value)
		var hit bool
		switch w.op {
		case "==":
			hit = r == 0
		case "<":
			hit = r < 0
		case "<=":
			hit = r <= 0
		case ">":
			hit = r > 0
		case ">=":
			hit = r >= 0
		}
		if !hit {
			return false
		}
	}
	return true
}

// topLevel decodes a stored JSON object, keeping numbers exact as *big.Float.
func topLevel(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	for k, v := range m {
		m[k] = bigNumbers(v)
	}
	return m, nil
}

func bigNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, ok := new(big.Float).SetPrec(256).SetString(x.String())
		if !ok {
			return x.String()
		}
		return f
	case []any:
		for i := range x {
			x[i] = bigNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = bigNumbers(x[k])
		}
	}
	return v
}

// typeRank orders JSON types the way Firestore orders value types:
// null < bool < number < string < array < object.
func typeRank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case *big.Float:
		return 2
	case string:
		return 3
	case []any:
		return 4
	case map[string]any:
		return 5
	}
	return 6
}

// compareValues orders two decoded JSON values: by type rank first, then
// within the type (numbers numerically, strings by bytes, false < true,
// arrays element-wise, objects by sorted keys then values).
func compareValues(a, b any) int {
	if ra, rb := typeRank(a), typeRank(b); ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch x := a.(type) {
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case *big.Float:
		return x.Cmp(b.(*big.Float))
	case string:
		return strings.Compare(x, b.(string))
	case []any:
		y := b.([]any)
		for i := 0; i < len(x) && i < len(y); i++ {
			if r := compareValues(x[i], y[i]); r != 0 {
				return r
			}
		}
		return cmp.Compare(len(x), len(y))
	case map[string]any:
		y := b.(map[string]any)
		kx, ky := sortedKeys(x), sortedKeys(y)
		for i := 0; i < len(kx) && i < len(ky); i++ {
			if r := strings.Compare(kx[i], ky[i]); r != 0 {
				return r
			}
			if r := compareValues(x[kx[i]], y[ky[i]]); r != 0 {
				return r
			}
		}
		return cmp.Compare(len(kx), len(ky))
	}
	return 0
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
