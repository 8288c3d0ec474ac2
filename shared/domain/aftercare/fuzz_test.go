package aftercare

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
)

// FuzzAssessmentJSON decodes hostile bodies as the assessment route does
// (httpkit.UnmarshalStrict), then validates and adjusts: nothing panics,
// every failure is an Invalid or Unprocessable error naming a field, no
// error repeats the notes, and a valid assessment survives a JSON round
// trip unchanged in validity.
func FuzzAssessmentJSON(f *testing.F) {
	for _, s := range []string{
		`{"visitKey":"day-1","visualAcuity":"6/7.5","overRefraction":{"sphereD":0.25,"cylD":-0.75,"axisDeg":180},"centration":{"status":"decentred","direction":"temporal","mm":0.6},"centralTearFilmUM":12,"residualRefractionD":-0.5,"fluoresceinNotes":"bullseye","comfort":7,"outcome":"adjust"}`,
		`{"visitKey":"month-1","visualAcuity":0.1,"centralClearanceUM":250,"limbalClearanceUM":20,"comfort":9,"outcome":"adjust"}`,
		`{"visitKey":"week-1","visualAcuity":"20/20","overRefraction":{"sphereD":4.5},"comfort":5,"outcome":"continue"}`,
		`{"visitKey":"x","visualAcuity":true}`,
		`{"comfort":1e400}`,
		`{"visualAcuity":"6/0","comfort":-1,"outcome":"adjust","centration":{"status":"decentred","mm":NaN}}`,
		`{"fluoresceinNotes":"ZZCANARY\u0000"}`,
		`[]`, `null`, `{"a":1,"a":2}`, ``,
	} {
		f.Add([]byte(s))
	}
	rules := DefaultRules()
	params := map[string]DesignParams{"rgp": rgpParams(), "orthok": orthoKParams(), "scleral": scleralParams()}
	f.Fuzz(func(t *testing.T, body []byte) {
		var a Assessment
		if err := httpkit.UnmarshalStrict(body, &a); err != nil {
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("decode error of kind %v: %v", errs.KindOf(err), err)
			}
			return
		}
		for typ, p := range params {
			err := a.Validate(typ)
			if err != nil {
				if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) == "" {
					t.Fatalf("%s: unclassified validation error %v", typ, err)
				}
				if len(a.FluoresceinNotes) >= 8 && strings.Contains(err.Error(), a.FluoresceinNotes) {
					t.Fatalf("%s: error repeats the notes", typ)
				}
				continue
			}
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			var back Assessment
			if err := httpkit.UnmarshalStrict(b, &back); err != nil || back.Validate(typ) != nil {
				t.Fatalf("%s: valid assessment does not round trip: %s: %v", typ, b, err)
			}
			adj, err := Adjust(typ, p, a, rules)
			if err != nil {
				if k := errs.KindOf(err); (k != errs.Invalid && k != errs.Unprocessable) || errs.FieldOf(err) == "" {
					t.Fatalf("%s: adjust error %v", typ, err)
				}
				continue
			}
			for _, c := range adj.Changes {
				if math.IsNaN(c.To) || math.IsInf(c.To, 0) || c.Reason == "" {
					t.Fatalf("%s: bad change %+v", typ, c)
				}
			}
		}
	})
}

// FuzzDue checks the schedule's invariants for any dispatch and run time:
// nothing before dispatch, results in date order within their windows,
// keys the schedule knows, and the same answer twice.
func FuzzDue(f *testing.F) {
	f.Add(int64(1772000000), int64(86400*30))
	f.Add(int64(1830297600), int64(86400))
	f.Add(int64(0), int64(-1))
	f.Fuzz(func(t *testing.T, dispatchUnix, offsetSec int64) {
		if dispatchUnix < -1e10 || dispatchUnix > 1e10 || offsetSec < -1e10 || offsetSec > 1e10 {
			return
		}
		d := time.Unix(dispatchUnix, 0)
		asOf := d.Add(time.Duration(offsetSec) * time.Second)
		for _, typ := range []string{"rgp", "orthok", "scleral"} {
			s, _ := DefaultSchedule(typ)
			got := s.Due(d, asOf)
			if asOf.Before(dateUTC(d)) && len(got) > 0 {
				t.Fatalf("%s: due before dispatch", typ)
			}
			for i, v := range got {
				if asOf.Before(v.Due) || !asOf.Before(v.Until) || !s.HasKey(v.Key) || (i > 0 && !v.Due.After(got[i-1].Due)) {
					t.Fatalf("%s: bad visit %+v at %v", typ, v, asOf)
				}
			}
			if keys(s.Due(d, asOf)) != keys(got) {
				t.Fatalf("%s: not repeatable", typ)
			}
		}
	})
}
