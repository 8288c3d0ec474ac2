package aftercare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func plan(t *testing.T, lensType string, dispatched time.Time) map[string]string {
	t.Helper()
	s, err := DefaultSchedule(lensType)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, v := range s.Plan(dispatched) {
		if _, dup := out[v.Key]; dup {
			t.Fatalf("duplicate key %s", v.Key)
		}
		out[v.Key] = v.Due.Format(time.DateOnly)
	}
	return out
}

func TestPlanDates(t *testing.T) {
	tests := []struct {
		name       string
		lensType   string
		dispatched time.Time
		want       map[string]string
	}{
		{"orthok", "orthok", time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC), map[string]string{
			"delivery": "2026-03-10", "day-1": "2026-03-11", "week-1": "2026-03-17", "week-2": "2026-03-24",
			"month-1": "2026-04-10", "month-3": "2026-06-10", "year-1": "2027-03-10", "year-2": "2028-03-10",
			"year-30": "2056-03-10",
		}},
		{"scleral from a month end", "scleral", date(2026, 1, 31), map[string]string{
			"delivery": "2026-01-31", "week-2": "2026-02-14", "month-1": "2026-02-28", "month-3": "2026-04-30",
			"month-6": "2026-07-31", "month-12": "2027-01-31", "year-2": "2028-01-31", "year-3": "2029-01-31",
		}},
		{"rgp", "rgp", date(2026, 5, 1), map[string]string{
			"week-1": "2026-05-08", "month-1": "2026-06-01", "month-3": "2026-08-01", "year-1": "2027-05-01",
		}},
		{"rgp from a leap day", "rgp", date(2028, 2, 29), map[string]string{
			"week-1": "2028-03-07", "month-1": "2028-03-29", "month-3": "2028-05-29",
			"year-1": "2029-02-28", "year-3": "2031-02-28", "year-4": "2032-02-29",
		}},
		{"orthok 31 January in a leap year", "orthok", date(2028, 1, 31), map[string]string{
			"month-1": "2028-02-29", "month-3": "2028-04-30", "year-1": "2029-01-31",
		}},
		{"orthok week crossing a year", "orthok", date(2026, 12, 28), map[string]string{
			"day-1": "2026-12-29", "week-1": "2027-01-04", "week-2": "2027-01-11", "month-1": "2027-01-28", "month-3": "2027-03-28",
		}},
		{"dispatch time in another zone is its UTC date", "orthok", time.Date(2026, 3, 10, 21, 30, 0, 0, time.FixedZone("EST", -5*3600)), map[string]string{
			"delivery": "2026-03-11", "day-1": "2026-03-12",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plan(t, tt.lensType, tt.dispatched)
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s due %q, want %s", k, got[k], want)
				}
			}
		})
	}
}

func TestPlanKeysAndBound(t *testing.T) {
	for _, typ := range []string{"rgp", "orthok", "scleral"} {
		t.Run(typ, func(t *testing.T) {
			s, _ := DefaultSchedule(typ)
			p := s.Plan(date(2026, 1, 1))
			last := p[len(p)-1]
			if last.Key != "year-30" {
				t.Errorf("last visit %s, want year-30", last.Key)
			}
			for i := 1; i < len(p); i++ {
				if !p[i].Due.After(p[i-1].Due) {
					t.Errorf("%s not after %s", p[i].Key, p[i-1].Key)
				}
				if p[i-1].Until.Before(p[i].Due) {
					t.Errorf("%s window ends before %s is due: a gap", p[i-1].Key, p[i].Key)
				}
				if !s.HasKey(p[i].Key) {
					t.Errorf("HasKey(%s) false", p[i].Key)
				}
			}
		})
	}
}

func keys(vs []Visit) string {
	var ks []string
	for _, v := range vs {
		ks = append(ks, v.Key)
	}
	return strings.Join(ks, ",")
}

func TestDue(t *testing.T) {
	dispatched := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name     string
		lensType string
		asOf     time.Time
		want     string
	}{
		{"before dispatch", "orthok", at(2026, 3, 9, 23), ""},
		{"long before dispatch", "orthok", at(2020, 1, 1, 0), ""},
		{"dispatch day, after dispatch", "orthok", at(2026, 3, 10, 18), "delivery"},
		{"next morning: delivery still in its window", "orthok", at(2026, 3, 11, 2), "delivery,day-1"},
		{"delivery window closed", "orthok", at(2026, 3, 13, 2), "day-1"},
		{"week 1", "orthok", at(2026, 3, 17, 0), "week-1"},
		{"between week 2 and month 1", "orthok", at(2026, 4, 1, 0), "week-2"},
		{"month 3 window runs to year 1", "orthok", at(2026, 12, 31, 0), "month-3"},
		{"year 2", "orthok", at(2028, 3, 10, 0), "year-2"},
		{"rgp has nothing before week 1", "rgp", at(2026, 3, 16, 23), ""},
		{"rgp week 1", "rgp", at(2026, 3, 17, 9), "week-1"},
		{"scleral month 12 then year 2", "scleral", at(2027, 3, 10, 0), "month-12"},
		{"scleral year 2", "scleral", at(2028, 3, 12, 0), "year-2"},
		{"past 30 years: nothing", "scleral", at(2060, 1, 1, 0), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Due(tt.lensType, dispatched, tt.asOf)
			if err != nil {
				t.Fatal(err)
			}
			if keys(got) != tt.want {
				t.Errorf("due %q, want %q", keys(got), tt.want)
			}
			again, _ := Due(tt.lensType, dispatched, tt.asOf)
			if keys(again) != keys(got) {
				t.Errorf("second run %q, first %q", keys(again), keys(got))
			}
		})
	}
	if _, err := Due("soft", dispatched, dispatched); errs.FieldOf(err) != "lensType" || !errs.Is(errs.Invalid, err) {
		t.Errorf("unknown lens type: %v", err)
	}
}

// TestDueExactlyOnce runs the daily task as a caller would, recording what
// it sent, with runs every day, twice a day, and every third day (the
// shortest window): every visit is sent exactly once, in order.
func TestDueExactlyOnce(t *testing.T) {
	for _, typ := range []string{"rgp", "orthok", "scleral"} {
		for _, every := range []time.Duration{12 * time.Hour, 24 * time.Hour, 72 * time.Hour} {
			t.Run(fmt.Sprintf("%s every %v", typ, every), func(t *testing.T) {
				s, _ := DefaultSchedule(typ)
				dispatched := time.Date(2024, 1, 31, 16, 45, 0, 0, time.UTC)
				sent := map[string]int{}
				var order []string
				for asOf := dispatched.Add(time.Hour); asOf.Before(dispatched.AddDate(MaxYears+1, 0, 0)); asOf = asOf.Add(every) {
					for _, v := range s.Due(dispatched, asOf) {
						if sent[v.Key]++; sent[v.Key] == 1 {
							order = append(order, v.Key)
						}
					}
				}
				var want []string
				for _, v := range s.Plan(dispatched) {
					want = append(want, v.Key)
				}
				if strings.Join(order, ",") != strings.Join(want, ",") {
					t.Errorf("sent %v\nwant %v", order, want)
				}
			})
		}
	}
}

func TestNext(t *testing.T) {
	s, _ := DefaultSchedule("orthok")
	d := date(2026, 3, 10)
	tests := []struct {
		after time.Time
		want  string
		ok    bool
	}{
		{d.Add(-time.Hour), "delivery", true},
		{d, "day-1", true},
		{date(2026, 3, 20), "week-2", true},
		{date(2055, 6, 1), "year-30", true},
		{date(2056, 3, 10), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.after.Format(time.RFC3339), func(t *testing.T) {
			v, ok := s.Next(d, tt.after)
			if ok != tt.ok || v.Key != tt.want {
				t.Errorf("Next = %s %v, want %s %v", v.Key, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestHasKey(t *testing.T) {
	s, _ := DefaultSchedule("scleral")
	for key, want := range map[string]bool{
		"delivery": true, "month-12": true, "year-2": true, "year-30": true, "unscheduled": true,
		"year-1": false, "year-31": false, "year-02": false, "year-": false, "day-1": false, "": false,
	} {
		if got := s.HasKey(key); got != want {
			t.Errorf("HasKey(%q) = %v, want %v", key, got, want)
		}
	}
}

// A scheduled visit is its key; an unscheduled one is its UTC day, so two
// on one day are one visit and the next day's another; no visit key can
// name an unscheduled visit's identity.
func TestVisitID(t *testing.T) {
	late := time.Date(2026, 3, 14, 23, 59, 0, 0, time.FixedZone("AEST", 10*3600)) // 13:59 UTC
	for _, tt := range []struct {
		key   string
		at    time.Time
		want  string
		label string
	}{
		{"week-1", late, "week-1", "week-1"},
		{"year-2", late.AddDate(1, 0, 0), "year-2", "year-2"},
		{UnscheduledKey, late, "unscheduled:2026-03-14", "unscheduled (2026-03-14)"},
		{UnscheduledKey, date(2026, 3, 14).Add(23 * time.Hour), "unscheduled:2026-03-14", "unscheduled (2026-03-14)"},
		{UnscheduledKey, date(2026, 3, 15), "unscheduled:2026-03-15", "unscheduled (2026-03-15)"},
	} {
		got := VisitID(tt.key, tt.at)
		if got != tt.want || VisitLabel(got) != tt.label {
			t.Errorf("VisitID(%q, %v) = %q (%q), want %q (%q)", tt.key, tt.at, got, VisitLabel(got), tt.want, tt.label)
		}
		if tt.key == UnscheduledKey && keyRE.MatchString(got) {
			t.Errorf("%q is also a valid visit key", got)
		}
	}
}

func TestScheduleValidate(t *testing.T) {
	if err := DefaultSchedules().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	base := func() Schedule { s, _ := DefaultSchedule("orthok"); return s }
	tests := []struct {
		name  string
		edit  func(*Schedule)
		field string
	}{
		{"no name", func(s *Schedule) { s.Name = "" }, "name"},
		{"no version", func(s *Schedule) { s.Version = "" }, "version"},
		{"bad lens type", func(s *Schedule) { s.LensType = "soft" }, "lensType"},
		{"yearly 0", func(s *Schedule) { s.YearlyFrom = 0 }, "yearlyFrom"},
		{"window 0", func(s *Schedule) { s.MinWindowDays = 0 }, "minWindowDays"},
		{"bad key", func(s *Schedule) { s.Visits[1].Key = "Day 1" }, "visits[1].key"},
		{"reserved yearly key", func(s *Schedule) { s.Visits[1].Key = "year-9" }, "visits[1].key"},
		{"reserved unscheduled key", func(s *Schedule) { s.Visits[1].Key = "unscheduled" }, "visits[1].key"},
		{"duplicate key", func(s *Schedule) { s.Visits[2].Key = "day-1" }, "visits[2].key"},
		{"no label", func(s *Schedule) { s.Visits[0].Label = "" }, "visits[0].label"},
		{"negative days", func(s *Schedule) { s.Visits[0].Days = -1 }, "visits[0].days"},
		{"out of order", func(s *Schedule) { s.Visits[2].Days = 1 }, "visits[2]"},
		{"month end makes two visits meet", func(s *Schedule) {
			s.Visits = []VisitSpec{{Key: "a", Label: "A", Days: 28}, {Key: "b", Label: "B", Months: 1}}
		}, "visits[1]"},
		{"yearly collides", func(s *Schedule) { s.Visits = append(s.Visits, VisitSpec{Key: "m12", Label: "M12", Months: 12}) }, "yearlyFrom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			s.Visits = append([]VisitSpec(nil), s.Visits...)
			tt.edit(&s)
			err := s.Validate()
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Errorf("err %v (field %q), want field %q", err, errs.FieldOf(err), tt.field)
			}
		})
	}
	t.Run("filed under the wrong type", func(t *testing.T) {
		s := DefaultSchedules()
		s.RGP = s.OrthoK
		if err := s.Validate(); errs.FieldOf(err) != "rgp.lensType" {
			t.Errorf("err %v", err)
		}
	})
}

func TestDecodeSchedules(t *testing.T) {
	b, _ := json.Marshal(DefaultSchedules())
	got, err := DecodeSchedules(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Scleral.YearlyFrom != 2 || len(got.OrthoK.Visits) != 6 {
		t.Errorf("round trip: %+v", got)
	}
	if _, err := DecodeSchedules(strings.NewReader(`{"rgp":{"nmae":"x"}}`)); !errs.Is(errs.Invalid, err) {
		t.Errorf("unknown field: %v", err)
	}
	custom := strings.Replace(string(b), `"minWindowDays":3`, `"minWindowDays":0`, 1)
	if _, err := DecodeSchedules(strings.NewReader(custom)); errs.FieldOf(err) != "rgp.minWindowDays" {
		t.Errorf("invalid value: %v", err)
	}
}
