package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/adapters/embeddedtest"
	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// assessFixture is a dispatched RGP order of demo-north over a designed
// scan (version 1), on the embedded adapters.
type assessFixture struct {
	svc    *orders.Service
	scans  *scans.Service
	docs   ports.Documents
	audit  *flakyAudit
	north  auth.Actor
	order  orders.Order
	now    time.Time
	powerD float64 // the ordered design's power
	setNow func(time.Time)
}

// flakyAudit is an audit log whose next write of action fails, once.
type flakyAudit struct {
	audit.Memory
	mu     sync.Mutex
	failOn string
}

func (f *flakyAudit) Write(ctx context.Context, r audit.Record) error {
	f.mu.Lock()
	fail := f.failOn != "" && f.failOn == r.Action
	if fail {
		f.failOn = ""
	}
	f.mu.Unlock()
	if fail {
		return errors.New("audit log unavailable")
	}
	return f.Memory.Write(ctx, r)
}

func newAssessFixture(t *testing.T) *assessFixture {
	t.Helper()
	ctx := context.Background()
	docs, blobs, sealer := embeddedtest.Open(t)
	f := &assessFixture{docs: docs, audit: &flakyAudit{}, now: day0.Add(7 * 24 * time.Hour),
		north: auth.Actor{Subject: "dr-north", Role: "practitioner", ClinicID: "demo-north", RequestID: "r1"}}
	f.scans = &scans.Service{Docs: docs, Blobs: blobs, Sealer: sealer}
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return f.now }
	f.svc = &orders.Service{Docs: docs, Blobs: blobs, Sealer: sealer, Scans: f.scans, Kit: servicekit.Kit{AuditLog: f.audit, Clock: clock}}
	f.setNow = func(t time.Time) { mu.Lock(); f.now = t; mu.Unlock() }

	p, err := f.scans.CreatePatient(ctx, f.north, scans.PatientInput{Name: "Assess Tester", BirthDate: "1970-01-02"})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := f.scans.Upload(ctx, f.north, scans.UploadInput{PatientID: p.ID, Eye: "OD", LensType: "rgp", Rx: "-3.5",
		File: topotest.Reference().CSV()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.scans.DesignScan(ctx, scans.ScanReceived{ScanID: sc.ID, ClinicID: sc.ClinicID, PatientID: p.ID}, "req"); err != nil {
		t.Fatal(err)
	}
	d, err := f.scans.GetDesign(ctx, f.north, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.powerD = d.Lens.PowerD
	dispatched := day0
	f.order = orders.Order{ID: "order-1", ClinicID: "demo-north", PatientID: p.ID, ScanID: sc.ID, DesignID: d.DesignID, DesignVersion: 1,
		LensType: "rgp", Quantity: 1, Status: workflow.OrderDispatched, Created: day0.Add(-48 * time.Hour), Dispatched: &dispatched,
		Timeline: []workflow.TimelineEntry{{At: day0.Add(-48 * time.Hour), Subject: "order", To: "placed", Actor: "practitioner"},
			{At: day0, Subject: "order", From: "placed", To: "dispatched", Actor: "lab"}}}
	if err := docs.RunTransaction(ctx, func(_ context.Context, tx ports.Tx) error {
		return tx.Set(orders.OrdersCollection, f.order.ID, f.order)
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// assess records body on the fixture's order, decoded as the Orders
// function decodes it (id "" lets the service choose, as a request without
// an Idempotency-Key does).
func (f *assessFixture) assess(id, body string) (orders.AssessmentView, error) {
	var in orders.AssessInput
	if err := httpkit.UnmarshalStrict([]byte(body), &in); err != nil {
		return orders.AssessmentView{}, err
	}
	return f.svc.Assess(context.Background(), f.north, f.order.ID, id, in)
}

// rgpAdjust is an RGP week-1 assessment with an over-refraction of sphere D.
func rgpAdjust(visit string, sphereD float64, extra string) string {
	return fmt.Sprintf(`{"visitKey":%q,"visualAcuity":"6/9","overRefraction":{"sphereD":%.2f},"comfort":8,"outcome":"adjust"%s}`,
		visit, sphereD, extra)
}

// state is what the store holds for the order: design versions of the
// scan, assessments, design-revised events, the current design's power.
type assessState struct {
	versions, assessments, events int
	current                       int
	powerD                        float64
	revisions                     int
}

func (f *assessFixture) state(t *testing.T) assessState {
	t.Helper()
	ctx := context.Background()
	var st assessState
	count := func(q ports.Query) int {
		docs, err := f.docs.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return len(docs)
	}
	st.versions = count(ports.Query{Collection: scans.DesignsCollection, Where: []ports.Where{{Field: "scanId", Op: "==", Value: f.order.ScanID}}})
	st.assessments = count(ports.Query{Collection: orders.AssessmentsCollection, Where: []ports.Where{{Field: "orderId", Op: "==", Value: f.order.ID}}})
	st.events = count(ports.Query{Collection: outbox.Collection, Where: []ports.Where{{Field: "topic", Op: "==", Value: orders.TopicDesignRevised}}})
	var sc scans.Scan
	if err := f.docs.Get(ctx, scans.ScansCollection, f.order.ScanID, &sc); err != nil {
		t.Fatal(err)
	}
	st.current = sc.DesignVersion
	_, d, err := f.scans.Design(ctx, "demo-north", sc.DesignID)
	if err != nil {
		t.Fatal(err)
	}
	st.powerD = d.Lens.PowerD
	var o orders.Order
	if err := f.docs.Get(ctx, orders.OrdersCollection, f.order.ID, &o); err != nil {
		t.Fatal(err)
	}
	st.revisions = len(o.Revisions)
	return st
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// actions lists the audit records' actions and resources from index from.
func (f *assessFixture) actions(from int) []string {
	var out []string
	for _, r := range f.audit.Records()[from:] {
		out = append(out, r.Action+" "+r.Resource)
	}
	return out
}

// Issue 15, item 3: the same adjust assessment of a visit sent again (no
// Idempotency-Key: a retry, a double click) answers the first one and
// adjusts nothing; a different one for the visit is 409 naming the visit
// and the assessment, unless it supersedes it; a supersession recomputes
// from the design the visit found (-3.50 adjusted by -0.50, not by -1.00
// and then -0.50), keeps and marks the earlier one, and is audited as
// such; a continue superseding it gives the visit's design back.
func TestAssessVisitOnce(t *testing.T) {
	f := newAssessFixture(t)
	ctx := context.Background()

	first, err := f.assess("", rgpAdjust("week-1", -1, ""))
	if err != nil {
		t.Fatal(err)
	}
	if first.Replayed || first.RevisedVersion != 2 || first.Adjustment == nil {
		t.Fatalf("first: %+v", first)
	}
	if st := f.state(t); st.versions != 2 || st.current != 2 || st.assessments != 1 || st.events != 1 || st.revisions != 1 ||
		!near(st.powerD, f.powerD-1) {
		t.Fatalf("after the first: %+v (ordered power %.2f)", st, f.powerD)
	}
	n := len(f.audit.Records())

	// Again, and again with the fields in another order and an acuity as
	// a number: the same assessment.
	wantBody, _ := json.Marshal(first)
	for i, body := range []string{
		rgpAdjust("week-1", -1, ""),
		`{"outcome":"adjust","comfort":8,"overRefraction":{"sphereD":-1.00},"visualAcuity":"6/9","visitKey":"week-1"}`,
	} {
		again, err := f.assess("", body)
		if err != nil {
			t.Fatalf("repeat %d: %v", i, err)
		}
		gotBody, _ := json.Marshal(again)
		if !again.Replayed || string(gotBody) != string(wantBody) {
			t.Fatalf("repeat %d answered\n%s\nwant the first answer\n%s", i, gotBody, wantBody)
		}
	}
	if st := f.state(t); st.versions != 2 || st.current != 2 || st.assessments != 1 || st.events != 1 || st.revisions != 1 {
		t.Fatalf("after the repeats: %+v", st)
	}
	resource := "orders/" + f.order.ID + "/assessments/" + first.ID
	if got := f.actions(n); strings.Join(got, ";") != httpkit.ReplayAction+" "+resource+";"+httpkit.ReplayAction+" "+resource {
		t.Fatalf("audit of the repeats: %v", got)
	}

	// Different content for the recorded visit: 409 naming it.
	_, err = f.assess("", rgpAdjust("week-1", -0.5, ""))
	if !errs.Is(errs.Conflict, err) || errs.FieldOf(err) != "visitKey" || !strings.Contains(errs.Message(err), "week-1") ||
		!strings.Contains(errs.Message(err), first.ID) || !strings.Contains(errs.Message(err), `"supersedes"`) {
		t.Fatalf("different content: %v (%s)", err, errs.Message(err))
	}
	// Superseding needs an assessment of the same visit.
	for _, tc := range []struct{ body, field string }{
		{rgpAdjust("week-1", -0.5, `,"supersedes":"no-such-assessment"`), "supersedes"},
		{rgpAdjust("month-1", -0.5, `,"supersedes":"`+first.ID+`"`), "supersedes"},
		{rgpAdjust("week-1", -0.5, `,"supersedes":"../x"`), "supersedes"},
	} {
		if _, err := f.assess("", tc.body); !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field {
			t.Fatalf("%s: %v", tc.body, err)
		}
	}
	if st := f.state(t); st.versions != 2 || st.assessments != 1 || st.events != 1 {
		t.Fatalf("after the refusals: %+v", st)
	}

	// Superseding: -0.50 from the design week-1 found, as version 3.
	n = len(f.audit.Records())
	sup, err := f.assess("", rgpAdjust("week-1", -0.5, `,"supersedes":"`+first.ID+`"`))
	if err != nil {
		t.Fatal(err)
	}
	if sup.Replayed || sup.Supersedes != first.ID || sup.RevisedVersion != 3 || sup.FromDesignID != first.FromDesignID ||
		sup.FromDesignID != f.order.DesignID {
		t.Fatalf("supersede: %+v (first %+v)", sup, first)
	}
	if st := f.state(t); st.versions != 3 || st.current != 3 || st.assessments != 2 || st.events != 2 || st.revisions != 2 ||
		!near(st.powerD, f.powerD-0.5) {
		t.Fatalf("after the supersession: %+v, want power %.2f (ordered %.2f - 0.50, not stacked)", st, f.powerD-0.5, f.powerD)
	}
	if got := f.actions(n); len(got) != 1 || got[0] != orders.ActionAssessmentSupersede+" orders/"+f.order.ID+"/assessments/"+sup.ID {
		t.Fatalf("audit of the supersession: %v", got)
	}
	list, _, err := f.svc.Assessments(ctx, f.north, f.order.ID, paging.Request{})
	if err != nil || len(list) != 2 || list[0].ID != first.ID || list[0].SupersededBy != sup.ID || list[1].ID != sup.ID ||
		list[1].Supersedes != first.ID {
		t.Fatalf("assessments: %v %+v", err, list)
	}
	// The supersession sent again replays; superseding the superseded one
	// with other content is 409 naming the current one.
	if again, err := f.assess("", rgpAdjust("week-1", -0.5, `,"supersedes":"`+first.ID+`"`)); err != nil || !again.Replayed || again.ID != sup.ID {
		t.Fatalf("supersession again: %v %+v", err, again)
	}
	_, err = f.assess("", rgpAdjust("week-1", -0.75, `,"supersedes":"`+first.ID+`"`))
	if !errs.Is(errs.Conflict, err) || errs.FieldOf(err) != "supersedes" || !strings.Contains(errs.Message(err), sup.ID) {
		t.Fatalf("superseding a superseded assessment: %v", err)
	}

	// Continue superseding the adjustment: the design week-1 found, again.
	back, err := f.assess("", `{"visitKey":"week-1","visualAcuity":"6/6","comfort":9,"outcome":"continue","supersedes":"`+sup.ID+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	if back.RevisedVersion != 4 || back.Adjustment != nil || back.FromDesignID != f.order.DesignID {
		t.Fatalf("continue superseding: %+v", back)
	}
	if st := f.state(t); st.versions != 4 || st.current != 4 || st.assessments != 3 || st.events != 3 || !near(st.powerD, f.powerD) {
		t.Fatalf("after continue superseded the adjustment: %+v, want power %.2f", st, f.powerD)
	}

	// Another visit adjusts the current design; week-1 can no longer be
	// superseded (the lens has moved on), month-1 can.
	m1, err := f.assess("", rgpAdjust("month-1", -0.75, ""))
	if err != nil || m1.RevisedVersion != 5 || m1.FromDesignID != back.RevisedDesignID {
		t.Fatalf("month-1: %v %+v", err, m1)
	}
	if st := f.state(t); !near(st.powerD, f.powerD-0.75) {
		t.Fatalf("month-1 power %.2f, want %.2f", st.powerD, f.powerD-0.75)
	}
	_, err = f.assess("", rgpAdjust("week-1", -0.25, `,"supersedes":"`+back.ID+`"`))
	if !errs.Is(errs.Conflict, err) || errs.FieldOf(err) != "supersedes" || !strings.Contains(errs.Message(err), back.ID) {
		t.Fatalf("superseding week-1 after month-1 revised the design: %v", err)
	}
	if st := f.state(t); st.versions != 5 || st.assessments != 4 || st.events != 4 {
		t.Fatalf("after the refused supersession: %+v", st)
	}
}

// Ten identical requests at once make one assessment and one design
// version with one event; the other nine answer with it.
func TestAssessVisitConcurrent(t *testing.T) {
	f := newAssessFixture(t)
	const n = 10
	var wg sync.WaitGroup
	views := make([]orders.AssessmentView, n)
	errList := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			views[i], errList[i] = f.assess("", rgpAdjust("week-1", -1, ""))
		}()
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		if errList[i] != nil {
			t.Fatalf("request %d: %v", i, errList[i])
		}
		if views[i].ID != views[0].ID || views[i].RevisedDesignID != views[0].RevisedDesignID || views[i].RevisedVersion != 2 {
			t.Fatalf("request %d answered %+v, request 0 %+v", i, views[i], views[0])
		}
		if !views[i].Replayed {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d requests say they created the assessment", created)
	}
	if st := f.state(t); st.versions != 2 || st.current != 2 || st.assessments != 1 || st.events != 1 || st.revisions != 1 ||
		!near(st.powerD, f.powerD-1) {
		t.Fatalf("after %d concurrent requests: %+v (ordered power %.2f)", n, st, f.powerD)
	}
	acts := map[string]int{}
	for _, r := range f.audit.Records() {
		acts[r.Action]++
	}
	if acts[orders.ActionAssessmentCreate] != 1 || acts[httpkit.ReplayAction] != n-1 || len(f.audit.Records()) != n {
		t.Fatalf("audit: %v", acts)
	}

	// Ten identical continue assessments of another visit at once (no
	// design version to contend on): one assessment.
	week1 := views[0].ID
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i], errList[i] = f.assess("", `{"visitKey":"month-1","visualAcuity":"6/6","comfort":9,"outcome":"continue"}`)
		}()
	}
	wg.Wait()
	created = 0
	for i := range n {
		if errList[i] != nil || views[i].ID != views[0].ID || views[i].RevisedVersion != 0 {
			t.Fatalf("continue %d: %v %+v (request 0 %+v)", i, errList[i], views[i], views[0])
		}
		if !views[i].Replayed {
			created++
		}
	}
	if st := f.state(t); created != 1 || st.assessments != 2 || st.versions != 2 || st.events != 1 {
		t.Fatalf("%d continue requests created; %+v", created, st)
	}

	// Ten supersessions of week-1 at once, of three contents: one wins,
	// those of its content replay it, the others are 409 (the visit's
	// assessment is no longer the one they supersede).
	errList = make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i], errList[i] = f.assess("", rgpAdjust("week-1", -0.25*float64(i%3+1)-2, `,"supersedes":"`+week1+`"`))
		}()
	}
	wg.Wait()
	won := 0
	for i := range n {
		switch {
		case errList[i] == nil && !views[i].Replayed:
			won++
		case errList[i] == nil:
		case !errs.Is(errs.Conflict, errList[i]):
			t.Fatalf("supersession %d: %v", i, errList[i])
		}
	}
	if st := f.state(t); won != 1 || st.versions != 3 || st.current != 3 || st.assessments != 3 || st.events != 2 {
		t.Fatalf("%d supersessions won: %+v", won, st)
	}
}

// A request whose assessment was stored but whose answer failed (here its
// audit record) leaves one assessment and one version; its retry with the
// same Idempotency-Key (so the same id) is answered as created and audited
// as the create, a retry without one as a replay.
func TestAssessCommittedThenFailed(t *testing.T) {
	f := newAssessFixture(t)
	f.audit.failOn = orders.ActionAssessmentCreate
	if _, err := f.assess("key-1", rgpAdjust("week-1", -1, "")); !errs.Is(errs.Unavailable, err) {
		t.Fatalf("first attempt: %v", err)
	}
	if st := f.state(t); st.versions != 2 || st.assessments != 1 || st.events != 1 {
		t.Fatalf("after the failed answer: %+v", st)
	}
	retry, err := f.assess("key-1", rgpAdjust("week-1", -1, ""))
	if err != nil || retry.ID != "key-1" || retry.Replayed || retry.RevisedVersion != 2 {
		t.Fatalf("retry: %v %+v", err, retry)
	}
	other, err := f.assess("", rgpAdjust("week-1", -1, ""))
	if err != nil || other.ID != "key-1" || !other.Replayed {
		t.Fatalf("repeat: %v %+v", err, other)
	}
	if st := f.state(t); st.versions != 2 || st.assessments != 1 || st.events != 1 {
		t.Fatalf("after the retries: %+v", st)
	}
	if got := f.actions(0); len(got) != 2 || got[0] != orders.ActionAssessmentCreate+" orders/order-1/assessments/key-1" ||
		got[1] != httpkit.ReplayAction+" orders/order-1/assessments/key-1" {
		t.Fatalf("audit: %v", got)
	}
}

// Unscheduled visits are told apart by their UTC day: the same one twice
// that day is one visit, a different one that day is 409, the next day's is
// another visit, and yesterday's is superseded in its own visit.
func TestAssessUnscheduledVisits(t *testing.T) {
	f := newAssessFixture(t)
	cont := func(comfort int, extra string) string {
		return fmt.Sprintf(`{"visitKey":"unscheduled","visualAcuity":"6/6","comfort":%d,"outcome":"continue"%s}`, comfort, extra)
	}
	day1 := time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)
	f.setNow(day1)
	a1, err := f.assess("", cont(7, ""))
	if err != nil || a1.FromDesignID != f.order.DesignID {
		t.Fatalf("first unscheduled: %v %+v", err, a1)
	}
	f.setNow(day1.Add(14 * time.Hour)) // 23:00 UTC, the same day
	if again, err := f.assess("", cont(7, "")); err != nil || !again.Replayed || again.ID != a1.ID {
		t.Fatalf("again the same day: %v %+v", err, again)
	}
	if _, err := f.assess("", cont(5, "")); !errs.Is(errs.Conflict, err) || !strings.Contains(errs.Message(err), "unscheduled (2026-03-20)") ||
		!strings.Contains(errs.Message(err), a1.ID) {
		t.Fatalf("another the same day: %v", err)
	}
	f.setNow(day1.Add(24 * time.Hour))
	a2, err := f.assess("", cont(7, ""))
	if err != nil || a2.Replayed || a2.ID == a1.ID {
		t.Fatalf("the next day: %v %+v", err, a2)
	}
	a3, err := f.assess("", cont(5, `,"supersedes":"`+a1.ID+`"`))
	if err != nil || a3.Supersedes != a1.ID {
		t.Fatalf("superseding yesterday's: %v %+v", err, a3)
	}
	list, _, err := f.svc.Assessments(context.Background(), f.north, f.order.ID, paging.Request{})
	if err != nil || len(list) != 3 {
		t.Fatalf("assessments: %v %+v", err, list)
	}
	for _, v := range list {
		if (v.ID == a1.ID) != (v.SupersededBy == a3.ID) {
			t.Fatalf("assessment %+v", v)
		}
	}
	if st := f.state(t); st.versions != 1 || st.events != 0 {
		t.Fatalf("continue visits revised the design: %+v", st)
	}
}

// An assessment recorded before visits had documents still holds its
// visit: the same one again replays it, another is 409, and superseding
// it recomputes from the design it found.
func TestAssessVisitRecordedBefore(t *testing.T) {
	f := newAssessFixture(t)
	first, err := f.assess("", rgpAdjust("week-1", -1, ""))
	if err != nil {
		t.Fatal(err)
	}
	// Make it an old record: no visit document, no visit, no design found.
	ctx := context.Background()
	var rec orders.AssessmentRecord
	if err := f.docs.Get(ctx, orders.AssessmentsCollection, first.ID, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Visit, rec.FromDesignID = "", ""
	visits, err := f.docs.Query(ctx, ports.Query{Collection: orders.AssessmentVisitsCollection})
	if err != nil || len(visits) != 1 || strings.Contains(visits[0].ID, "week-1") || !strings.HasPrefix(visits[0].ID, f.order.ID+"_") {
		t.Fatalf("visit documents: %v %+v", err, visits)
	}
	if err := f.docs.RunTransaction(ctx, func(_ context.Context, tx ports.Tx) error {
		if err := tx.Delete(orders.AssessmentVisitsCollection, visits[0].ID); err != nil {
			return err
		}
		return tx.Set(orders.AssessmentsCollection, rec.ID, rec)
	}); err != nil {
		t.Fatal(err)
	}
	if again, err := f.assess("", rgpAdjust("week-1", -1, "")); err != nil || !again.Replayed || again.ID != first.ID {
		t.Fatalf("again: %v %+v", err, again)
	}
	if _, err := f.assess("", rgpAdjust("week-1", -0.5, "")); !errs.Is(errs.Conflict, err) {
		t.Fatalf("different: %v", err)
	}
	sup, err := f.assess("", rgpAdjust("week-1", -0.5, `,"supersedes":"`+first.ID+`"`))
	if err != nil || sup.FromDesignID != f.order.DesignID || sup.RevisedVersion != 3 {
		t.Fatalf("supersede: %v %+v", err, sup)
	}
	if st := f.state(t); st.versions != 3 || st.assessments != 2 || !near(st.powerD, f.powerD-0.5) {
		t.Fatalf("after superseding an old record: %+v", st)
	}
	if again, err := f.assess("", rgpAdjust("week-1", -0.5, "")); err != nil || again.ID != sup.ID {
		t.Fatalf("the visit is claimed now: %v %+v", err, again)
	}
}
