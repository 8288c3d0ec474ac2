package aftercare

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/errs"
)

// Default schedule names and version. A lab that changes a schedule
// publishes it under its own name or a new version.
const (
	DefaultRGPScheduleName     = "lensflow-aftercare-rgp"
	DefaultOrthoKScheduleName  = "lensflow-aftercare-orthok"
	DefaultScleralScheduleName = "lensflow-aftercare-scleral"
	DefaultScheduleVersion     = "2026.1"
)

// MaxYears bounds the yearly visits: a schedule never yields a visit more
// than MaxYears years after dispatch, so every computation is finite.
const MaxYears = 30

// UnscheduledKey is the visit key of an assessment made outside the
// schedule (the patient came in with a problem). Schedules may not use it.
const UnscheduledKey = "unscheduled"

// VisitID is the identity within its order of the visit an assessment
// with visit key key records at recordedAt. A scheduled visit happens
// once, so its key is its identity ("week-1"). Unscheduled visits can be
// many: each is told apart by the UTC date it was recorded on,
// "unscheduled:2026-03-14". The same practitioner seeing the patient again
// on the same UTC day records the same visit (and corrects it by
// superseding its assessment); a visit recorded on another day is another
// visit. The colon cannot appear in a visit key, so the two kinds never
// collide.
func VisitID(key string, recordedAt time.Time) string {
	if key != UnscheduledKey {
		return key
	}
	return UnscheduledKey + ":" + recordedAt.UTC().Format(time.DateOnly)
}

// VisitLabel names a visit identity (VisitID) for a message: the key, or
// "unscheduled (2026-03-14)".
func VisitLabel(visitID string) string {
	if day, ok := strings.CutPrefix(visitID, UnscheduledKey+":"); ok {
		return UnscheduledKey + " (" + day + ")"
	}
	return visitID
}

// yearlyPrefix starts the key of every yearly visit ("year-1", "year-2").
// Fixed visits may not use it.
const yearlyPrefix = "year-"

// Visit is one follow-up visit of one order.
type Visit struct {
	// Key is stable and unique within an order's schedule ("delivery",
	// "day-1", "week-2", "month-3", "year-2"): callers record reminders
	// by (order id, Key).
	Key string `json:"key"`
	// Label is the visit in the lab's words ("Week 2", "Year 2").
	Label string `json:"label"`
	// Due is the date the visit falls due: 00:00 UTC.
	Due time.Time `json:"due"`
	// Until is the end of the visit's reminder window (exclusive): the
	// later of the next visit's due date and Due plus the schedule's
	// minimum window. Past it, a reminder is too late to matter.
	Until time.Time `json:"until"`
}

// VisitSpec is one fixed visit of a schedule: due Months months and then
// Days days after the dispatch date.
type VisitSpec struct {
	Key    string `json:"key"`
	Label  string `json:"label"`
	Months int    `json:"months,omitempty"`
	Days   int    `json:"days,omitempty"`
}

// Schedule is the follow-up schedule of one lens type: fixed visits, then
// one visit a year from YearlyFrom years after dispatch ("year-N", N from
// YearlyFrom to MaxYears).
//
// When is a visit due? From its due date until its window closes: the next
// visit's due date, but never sooner than MinWindowDays after its own. A
// daily run therefore sees each visit on every day of its window, and a
// caller that records what it sent (by order and visit key) sends each
// reminder exactly once, even after a missed run of up to MinWindowDays
// days or when the dispatch time falls after that day's run. A visit whose
// window has closed is not reported: the next visit has superseded it.
type Schedule struct {
	Name     string      `json:"name"`
	Version  string      `json:"version"`
	LensType string      `json:"lensType"`
	Visits   []VisitSpec `json:"visits"`
	// YearlyFrom is the year of the first yearly visit (1 = a year after
	// dispatch; 2 when a fixed visit already falls at 12 months). 1-10.
	YearlyFrom int `json:"yearlyFrom"`
	// MinWindowDays is the shortest reminder window (1-30 days).
	MinWindowDays int `json:"minWindowDays"`
}

// DefaultSchedule returns the handbook's schedule for a lens type ("rgp",
// "orthok" or "scleral"):
//
//	ortho-k: delivery, day 1 (morning after the first night), week 1,
//	         week 2, month 1, month 3, then yearly
//	scleral: delivery, week 2, months 1, 3, 6 and 12, then yearly (year 2 on)
//	RGP:     week 1, month 1, month 3, then yearly
//
// Visits count from the dispatch date: the lab does not know the day the
// clinic hands the lens over, so "delivery" falls due on dispatch (book
// it) and "day 1" the day after. Every window is at least 3 days long.
func DefaultSchedule(lensType string) (Schedule, error) {
	t, err := lens.ParseType(lensType)
	if err != nil {
		return Schedule{}, errs.Field("aftercare.DefaultSchedule", "lensType", "unknown lens type (want rgp, orthok or scleral)")
	}
	d := DefaultSchedules()
	return d.For(string(t))
}

// Schedules holds one schedule per lens type.
type Schedules struct {
	RGP     Schedule `json:"rgp"`
	OrthoK  Schedule `json:"orthok"`
	Scleral Schedule `json:"scleral"`
}

// DefaultSchedules returns the handbook's schedules, version 2026.1.
func DefaultSchedules() Schedules {
	day := func(key, label string, days int) VisitSpec { return VisitSpec{Key: key, Label: label, Days: days} }
	month := func(n int) VisitSpec {
		return VisitSpec{Key: "month-" + strconv.Itoa(n), Label: "Month " + strconv.Itoa(n), Months: n}
	}
	return Schedules{
		RGP: Schedule{
			Name: DefaultRGPScheduleName, Version: DefaultScheduleVersion, LensType: string(lens.RGP),
			Visits:     []VisitSpec{day("week-1", "Week 1", 7), month(1), month(3)},
			YearlyFrom: 1, MinWindowDays: 3,
		},
		OrthoK: Schedule{
			Name: DefaultOrthoKScheduleName, Version: DefaultScheduleVersion, LensType: string(lens.OrthoK),
			Visits: []VisitSpec{
				day("delivery", "Delivery", 0), day("day-1", "Day 1 (morning after the first night)", 1),
				day("week-1", "Week 1", 7), day("week-2", "Week 2", 14), month(1), month(3),
			},
			YearlyFrom: 1, MinWindowDays: 3,
		},
		Scleral: Schedule{
			Name: DefaultScleralScheduleName, Version: DefaultScheduleVersion, LensType: string(lens.Scleral),
			Visits: []VisitSpec{
				day("delivery", "Delivery", 0), day("week-2", "Week 2", 14),
				month(1), month(3), month(6), month(12),
			},
			YearlyFrom: 2, MinWindowDays: 3,
		},
	}
}

// For returns the schedule of a lens type.
func (s Schedules) For(lensType string) (Schedule, error) {
	switch lens.Type(lensType) {
	case lens.RGP:
		return s.RGP, nil
	case lens.OrthoK:
		return s.OrthoK, nil
	case lens.Scleral:
		return s.Scleral, nil
	}
	return Schedule{}, errs.Field("aftercare.Schedules.For", "lensType", "unknown lens type (want rgp, orthok or scleral)")
}

// Due returns the visits of an order of lensType dispatched at
// dispatchedAt that are due at asOf (see Schedule.Due).
func (s Schedules) Due(lensType string, dispatchedAt, asOf time.Time) ([]Visit, error) {
	sc, err := s.For(lensType)
	if err != nil {
		return nil, err
	}
	return sc.Due(dispatchedAt, asOf), nil
}

// Due returns the visits due at asOf under the default schedules: those
// whose due date has arrived and whose window has not closed, in date
// order. The result is the same however often it is called for the same
// day; the caller sends a reminder per (order id, Visit.Key) it has not
// sent before.
func Due(lensType string, dispatchedAt, asOf time.Time) ([]Visit, error) {
	return DefaultSchedules().Due(lensType, dispatchedAt, asOf)
}

// Validate checks every schedule and that each is filed under its type.
func (s Schedules) Validate() error {
	for _, c := range []struct {
		typ lens.Type
		sc  Schedule
	}{{lens.RGP, s.RGP}, {lens.OrthoK, s.OrthoK}, {lens.Scleral, s.Scleral}} {
		if err := c.sc.validate("aftercare.Schedules.Validate", string(c.typ)+"."); err != nil {
			return err
		}
		if c.sc.LensType != string(c.typ) {
			return errs.Field("aftercare.Schedules.Validate", string(c.typ)+".lensType", "must be %q", c.typ)
		}
	}
	return nil
}

// DecodeSchedules reads schedules as JSON (unknown fields refused) and
// validates them.
func DecodeSchedules(r io.Reader) (Schedules, error) {
	var s Schedules
	if err := decodeJSON("aftercare.DecodeSchedules", "schedules", r, &s); err != nil {
		return s, err
	}
	return s, s.Validate()
}

var keyRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$`)

// Validate checks the schedule: name and version, a known lens type,
// well-formed unique keys, offsets in range and visits strictly in date
// order before the first yearly visit.
func (s Schedule) Validate() error { return s.validate("aftercare.Schedule.Validate", "") }

func (s Schedule) validate(op, prefix string) error {
	switch {
	case s.Name == "" || len(s.Name) > 100:
		return errs.Field(op, prefix+"name", "a schedule needs a name of at most 100 characters")
	case s.Version == "" || len(s.Version) > 40:
		return errs.Field(op, prefix+"version", "a schedule needs a version of at most 40 characters")
	case s.YearlyFrom < 1 || s.YearlyFrom > 10:
		return errs.Field(op, prefix+"yearlyFrom", "must be 1 to 10")
	case s.MinWindowDays < 1 || s.MinWindowDays > 30:
		return errs.Field(op, prefix+"minWindowDays", "must be 1 to 30")
	case len(s.Visits) > 50:
		return errs.Field(op, prefix+"visits", "at most 50 fixed visits")
	}
	if _, err := lens.ParseType(s.LensType); err != nil {
		return errs.Field(op, prefix+"lensType", "unknown lens type (want rgp, orthok or scleral)")
	}
	seen := map[string]bool{}
	for i, v := range s.Visits {
		f := fmt.Sprintf("%svisits[%d]", prefix, i)
		switch {
		case !keyRE.MatchString(v.Key) || v.Key == UnscheduledKey || strings.HasPrefix(v.Key, yearlyPrefix):
			return errs.Field(op, f+".key", "must be 1-32 of a-z, 0-9 and '-', and not %q or %q...", UnscheduledKey, yearlyPrefix)
		case seen[v.Key]:
			return errs.Field(op, f+".key", "duplicate visit key")
		case v.Label == "" || len(v.Label) > 100:
			return errs.Field(op, f+".label", "a visit needs a label of at most 100 characters")
		case v.Months < 0 || v.Months > 12*10:
			return errs.Field(op, f+".months", "must be 0 to 120")
		case v.Days < 0 || v.Days > 366:
			return errs.Field(op, f+".days", "must be 0 to 366")
		}
		seen[v.Key] = true
	}
	// Strict date order, checked from anchors where month-end clamping
	// could make two visits meet.
	for _, anchor := range []time.Time{
		time.Date(2023, 1, 31, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2023, 8, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		prev := time.Time{}
		for i, v := range s.Visits {
			d := addMonths(anchor, v.Months).AddDate(0, 0, v.Days)
			if i > 0 && !d.After(prev) {
				return errs.Field(op, fmt.Sprintf("%svisits[%d]", prefix, i), "visits must be in strictly increasing date order")
			}
			prev = d
		}
		if len(s.Visits) > 0 && !addMonths(anchor, 12*s.YearlyFrom).After(prev) {
			return errs.Field(op, prefix+"yearlyFrom", "the first yearly visit must come after the last fixed visit")
		}
	}
	return nil
}

// Plan returns every visit of an order dispatched at dispatchedAt, in
// date order: the fixed visits, then the yearly ones up to MaxYears.
func (s Schedule) Plan(dispatchedAt time.Time) []Visit {
	anchor := dateUTC(dispatchedAt)
	out := make([]Visit, 0, len(s.Visits)+MaxYears)
	for _, v := range s.Visits {
		out = append(out, Visit{Key: v.Key, Label: v.Label, Due: addMonths(anchor, v.Months).AddDate(0, 0, v.Days)})
	}
	from := max(s.YearlyFrom, 1)
	for y := from; y <= MaxYears; y++ {
		out = append(out, Visit{Key: yearlyPrefix + strconv.Itoa(y), Label: "Year " + strconv.Itoa(y), Due: addMonths(anchor, 12*y)})
	}
	minWindow := max(s.MinWindowDays, 1)
	for i := range out {
		until := out[i].Due.AddDate(0, 0, minWindow)
		if i+1 < len(out) && out[i+1].Due.After(until) {
			until = out[i+1].Due
		}
		out[i].Until = until
	}
	return out
}

// Due returns the visits due at asOf, in date order: those with
// Due <= asOf < Until. Nothing is due before dispatch. The answer depends
// only on the dispatch date and asOf, so repeated runs agree.
func (s Schedule) Due(dispatchedAt, asOf time.Time) []Visit {
	var out []Visit
	if asOf.Before(dateUTC(dispatchedAt)) {
		return nil
	}
	for _, v := range s.Plan(dispatchedAt) {
		if !asOf.Before(v.Due) && asOf.Before(v.Until) {
			out = append(out, v)
		}
	}
	return out
}

// Next returns the first visit that falls due after after (strictly), and
// false when the schedule has none left (beyond MaxYears). Callers can
// store its date on the order to query only orders with a visit due.
func (s Schedule) Next(dispatchedAt, after time.Time) (Visit, bool) {
	for _, v := range s.Plan(dispatchedAt) {
		if v.Due.After(after) {
			return v, true
		}
	}
	return Visit{}, false
}

// HasKey reports whether key names a visit of this schedule (a fixed
// visit or "year-N" with N from YearlyFrom to MaxYears) or is
// UnscheduledKey.
func (s Schedule) HasKey(key string) bool {
	if key == UnscheduledKey {
		return true
	}
	for _, v := range s.Visits {
		if v.Key == key {
			return true
		}
	}
	if n, ok := strings.CutPrefix(key, yearlyPrefix); ok {
		y, err := strconv.Atoi(n)
		return err == nil && strconv.Itoa(y) == n && y >= max(s.YearlyFrom, 1) && y <= MaxYears
	}
	return false
}

// dateUTC returns the UTC calendar date of t at 00:00 UTC.
func dateUTC(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// addMonths adds n months to a date, clamping the day to the last day of
// a shorter month (time.AddDate would roll 31 January + 1 month into
// March).
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), 0, 0, 0, 0, time.UTC)
}
