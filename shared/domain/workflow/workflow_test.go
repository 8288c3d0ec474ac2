package workflow_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
)

// The legal edges, written out independently of the package's tables.
var (
	orderEdges = map[[2]workflow.OrderStatus]bool{
		{"placed", "in_production"}:          true,
		{"placed", "cancelled"}:              true,
		{"in_production", "dispatched"}:      true,
		{"in_production", "needs_attention"}: true,
		{"needs_attention", "in_production"}: true,
		{"needs_attention", "cancelled"}:     true,
		{"dispatched", "in_aftercare"}:       true,
		{"in_aftercare", "closed"}:           true,
	}
	jobEdges = map[[2]workflow.JobStatus]bool{
		{"queued", "cutting"}:        true,
		{"queued", "cancelled"}:      true,
		{"cutting", "inspection"}:    true,
		{"inspection", "dispatched"}: true,
		{"inspection", "failed"}:     true,
		{"failed", "requeued"}:       true,
		{"requeued", "cutting"}:      true,
		{"requeued", "cancelled"}:    true,
	}
	allOrders = []workflow.OrderStatus{"placed", "in_production", "needs_attention", "dispatched", "in_aftercare", "closed", "cancelled"}
	allJobs   = []workflow.JobStatus{"queued", "cutting", "inspection", "dispatched", "failed", "requeued", "cancelled"}
)

func checkPair[S workflow.Status](t *testing.T, from, to S, legal bool) {
	t.Helper()
	err := workflow.Transition(from, to)
	switch {
	case legal:
		if err != nil {
			t.Fatalf("Transition(%s, %s) = %v, want legal", from, to, err)
		}
	case from == to:
		if !errors.Is(err, workflow.ErrAlreadyInState) || errors.Is(err, workflow.ErrIllegal) || !errs.Is(errs.Conflict, err) || !workflow.Ackable(err) {
			t.Fatalf("Transition(%s, %s) = %v, want conflict ErrAlreadyInState", from, to, err)
		}
	default:
		if !errors.Is(err, workflow.ErrIllegal) || errors.Is(err, workflow.ErrAlreadyInState) || !errs.Is(errs.Conflict, err) || workflow.Ackable(err) {
			t.Fatalf("Transition(%s, %s) = %v, want conflict ErrIllegal", from, to, err)
		}
		msg := errs.Message(err)
		if !strings.Contains(msg, "from "+string(from)) || !strings.Contains(msg, "to "+string(to)) {
			t.Fatalf("message %q does not name both states", msg)
		}
	}
}

func TestOrderTransitionsEveryPair(t *testing.T) {
	if got := workflow.Statuses[workflow.OrderStatus](); !slices.Equal(got, allOrders) {
		t.Fatalf("Statuses = %v, want %v", got, allOrders)
	}
	for _, from := range allOrders {
		for _, to := range allOrders {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				checkPair(t, from, to, orderEdges[[2]workflow.OrderStatus{from, to}])
			})
		}
	}
}

func TestJobTransitionsEveryPair(t *testing.T) {
	if got := workflow.Statuses[workflow.JobStatus](); !slices.Equal(got, allJobs) {
		t.Fatalf("Statuses = %v, want %v", got, allJobs)
	}
	for _, from := range allJobs {
		for _, to := range allJobs {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				checkPair(t, from, to, jobEdges[[2]workflow.JobStatus{from, to}])
			})
		}
	}
}

func TestNextAgreesWithTransition(t *testing.T) {
	for _, from := range allOrders {
		var want []workflow.OrderStatus
		for _, to := range allOrders {
			if orderEdges[[2]workflow.OrderStatus{from, to}] {
				want = append(want, to)
			}
		}
		got := workflow.Next(from)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Next(%s) = %v, want %v", from, got, want)
		}
		if workflow.Final(from) != (len(want) == 0) {
			t.Errorf("Final(%s) = %v", from, workflow.Final(from))
		}
	}
	for _, from := range allJobs {
		var want []workflow.JobStatus
		for _, to := range allJobs {
			if jobEdges[[2]workflow.JobStatus{from, to}] {
				want = append(want, to)
			}
		}
		got := workflow.Next(from)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Next(%s) = %v, want %v", from, got, want)
		}
	}
	n := workflow.Next(workflow.OrderPlaced)
	n[0] = "scribbled"
	if workflow.Next(workflow.OrderPlaced)[0] == "scribbled" {
		t.Error("Next shares the machine's slice")
	}
	if workflow.Initial[workflow.OrderStatus]() != workflow.OrderPlaced || workflow.Initial[workflow.JobStatus]() != workflow.JobQueued {
		t.Error("wrong initial statuses")
	}
}

func TestCancelOnlyBeforeProduction(t *testing.T) {
	for _, from := range allOrders {
		err := workflow.Transition(from, workflow.OrderCancelled)
		want := from == workflow.OrderPlaced || from == workflow.OrderNeedsAttention
		if (err == nil) != want {
			t.Errorf("cancel from %s: %v", from, err)
		}
	}
}

func TestUnknownStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"order from", workflow.Transition(workflow.OrderStatus("shipped"), workflow.OrderPlaced)},
		{"order to", workflow.Transition(workflow.OrderPlaced, workflow.OrderStatus(""))},
		{"job to", workflow.Transition(workflow.JobQueued, workflow.JobStatus("placed"))},
		{"order status given as job", workflow.Transition(workflow.JobStatus("in_production"), workflow.JobCutting)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errs.Is(errs.Invalid, tt.err) || errs.FieldOf(tt.err) != "status" {
				t.Fatalf("err = %v, want invalid status", tt.err)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	for _, s := range allOrders {
		if got, err := workflow.ParseOrderStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseOrderStatus(%s) = %v, %v", s, got, err)
		}
	}
	for _, s := range allJobs {
		if got, err := workflow.ParseJobStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseJobStatus(%s) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "Cutting", "in production", "needs_attention", "<script>"} {
		_, err := workflow.ParseJobStatus(bad)
		if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "status" || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Errorf("ParseJobStatus(%q) = %v", bad, err)
		}
	}
	if _, err := workflow.ParseOrderStatus("cutting"); !errs.Is(errs.Invalid, err) {
		t.Errorf("ParseOrderStatus(cutting) = %v", err)
	}
}

func TestJobRequeueLoopIsBounded(t *testing.T) {
	j := workflow.NewJob()
	cycle := []workflow.JobStatus{workflow.JobCutting, workflow.JobInspection, workflow.JobFailed}
	for round := 1; round <= workflow.MaxInspectionFailures; round++ {
		for _, to := range cycle {
			var err error
			if j, err = j.Step(to); err != nil {
				t.Fatalf("round %d: step to %s: %v", round, to, err)
			}
		}
		if j.Failures != round {
			t.Fatalf("round %d: failures = %d", round, j.Failures)
		}
		want, _ := j.OrderStatus()
		if round < workflow.MaxInspectionFailures {
			if j.Exhausted() || want != workflow.OrderInProduction {
				t.Fatalf("round %d: exhausted=%v order=%s; want in_production", round, j.Exhausted(), want)
			}
			var err error
			if j, err = j.Step(workflow.JobRequeued); err != nil {
				t.Fatalf("round %d: requeue: %v", round, err)
			}
		}
	}
	if !j.Exhausted() || len(j.Next()) != 0 {
		t.Fatalf("after %d failures: exhausted=%v next=%v", j.Failures, j.Exhausted(), j.Next())
	}
	if o, ok := j.OrderStatus(); !ok || o != workflow.OrderNeedsAttention {
		t.Fatalf("order status = %s, %v; want needs_attention", o, ok)
	}
	got, err := j.Step(workflow.JobRequeued)
	if !errors.Is(err, workflow.ErrTooManyFailures) || !errors.Is(err, workflow.ErrIllegal) || !errs.Is(errs.Conflict, err) || got != j {
		t.Fatalf("requeue after %d failures = %+v, %v; want ErrTooManyFailures and no change", j.Failures, got, err)
	}
	if !strings.Contains(errs.Message(err), "failed to requeued") {
		t.Errorf("message %q does not name both states", errs.Message(err))
	}
	// The bound does not touch other transitions, and a duplicate is still a duplicate.
	if _, err := j.Step(workflow.JobFailed); !errors.Is(err, workflow.ErrAlreadyInState) {
		t.Fatalf("duplicate failed = %v", err)
	}
}

// TestJobRandomWalksTerminate walks the job machine at random: every walk
// ends (dispatched, cancelled or exhausted) within a bounded number of
// steps and never exceeds the failure limit.
func TestJobRandomWalksTerminate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const maxSteps = 1 + 3*workflow.MaxInspectionFailures + 2*(workflow.MaxInspectionFailures-1) + 2
	for range 2000 {
		j := workflow.NewJob()
		steps := 0
		for next := j.Next(); len(next) > 0; next = j.Next() {
			var err error
			if j, err = j.Step(next[rng.IntN(len(next))]); err != nil {
				t.Fatal(err)
			}
			if steps++; steps > maxSteps {
				t.Fatalf("walk did not end within %d steps: %+v", maxSteps, j)
			}
		}
		if j.Failures > workflow.MaxInspectionFailures {
			t.Fatalf("job failed %d times", j.Failures)
		}
		switch {
		case j.Status == workflow.JobDispatched, j.Status == workflow.JobCancelled, j.Exhausted():
		default:
			t.Fatalf("walk ended in %+v", j)
		}
	}
}

func TestJobOrderStatus(t *testing.T) {
	tests := []struct {
		job  workflow.JobState
		want workflow.OrderStatus
		ok   bool
	}{
		{workflow.JobState{Status: workflow.JobQueued}, "", false},
		{workflow.JobState{Status: workflow.JobCutting}, workflow.OrderInProduction, true},
		{workflow.JobState{Status: workflow.JobInspection}, workflow.OrderInProduction, true},
		{workflow.JobState{Status: workflow.JobFailed, Failures: 1}, workflow.OrderInProduction, true},
		{workflow.JobState{Status: workflow.JobFailed, Failures: 3}, workflow.OrderNeedsAttention, true},
		{workflow.JobState{Status: workflow.JobRequeued, Failures: 2}, workflow.OrderInProduction, true},
		{workflow.JobState{Status: workflow.JobDispatched, Failures: 2}, workflow.OrderDispatched, true},
		{workflow.JobState{Status: workflow.JobCancelled}, "", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.job.Status), func(t *testing.T) {
			if got, ok := tt.job.OrderStatus(); got != tt.want || ok != tt.ok {
				t.Fatalf("OrderStatus(%+v) = %s, %v; want %s, %v", tt.job, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestAdvanceOrder(t *testing.T) {
	tests := []struct {
		current, target workflow.OrderStatus
		want            []workflow.OrderStatus
		err             error
	}{
		{"placed", "in_production", []workflow.OrderStatus{"in_production"}, nil},
		{"placed", "dispatched", []workflow.OrderStatus{"in_production", "dispatched"}, nil},
		{"placed", "needs_attention", []workflow.OrderStatus{"in_production", "needs_attention"}, nil},
		{"in_production", "dispatched", []workflow.OrderStatus{"dispatched"}, nil},
		{"dispatched", "closed", []workflow.OrderStatus{"in_aftercare", "closed"}, nil},
		{"in_production", "in_production", nil, workflow.ErrAlreadyInState},
		{"dispatched", "in_production", nil, workflow.ErrStale},
		{"needs_attention", "in_production", nil, workflow.ErrStale}, // only a person restarts production
		{"cancelled", "in_production", nil, workflow.ErrStale},
		{"closed", "dispatched", nil, workflow.ErrStale},
		{"needs_attention", "dispatched", nil, workflow.ErrIllegal},
		{"in_production", "cancelled", nil, workflow.ErrIllegal},
	}
	for _, tt := range tests {
		t.Run(string(tt.current)+"->"+string(tt.target), func(t *testing.T) {
			got, err := workflow.AdvanceOrder(tt.current, tt.target)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !errs.Is(errs.Conflict, err) || got != nil {
					t.Fatalf("AdvanceOrder = %v, %v; want %v", got, err, tt.err)
				}
				if workflow.Ackable(err) != (tt.err != workflow.ErrIllegal) {
					t.Fatalf("Ackable(%v) wrong", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("AdvanceOrder = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := workflow.AdvanceOrder("placed", "lost"); !errs.Is(errs.Invalid, err) {
		t.Fatalf("unknown target: %v", err)
	}
}

// TestAdvanceOrderPathsAreLegal checks every pair: a returned path is made
// of legal single transitions and ends at the target.
func TestAdvanceOrderPathsAreLegal(t *testing.T) {
	for _, from := range allOrders {
		for _, to := range allOrders {
			path, err := workflow.AdvanceOrder(from, to)
			if err != nil {
				if !errs.Is(errs.Conflict, err) {
					t.Fatalf("%s->%s: %v", from, to, err)
				}
				continue
			}
			at := from
			for _, s := range path {
				if err := workflow.Transition(at, s); err != nil {
					t.Fatalf("%s->%s: step %s->%s illegal: %v", from, to, at, s, err)
				}
				at = s
			}
			if at != to {
				t.Fatalf("%s->%s: path %v ends at %s", from, to, path, at)
			}
		}
	}
}

// TestShuffledJobEventsConverge delivers a job's status events three times
// each in random order to an order consumer built from AdvanceOrder: the
// order always ends in the same state, and every no-op is Ackable.
func TestShuffledJobEventsConverge(t *testing.T) {
	run := func(t *testing.T, steps []workflow.JobStatus, want workflow.OrderStatus) {
		j := workflow.NewJob()
		var events []workflow.JobState
		for _, s := range steps {
			var err error
			if j, err = j.Step(s); err != nil {
				t.Fatal(err)
			}
			events = append(events, j, j, j)
		}
		rng := rand.New(rand.NewPCG(9, 9))
		for range 500 {
			rng.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
			order := workflow.OrderPlaced
			var tl []workflow.TimelineEntry
			for _, e := range events {
				target, ok := e.OrderStatus()
				if !ok {
					continue
				}
				path, err := workflow.AdvanceOrder(order, target)
				if err != nil {
					if !workflow.Ackable(err) {
						t.Fatalf("event %+v on order %s: %v", e, order, err)
					}
					continue
				}
				for _, s := range path {
					if tl, err = workflow.Append(tl, time.Unix(1, 0), order, s, "service", ""); err != nil {
						t.Fatal(err)
					}
					order = s
				}
			}
			if order != want {
				t.Fatalf("order ended %s, want %s (timeline %v)", order, want, tl)
			}
		}
	}
	t.Run("dispatched after a failure", func(t *testing.T) {
		run(t, []workflow.JobStatus{"cutting", "inspection", "failed", "requeued", "cutting", "inspection", "dispatched"}, workflow.OrderDispatched)
	})
	t.Run("exhausted", func(t *testing.T) {
		var steps []workflow.JobStatus
		for i := range workflow.MaxInspectionFailures {
			if i > 0 {
				steps = append(steps, "requeued")
			}
			steps = append(steps, "cutting", "inspection", "failed")
		}
		run(t, steps, workflow.OrderNeedsAttention)
	})
}

func TestAppend(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.FixedZone("AEDT", 11*3600))
	tl, err := workflow.Append(nil, at, "", workflow.OrderPlaced, "practitioner", "design=d_1,version=2")
	if err != nil {
		t.Fatal(err)
	}
	tl, err = workflow.Append(tl, at.Add(time.Hour), workflow.OrderPlaced, workflow.OrderInProduction, "service", "job=j_1")
	if err != nil {
		t.Fatal(err)
	}
	want := []workflow.TimelineEntry{
		{At: at.UTC(), Subject: "order", To: "placed", Actor: "practitioner", Note: "design=d_1,version=2"},
		{At: at.Add(time.Hour).UTC(), Subject: "order", From: "placed", To: "in_production", Actor: "service", Note: "job=j_1"},
	}
	if !slices.Equal(tl, want) || tl[0].At.Location() != time.UTC {
		t.Fatalf("timeline = %+v, want %+v", tl, want)
	}
	jt, err := workflow.Append(nil, at, "", workflow.JobQueued, "service", "")
	if err != nil || jt[0].Subject != "job" {
		t.Fatalf("job timeline = %+v, %v", jt, err)
	}

	// No aliasing: appending to a prefix leaves the longer timeline intact.
	base := tl[:1:2]
	if _, err := workflow.Append(base, at, workflow.OrderPlaced, workflow.OrderCancelled, "practitioner", ""); err != nil {
		t.Fatal(err)
	}
	if tl[1].To != "in_production" {
		t.Fatal("Append overwrote the caller's backing array")
	}

	tests := []struct {
		name     string
		at       time.Time
		from, to workflow.OrderStatus
		actor    string
		note     string
		check    func(error) bool
	}{
		{"duplicate", at, "in_production", "in_production", "lab", "", func(err error) bool { return errors.Is(err, workflow.ErrAlreadyInState) }},
		{"illegal", at, "dispatched", "placed", "lab", "", func(err error) bool { return errors.Is(err, workflow.ErrIllegal) }},
		{"creation not initial", at, "", "dispatched", "lab", "", func(err error) bool { return errors.Is(err, workflow.ErrIllegal) }},
		{"zero time", time.Time{}, "placed", "in_production", "lab", "", field("at")},
		{"no actor", at, "placed", "in_production", "", "", field("actor")},
		{"actor with spaces", at, "placed", "in_production", "Dr Smith", "", field("actor")},
		{"free text note", at, "placed", "in_production", "lab", "patient Jane Doe", field("note")},
		{"long note", at, "placed", "in_production", "lab", strings.Repeat("a", 201), field("note")},
		{"note with newline", at, "placed", "in_production", "lab", "a\nb", field("note")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := workflow.Append(tl, tt.at, tt.from, tt.to, tt.actor, tt.note)
			if !tt.check(err) || len(got) != len(tl) {
				t.Fatalf("Append = %d entries, %v", len(got), err)
			}
		})
	}
}

func field(name string) func(error) bool {
	return func(err error) bool { return errs.Is(errs.Invalid, err) && errs.FieldOf(err) == name }
}

func TestMarkNotesWithoutChangingStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tl, err := workflow.Append[workflow.OrderStatus](nil, t0, "", workflow.OrderPlaced, "practitioner", "")
	if err != nil {
		t.Fatal(err)
	}
	tl, err = workflow.Append(tl, t0.Add(2*time.Hour), workflow.OrderPlaced, workflow.OrderInProduction, "lab", "")
	if err != nil {
		t.Fatal(err)
	}
	// A comment made between the two, noted after the second: it goes
	// between them.
	tl, err = workflow.Mark(tl, t0.Add(time.Hour), workflow.SubjectComment, "posted", "lab", "comment=c-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 3 || tl[1].Subject != "comment" || tl[1].To != "posted" || tl[1].From != "" || tl[1].Note != "comment=c-1" || tl[2].To != "in_production" {
		t.Fatalf("timeline %+v", tl)
	}
	for _, bad := range []struct{ subject, event, actor, note string }{
		{"comment", "posted", "Lab Staff", ""},
		{"comment", "posted", "lab", "text with spaces"},
		{"Comment!", "posted", "lab", ""},
	} {
		if _, err := workflow.Mark(tl, t0, bad.subject, bad.event, bad.actor, bad.note); err == nil {
			t.Errorf("Mark accepted %+v", bad)
		}
	}
	if _, err := workflow.Mark(tl, time.Time{}, "comment", "posted", "lab", ""); err == nil {
		t.Error("Mark accepted a zero time")
	}
}
