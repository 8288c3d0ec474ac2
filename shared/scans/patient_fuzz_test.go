package scans_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/scans"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// errPassed is what passSealer answers: the service got past validation
// and went on to seal the patient.
var errPassed = errors.New("passed validation")

type passSealer struct{}

func (passSealer) Encrypt(_, _ []byte) ([]byte, error) { return nil, errPassed }
func (passSealer) Decrypt(_, _ []byte) ([]byte, error) { return nil, errPassed }

// FuzzPatientInput decodes the create-patient body as the route does
// (httpkit.UnmarshalStrict) and runs CreatePatient up to the point where it
// seals: nothing panics; a refused body is errs.Invalid naming name or
// birthDate (or the JSON problem), and its message neither depends on the
// letters of the name nor repeats the birth date; an accepted one has a
// usable name and a past date since 1900, and re-encodes and re-decodes to
// the same value.
func FuzzPatientInput(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ada Example","birthDate":"1984-03-02"}`,
		`{"name":"  ","birthDate":"1984-03-02"}`, `{"name":"A\u0000B","birthDate":"1984-03-02"}`,
		`{"name":"ZZCANARY Person","birthDate":"1899-12-31"}`, `{"name":"ZZCANARY Person","birthDate":"2999-01-01"}`,
		`{"name":"ZZCANARY Person","birthDate":"02/03/1984"}`, `{"name":"ZZCANARY Person","birthDate":19840302}`,
		`{"name":"ZZCANARY Person","birthDate":"1984-02-30"}`, `{"name":"` + strings.Repeat("é", 201) + `","birthDate":"1984-03-02"}`,
		`{"name":"a","name":"b","birthDate":"1984-03-02"}`, `{"name":"a","Name":"b"}`, `{"name":"a","chart":"C-1"}`,
		`{"name":"a"}{}`, `{"name":["a"]}`, `null`, `[]`, ``, "{\"name\":\"\xff\",\"birthDate\":\"1984-03-02\"}",
	} {
		f.Add([]byte(s))
	}
	today := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	svc := &scans.Service{Sealer: passSealer{}, Kit: servicekit.Kit{Clock: func() time.Time { return today }}}
	actor := auth.Actor{Subject: "dr", Role: "practitioner", ClinicID: "demo-north"}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in scans.PatientInput
		if err := httpkit.UnmarshalStrict(body, &in); err != nil {
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) == "" {
				t.Fatalf("decode refusal without a field: %v", err)
			}
			return
		}
		_, err := svc.CreatePatient(context.Background(), actor, in)
		if !errors.Is(err, errPassed) {
			if f := errs.FieldOf(err); !errs.Is(errs.Invalid, err) || (f != "name" && f != "birthDate") {
				t.Fatalf("refusal of kind %v, field %q: %v", errs.KindOf(err), f, err)
			}
			// The refusal does not depend on the letters of the name (so it
			// cannot repeat it), nor repeat a date or a run of its digits.
			masked := in
			masked.Name = strings.Map(func(r rune) rune {
				if unicode.IsSpace(r) || unicode.IsControl(r) {
					return r
				}
				return 'Q'
			}, in.Name)
			if _, merr := svc.CreatePatient(context.Background(), actor, masked); errs.Message(merr) != errs.Message(err) {
				t.Fatalf("the refusal depends on the name: %q, with the name masked %q", errs.Message(err), errs.Message(merr))
			}
			if _, perr := time.Parse("2006-01-02", in.BirthDate); perr == nil && strings.Contains(err.Error(), in.BirthDate) {
				t.Fatalf("the refusal repeats the birth date: %v", err)
			}
			for _, run := range strings.FieldsFunc(in.BirthDate, func(r rune) bool { return r < '0' || r > '9' }) {
				if len(run) >= 5 && strings.Contains(err.Error(), run) {
					t.Fatalf("the refusal repeats the birth date's digits: %v", err)
				}
			}
			return
		}
		name := strings.TrimSpace(in.Name)
		d, perr := time.Parse("2006-01-02", in.BirthDate)
		if name == "" || utf8.RuneCountInString(name) > 200 || strings.IndexFunc(name, unicode.IsControl) >= 0 ||
			perr != nil || d.After(today) || d.Year() < 1900 {
			t.Fatalf("accepted %+v", in)
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var back scans.PatientInput
		if err := httpkit.UnmarshalStrict(b, &back); err != nil || !reflect.DeepEqual(back, in) {
			t.Fatalf("round trip of %s: %+v %v", b, back, err)
		}
	})
}
