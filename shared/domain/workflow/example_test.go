package workflow_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
)

func ExampleTransition() {
	fmt.Println(workflow.Transition(workflow.JobCutting, workflow.JobInspection))

	err := workflow.Transition(workflow.JobCutting, workflow.JobDispatched)
	fmt.Println(errs.KindOf(err), errors.Is(err, workflow.ErrIllegal))
	fmt.Println(errs.Message(err))

	err = workflow.Transition(workflow.JobCutting, workflow.JobCutting)
	fmt.Println(errors.Is(err, workflow.ErrAlreadyInState), workflow.Ackable(err))
	// Output:
	// <nil>
	// conflict true
	// illegal transition: job cannot go from cutting to dispatched (next: inspection)
	// true true
}

func ExampleNext() {
	fmt.Println(workflow.Next(workflow.OrderPlaced))
	fmt.Println(workflow.Next(workflow.JobInspection))
	// Output:
	// [in_production cancelled]
	// [dispatched failed]
}

func ExampleJobState_Step() {
	j := workflow.NewJob()
	for _, s := range []workflow.JobStatus{"cutting", "inspection", "failed", "requeued", "cutting", "inspection", "failed", "requeued", "cutting", "inspection", "failed"} {
		j, _ = j.Step(s)
	}
	order, _ := j.OrderStatus()
	fmt.Println(j.Status, j.Failures, j.Exhausted(), order)

	_, err := j.Step(workflow.JobRequeued)
	fmt.Println(errs.Message(err))
	// Output:
	// failed 3 true needs_attention
	// illegal transition: too many failed inspections: job cannot go from failed to requeued after 3 failed inspections; its order needs attention
}

func ExampleAdvanceOrder() {
	// The job's "dispatched" event arrives before its "cutting" event.
	path, _ := workflow.AdvanceOrder(workflow.OrderPlaced, workflow.OrderDispatched)
	fmt.Println(path)
	// Then the late "cutting" event: nothing to do, ack it.
	_, err := workflow.AdvanceOrder(workflow.OrderDispatched, workflow.OrderInProduction)
	fmt.Println(workflow.Ackable(err), err)
	// Output:
	// [in_production dispatched]
	// true workflow.AdvanceOrder: already past that state: order is dispatched, past in_production
}

func ExampleAppend() {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tl, _ := workflow.Append(nil, at, "", workflow.OrderPlaced, "practitioner", "design=d_7,version=1")
	tl, _ = workflow.Append(tl, at.Add(2*time.Hour), workflow.OrderPlaced, workflow.OrderInProduction, "lab", "job=j_42")
	for _, e := range tl {
		fmt.Printf("%s %s %q -> %q by %s (%s)\n", e.At.Format(time.RFC3339), e.Subject, e.From, e.To, e.Actor, e.Note)
	}
	// Output:
	// 2026-03-01T09:00:00Z order "" -> "placed" by practitioner (design=d_7,version=1)
	// 2026-03-01T11:00:00Z order "placed" -> "in_production" by lab (job=j_42)
}
