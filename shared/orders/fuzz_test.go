package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// errPassed is what passDocs answers: the service got past validation and
// went on to look something up.
var errPassed = errors.New("passed validation")

// passDocs answers every read with errPassed; anything else it is asked
// panics (the embedded nil interface), which the fuzzer reports.
type passDocs struct{ ports.Documents }

func (passDocs) Get(context.Context, string, string, any) error { return errPassed }

var (
	practitioner = auth.Actor{Subject: "dr", Role: "practitioner", ClinicID: "demo-north"}
	labStaff     = auth.Actor{Subject: "lab", Role: "lab"}
	service      = &orders.Service{Docs: passDocs{}, Scans: &scans.Service{Docs: passDocs{}}}
)

// checkRefusal fails unless err is errs.Invalid naming one of fields (any
// field when none are given) with a message.
func checkRefusal(t *testing.T, err error, fields ...string) {
	t.Helper()
	f := errs.FieldOf(err)
	if !errs.Is(errs.Invalid, err) || f == "" || (len(fields) > 0 && !contains(fields, f)) || errs.Message(err) == "" {
		t.Fatalf("refusal of kind %v, field %q (want one of %q): %v", errs.KindOf(err), errs.FieldOf(err), fields, err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// roundTrip fails unless v re-encodes and re-decodes strictly to itself.
func roundTrip[T any](t *testing.T, v T) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back T
	if err := httpkit.UnmarshalStrict(b, &back); err != nil || !reflect.DeepEqual(back, v) {
		t.Fatalf("round trip of %s: %+v %v", b, back, err)
	}
}

// FuzzPlaceInput decodes the place-order body as the route does and runs
// Place up to its first lookup: nothing panics; a refused body is
// errs.Invalid naming designId, quantity or notes (or the JSON problem),
// or NotFound for a design id that cannot exist, and does not depend on
// the letters of the notes; an accepted one has 1 to MaxQuantity lenses
// and notes within bounds, and round-trips.
func FuzzPlaceInput(f *testing.F) {
	for _, s := range []string{
		`{"designId":"0b9e2c4a-1f6d-4c1e-9a57-3d2f8e6b7a10","quantity":1,"notes":"spare please"}`,
		`{"designId":"d1","quantity":10,"notes":"line 1\nline 2\ttab"}`, `{"designId":"d1","quantity":0}`,
		`{"designId":"d1","quantity":11}`, `{"designId":"d1","quantity":-1}`, `{"designId":"d1","quantity":1.5}`,
		`{"designId":"d1","quantity":1e400}`, `{"designId":"d1","quantity":99999999999999999999}`,
		`{"designId":"d1","quantity":"1"}`, `{"designId":"","quantity":1}`, `{"designId":"../x","quantity":1}`,
		`{"designId":"d1","quantity":1,"notes":"ZZCANARY\u0007bell"}`, `{"designId":"d1","quantity":1,"notes":"` + strings.Repeat("n", 2001) + `"}`,
		`{"designId":"d1","quantity":1,"quantity":2}`, `{"designId":"d1","Quantity":1,"quantity":2}`, `{"designId":"d1","price":0}`,
		`{"designId":"d1"} {}`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in orders.PlaceInput
		if err := httpkit.UnmarshalStrict(body, &in); err != nil {
			checkRefusal(t, err)
			return
		}
		_, err := service.Place(context.Background(), practitioner, in)
		switch {
		case errors.Is(err, errPassed):
		case errs.Is(errs.NotFound, err):
			if strings.Trim(in.DesignID, "0123456789abcdefghijklmnopqrstuvwxyz-") == "" && len(in.DesignID) <= 64 {
				t.Fatalf("a well-formed design id was not looked up: %v", err)
			}
			return
		default:
			checkRefusal(t, err, "designId", "quantity", "notes")
			// The refusal does not depend on the letters of the notes, so it
			// cannot repeat them.
			masked := in
			masked.Notes = strings.Map(func(r rune) rune {
				if unicode.IsControl(r) {
					return r
				}
				return 'Q'
			}, in.Notes)
			if _, merr := service.Place(context.Background(), practitioner, masked); errs.Message(merr) != errs.Message(err) {
				t.Fatalf("the refusal depends on the notes: %q, with the notes masked %q", errs.Message(err), errs.Message(merr))
			}
			return
		}
		if in.DesignID == "" || in.Quantity < 1 || in.Quantity > orders.MaxQuantity || utf8.RuneCountInString(in.Notes) > orders.MaxNotes ||
			strings.IndexFunc(in.Notes, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0 {
			t.Fatalf("accepted %+v", in)
		}
		roundTrip(t, in)
	})
}

// FuzzStatusInput decodes the job-status body as the lab route does and
// runs SetStatus up to its lookup of the job: nothing panics; a refused
// body is errs.Invalid naming status (or the JSON problem); an accepted
// one is a known job status and round-trips.
func FuzzStatusInput(f *testing.F) {
	for _, s := range []string{
		`{"status":"cutting"}`, `{"status":"dispatched"}`, `{"status":"requeued"}`, `{"status":"Cutting"}`,
		`{"status":""}`, `{"status":"cutting\u0000"}`, `{"status":1}`, `{"status":null}`, `{"status":"cutting","status":"failed"}`,
		`{"status":"cutting","STATUS":"failed"}`, `{"status":"cutting","note":"x"}`, `{}`, `{"status":"cutting"}x`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in orders.StatusInput
		if err := httpkit.UnmarshalStrict(body, &in); err != nil {
			checkRefusal(t, err)
			return
		}
		_, err := service.SetStatus(context.Background(), labStaff, "0b9e2c4a-1f6d-4c1e-9a57-3d2f8e6b7a10", in)
		if !errors.Is(err, errPassed) {
			checkRefusal(t, err, "status")
			return
		}
		if _, perr := workflow.ParseJobStatus(in.Status); perr != nil {
			t.Fatalf("accepted %+v", in)
		}
		roundTrip(t, in)
	})
}

// FuzzCommentInput decodes the comment body as the route does and runs
// PostComment up to its lookup of the order: nothing panics; a refused
// body is errs.Invalid naming text (or the JSON problem), and the refusal
// does not depend on the text's letters, so it cannot repeat them; an
// accepted text is non-blank, at most MaxCommentText characters with no
// control characters but newline and tab, and round-trips.
func FuzzCommentInput(f *testing.F) {
	for _, s := range []string{
		`{"text":"Please flatten the landing zone."}`, `{"text":"line 1\nline 2\ttab"}`, `{"text":""}`, `{"text":"   "}`,
		`{"text":"ZZCANARY\u0007bell"}`, `{"text":"` + strings.Repeat("é", 2001) + `"}`, `{"text":"` + strings.Repeat("a", 2000) + `"}`,
		`{"text":1}`, `{"text":null}`, `{"text":"a","text":"b"}`, `{"Text":"a","text":"b"}`, `{"text":"a","author":"lab"}`,
		`{"text":"a"} {}`, `null`, `[]`, ``, `{"text":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in orders.CommentInput
		if err := httpkit.UnmarshalStrict(body, &in); err != nil {
			checkRefusal(t, err)
			return
		}
		_, err := service.PostComment(context.Background(), practitioner, "order-1", "", in)
		if errors.Is(err, errPassed) {
			text := strings.TrimSpace(in.Text)
			if text == "" || utf8.RuneCountInString(text) > orders.MaxCommentText ||
				strings.IndexFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0 {
				t.Fatalf("accepted %q", in.Text)
			}
			roundTrip(t, in)
			return
		}
		checkRefusal(t, err, "text")
		masked := orders.CommentInput{Text: strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				return r
			}
			return 'Q'
		}, in.Text)}
		if _, merr := service.PostComment(context.Background(), practitioner, "order-1", "", masked); errs.Message(merr) != errs.Message(err) {
			t.Fatalf("the refusal depends on the text: %q, with the text masked %q", errs.Message(err), errs.Message(merr))
		}
	})
}
