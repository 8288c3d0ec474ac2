package policy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/ports/firestoreindex"
)

// declaredIndexes returns the plan's google_firestore_index resources in
// firestoreindex's form, with the __name__ field Firestore appends (if
// declared) left out.
func declaredIndexes(p *plan) []firestoreindex.Index {
	var out []firestoreindex.Index
	for _, r := range p.ofType("google_firestore_index") {
		ix := firestoreindex.Index{Collection: str(r.Values["collection"])}
		fields, _ := r.Values["fields"].([]any)
		for _, f := range fields {
			m, _ := f.(map[string]any)
			if path := str(m["field_path"]); path != "__name__" {
				ix.Fields = append(ix.Fields, firestoreindex.Field{Path: path, Order: str(m["order"])})
			}
		}
		out = append(out, ix)
	}
	return out
}

// indexViolations compares the declared indexes with those the code's
// queries need (firestoreindex.Indexes of its Shapes), both ways.
func indexViolations(p *plan, need []firestoreindex.Index) []string {
	var out []string
	declared := map[string]bool{}
	for _, r := range p.ofType("google_firestore_index") {
		if s := str(r.Values["query_scope"]); s != "COLLECTION" {
			out = append(out, fmt.Sprintf("%s: query_scope %q, want COLLECTION", r.Address, s))
		}
	}
	for _, ix := range declaredIndexes(p) {
		if declared[ix.String()] {
			out = append(out, fmt.Sprintf("firestore index %s declared twice", ix))
		}
		declared[ix.String()] = true
		if !slices.ContainsFunc(need, func(n firestoreindex.Index) bool { return n.String() == ix.String() }) {
			out = append(out, fmt.Sprintf("firestore index %s is declared but no query in firestoreindex.Shapes needs it", ix))
		}
	}
	for _, ix := range need {
		if !declared[ix.String()] {
			out = append(out, fmt.Sprintf("a query needs firestore index %s, which Terraform does not declare", ix))
		}
	}
	return out
}

func TestFirestoreIndexesMatchQueries(t *testing.T) {
	data, _ := load(t)
	p := mustParse(t, data)
	need := firestoreindex.Indexes(firestoreindex.Shapes)
	if len(need) == 0 {
		t.Fatal("no query needs a composite index: the registry is empty?")
	}
	for _, v := range indexViolations(p, need) {
		t.Error(v)
	}
	t.Logf("%d composite indexes needed and declared", len(need))

	// The check notices an index missing and one not needed.
	missing := append([]firestoreindex.Index(nil), need...)
	missing = append(missing, firestoreindex.Index{Collection: "orders", Fields: []firestoreindex.Field{
		{Path: "clinicId", Order: "ASCENDING"}, {Path: "updated", Order: "DESCENDING"}}})
	if v := indexViolations(p, missing); len(v) != 1 || !strings.Contains(v[0], "does not declare") {
		t.Errorf("a needed index Terraform lacks: %v", v)
	}
	if v := indexViolations(p, need[1:]); len(v) != 1 || !strings.Contains(v[0], "no query") {
		t.Errorf("an index no query needs: %v", v)
	}
}
