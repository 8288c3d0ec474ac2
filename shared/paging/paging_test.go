package paging_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
)

func TestFromQuery(t *testing.T) {
	for _, tc := range []struct {
		query string
		size  int
		field string
	}{
		{"", paging.DefaultSize, ""},
		{"pageSize=0", paging.DefaultSize, ""},
		{"pageSize=7", 7, ""},
		{"pageSize=100", 100, ""},
		{"pageSize=101", paging.MaxSize, ""},
		{"pageSize=99999999", paging.MaxSize, ""},
		{"pageSize=-1", 0, "pageSize"},
		{"pageSize=1.5", 0, "pageSize"},
		{"pageSize=ten", 0, "pageSize"},
		{"pageSize=99999999999999999999", 0, "pageSize"},
	} {
		q, _ := url.ParseQuery(tc.query)
		r, err := paging.FromQuery(q)
		if tc.field != "" {
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field {
				t.Errorf("%q: %v, want Invalid naming %s", tc.query, err, tc.field)
			}
			continue
		}
		if err != nil || r.Size != tc.size {
			t.Errorf("%q: size %d, %v; want %d", tc.query, r.Size, err, tc.size)
		}
	}
}

func TestTokens(t *testing.T) {
	scope := paging.NewScope("orders.list", "demo-north")
	tok := paging.Token(scope, paging.Position{Cursor: &ports.Cursor{Value: "2026-01-05T09:00:00Z", ID: "ord-1"}, Key: "week-1"})
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not unpadded base64url", tok)
	}
	pos, err := paging.Request{Token: tok}.Start(scope)
	if err != nil || pos.Cursor.ID != "ord-1" || pos.Cursor.Value != "2026-01-05T09:00:00Z" || pos.Key != "week-1" {
		t.Fatalf("round trip: %+v, %v", pos, err)
	}
	if pos, err := (paging.Request{}).Start(scope); err != nil || pos.Cursor != nil {
		t.Fatalf("no token: %+v, %v", pos, err)
	}
	if raw, _ := base64.RawURLEncoding.DecodeString(tok); strings.Contains(string(raw), "demo-north") {
		t.Fatalf("the token names the clinic: %s", raw)
	}
	// The scope is the route, its filters and the clinic, unambiguously.
	for _, other := range []paging.Scope{
		paging.NewScope("orders.list", "demo-south"),
		paging.NewScope("patients.list", "demo-north"),
		paging.NewScope("orders.list", "demo-north", ""),
		paging.NewScope("orders.list", "demo-", "north"),
	} {
		if _, err := (paging.Request{Token: tok}).Start(other); errs.FieldOf(err) != "pageToken" {
			t.Errorf("token accepted in another scope: %v", err)
		}
	}
	for _, bad := range []string{"x", "%%%", tok + "A", tok[:len(tok)-3], strings.Repeat("A", 2000),
		base64.RawURLEncoding.EncodeToString([]byte(`{"s":"x","i":""}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"s":"x","i":"a","v":{"o":1}}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"s":"x","i":"a","z":1}`)),
	} {
		if _, err := (paging.Request{Token: bad}).Start(scope); !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "pageToken" {
			t.Errorf("token %.20q: %v, want Invalid naming pageToken", bad, err)
		}
	}
}

func openDocs(t *testing.T, n int) ports.Documents {
	t.Helper()
	docs, err := boltdocs.Open(filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docs.Close() })
	err = docs.RunTransaction(context.Background(), func(ctx context.Context, tx ports.Tx) error {
		for i := range n {
			if err := tx.Set("items", fmt.Sprintf("i%02d", i), map[string]any{"n": i % 3, "even": i%2 == 0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// counting counts the documents queries return.
type counting struct {
	ports.Documents
	read, queries int
}

func (c *counting) Query(ctx context.Context, q ports.Query) ([]ports.Doc, error) {
	docs, err := c.Documents.Query(ctx, q)
	c.read += len(docs)
	c.queries++
	return docs, err
}

func TestQueryPages(t *testing.T) {
	docs := &counting{Documents: openDocs(t, 11)}
	scope := paging.NewScope("items")
	q := ports.Query{Collection: "items", OrderBy: "n", Desc: true}
	var got []string
	r := paging.Request{Size: 4}
	pages := 0
	for {
		found, next, err := paging.Query(context.Background(), docs, q, r, scope)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, d := range found {
			got = append(got, d.ID)
		}
		if next == "" {
			break
		}
		r.Token = next
	}
	all, _ := docs.Documents.Query(context.Background(), q)
	var want []string
	for _, d := range all {
		want = append(want, d.ID)
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("%d pages: %v, want 3: %v", pages, got, want)
	}
	if docs.read > 11+pages { // each page reads at most one more than it serves
		t.Fatalf("read %d documents for 11", docs.read)
	}
}

func TestBatches(t *testing.T) {
	docs := &counting{Documents: openDocs(t, 7)}
	var got []string
	largest := 0
	err := paging.Batches(context.Background(), docs, ports.Query{Collection: "items", Where: []ports.Where{{Field: "even", Op: "==", Value: true}}}, 2,
		func(b []ports.Doc) error {
			largest = max(largest, len(b))
			for _, d := range b {
				got = append(got, d.ID)
			}
			return nil
		})
	if err != nil || !slices.Equal(got, []string{"i00", "i02", "i04", "i06"}) || largest != 2 {
		t.Fatalf("batches: %v, largest %d, %v", got, largest, err)
	}
	// Stop ends the scan without an error; deleting what was read is fine.
	n := 0
	err = paging.Batches(context.Background(), docs, ports.Query{Collection: "items"}, 3, func(b []ports.Doc) error {
		n += len(b)
		if n >= 6 {
			return paging.ErrStop
		}
		return docs.RunTransaction(context.Background(), func(ctx context.Context, tx ports.Tx) error {
			for _, d := range b {
				if err := tx.Delete("items", d.ID); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil || n != 6 {
		t.Fatalf("stopped scan: %d, %v", n, err)
	}
}
