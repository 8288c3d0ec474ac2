package firestoreindex_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lensflow/lensflow/shared/adapters/firestoredocs"
	"github.com/lensflow/lensflow/shared/emulator"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/firestoreindex"
)

func TestMain(m *testing.M) { emulator.RunMain(m) }

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		shape firestoreindex.Shape
		want  string // "" when single-field indexes serve it
	}{
		{firestoreindex.Shape{Collection: "c"}, ""},
		{firestoreindex.Shape{Collection: "c", OrderBy: "t", Desc: true}, ""},
		{firestoreindex.Shape{Collection: "c", Equal: []string{"a", "b"}}, ""},
		{firestoreindex.Shape{Collection: "c", Range: "g", OrderBy: "g"}, ""},
		{firestoreindex.Shape{Collection: "c", Range: "g"}, ""},
		{firestoreindex.Shape{Collection: "c", Equal: []string{"a"}, OrderBy: "t", Desc: true}, "c(a ASCENDING, t DESCENDING)"},
		{firestoreindex.Shape{Collection: "c", Equal: []string{"a", "b"}, OrderBy: "t"}, "c(a ASCENDING, b ASCENDING, t ASCENDING)"},
		{firestoreindex.Shape{Collection: "c", Equal: []string{"a"}, Range: "n"}, "c(a ASCENDING, n ASCENDING)"},
		{firestoreindex.Shape{Collection: "c", Range: "n", OrderBy: "t"}, "c(n ASCENDING, t ASCENDING)"},
	} {
		ix, ok := firestoreindex.Required(tc.shape)
		got := ""
		if ok {
			got = ix.String()
		}
		if got != tc.want {
			t.Errorf("Required(%s) = %q, want %q", tc.shape, got, tc.want)
		}
	}
}

func TestShapeOf(t *testing.T) {
	q := ports.Query{Collection: "scans", OrderBy: "received", Desc: true, Limit: 3, After: &ports.Cursor{Value: "x", ID: "y"},
		Where: []ports.Where{{Field: "patientId", Op: "==", Value: "p"}, {Field: "clinicId", Op: "==", Value: "c"}}}
	want := firestoreindex.Shape{Collection: "scans", Equal: []string{"clinicId", "patientId"}, OrderBy: "received", Desc: true}
	if got := firestoreindex.ShapeOf(q); !reflect.DeepEqual(got, want) {
		t.Fatalf("ShapeOf = %+v, want %+v", got, want)
	}
	if !firestoreindex.Registered(want) {
		t.Fatalf("%s not registered", want)
	}
}

func TestCheck(t *testing.T) {
	var all []firestoreindex.Shape
	all = append(all, firestoreindex.Shapes...)
	if msgs := firestoreindex.Check(all); len(msgs) != 0 {
		t.Fatalf("Check(Shapes) = %v", msgs)
	}
	stray := firestoreindex.Shape{Collection: "orders", Equal: []string{"clinicId"}, OrderBy: "updated"}
	if msgs := firestoreindex.Check(append(all, stray)); len(msgs) != 1 {
		t.Fatalf("an unregistered shape: %v", msgs)
	}
	if msgs := firestoreindex.Check(all[1:]); len(msgs) != 1 {
		t.Fatalf("a registered shape needing an index never issued: %v", msgs)
	}
}

// ownerCreds is what the client library sends the emulator: full access.
type ownerCreds struct{}

func (ownerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (ownerCreds) RequireTransportSecurity() bool { return false }

// TestShapesRunOnTheEmulator runs every registered shape on the Firestore
// emulator the way the code issues it, a page of one and then the next
// page from the first one's cursor, and checks both pages: each shape is a
// query Firestore accepts and pages in order. (The emulator needs no
// index; the indexes are derived from the same shapes by Required.)
func TestShapesRunOnTheEmulator(t *testing.T) {
	addr := emulator.Firestore(t)
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerCreds{}))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	docs, err := firestoredocs.Open(ctx, "idx-"+hex.EncodeToString(b), option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	defer docs.Close()
	for _, s := range firestoreindex.Shapes {
		t.Run(s.String(), func(t *testing.T) {
			// Two matching documents (every field "v", the order and range
			// fields apart) and one that the equality filters leave out.
			doc := func(order string) map[string]any {
				m := map[string]any{}
				for _, f := range s.Equal {
					m[f] = "v"
				}
				if s.Range != "" {
					m[s.Range] = order
				}
				if s.OrderBy != "" {
					m[s.OrderBy] = order
				}
				return m
			}
			other := doc("m")
			if s.Range != "" {
				other = doc("zz") // out of the range
			}
			for _, f := range s.Equal {
				other[f] = "w"
			}
			err := docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
				for id, d := range map[string]map[string]any{"d1": doc("k"), "d2": doc("q"), "d0": other} {
					if err := tx.Set(s.Collection, id, d); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			q := ports.Query{Collection: s.Collection, OrderBy: s.OrderBy, Desc: s.Desc, Limit: 1}
			for _, f := range s.Equal {
				q.Where = append(q.Where, ports.Where{Field: f, Op: "==", Value: "v"})
			}
			if s.Range != "" {
				q.Where = append(q.Where, ports.Where{Field: s.Range, Op: ">=", Value: "a"}, ports.Where{Field: s.Range, Op: "<", Value: "z"})
			}
			want := []string{"d1", "d2"}
			if s.Desc {
				want = []string{"d2", "d1"}
			}
			if len(s.Equal) == 0 && s.Range == "" { // nothing filters d0 out
				want = nil
			}
			var got []string
			for page := 0; page < 4; page++ {
				found, err := docs.Query(ctx, q)
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				if len(found) == 0 {
					break
				}
				got = append(got, found[0].ID)
				c, err := ports.CursorOf(found[0], q.OrderBy)
				if err != nil {
					t.Fatal(err)
				}
				q.After = &c
			}
			if want == nil {
				if len(got) != 3 {
					t.Fatalf("pages %v, want all three documents", got)
				}
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("pages %v, want %v", got, want)
			}
		})
	}
}
