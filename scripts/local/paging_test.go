package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/notifications"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/firestoreindex"
	"github.com/lensflow/lensflow/shared/reminders"
	"github.com/lensflow/lensflow/shared/scans"
)

// pageResult is one paged list answer: the items' keys, in order.
type pageResult struct {
	keys []string
	next string
}

// getPage fetches one page of a list route and returns its items' keys
// (key picks one from an item) and nextPageToken.
func (c client) getPage(path, token, list string, size int, pageToken string, key func(map[string]any) string) pageResult {
	c.t.Helper()
	q := url.Values{}
	q.Set("pageSize", fmt.Sprint(size))
	if pageToken != "" {
		q.Set("pageToken", pageToken)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	st, b, _ := c.do("GET", path+sep+q.Encode(), token, nil)
	if st != 200 {
		c.t.Fatalf("GET %s page: %d %s", path, st, b)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(b, &body); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	var items []map[string]any
	if err := json.Unmarshal(body[list], &items); err != nil || items == nil {
		c.t.Fatalf("GET %s: %q is not a list: %s", path, list, b)
	}
	var r pageResult
	if raw, ok := body["nextPageToken"]; ok {
		if err := json.Unmarshal(raw, &r.next); err != nil || r.next == "" {
			c.t.Fatalf("GET %s: nextPageToken present but empty: %s", path, b)
		}
	}
	for _, it := range items {
		r.keys = append(r.keys, key(it))
	}
	return r
}

// pageThrough follows nextPageToken from the first page to the last with
// pages of size, checks each page's size, and returns every key in order
// and the number of pages.
func (c client) pageThrough(path, token, list string, size int, key func(map[string]any) string) ([]string, int, string) {
	c.t.Helper()
	var all []string
	first := ""
	tok := ""
	for pages := 1; ; pages++ {
		if pages > 200 {
			c.t.Fatalf("%s: paging does not end", path)
		}
		r := c.getPage(path, token, list, size, tok, key)
		if len(r.keys) > size {
			c.t.Fatalf("%s: page of %d items, pageSize %d", path, len(r.keys), size)
		}
		all = append(all, r.keys...)
		if pages == 1 {
			first = r.next
		}
		if r.next == "" {
			return all, pages, first
		}
		tok = r.next
	}
}

func byID(it map[string]any) string { s, _ := it["id"].(string); return s }

// TestPagination seeds more items than a page for every list route and the
// comment thread, pages through each over HTTP with a small pageSize and
// checks every item comes once, in the route's order; refuses a bad
// pageSize and a foreign or forged pageToken naming the parameter; runs the
// scheduled tasks over more than one batch; and, with a recorder around
// the stack's document store, checks the queries issued against the
// registered shapes whose indexes Terraform declares
// (shared/ports/firestoreindex).
func TestPagination(t *testing.T) {
	for _, v := range []*int{&orders.CensusBatch, &notifications.RetryBatch, &outbox.FlushBatch, &reminders.RunBatch} {
		old := *v
		*v = 2
		t.Cleanup(func() { *v = old })
	}
	var rec *firestoreindex.Recorder
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: io.Discard,
		WrapDocs: func(d ports.Documents) ports.Documents { rec = firestoreindex.NewRecorder(d); return rec }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	ctx := context.Background()
	north, south, lab := st.Tokens["demo-north"], st.Tokens["demo-south"], st.LabToken

	// Patients through the API; the rest seeded as the services store them.
	var patients []string
	for range 5 {
		patients = append(patients, c.createPatient(north))
	}
	slices.Reverse(patients) // newest first
	c.createPatient(south)
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	seal := func(ad []byte) []byte {
		b, err := st.App.Sealer.Encrypt([]byte(`{"text":"ok"}`), ad)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var wantScans, wantOrders, wantAssess, wantComments, wantJobs []string
	err = st.App.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		set := func(coll, id string, v any) {
			if err == nil {
				err = tx.Set(coll, id, v)
			}
		}
		for i := range 5 {
			// Two scans per second, so that equal times are broken by id.
			id := fmt.Sprintf("scan-%d", i)
			set(scans.ScansCollection, id, scans.Scan{ID: id, ClinicID: "demo-north", PatientID: patients[0], Status: scans.StatusReceived,
				Eye: "OD", LensType: "rgp", Format: "xyz-csv", Received: base.Add(time.Duration(i/2) * time.Second)})
		}
		set(scans.ScansCollection, "scan-other", scans.Scan{ID: "scan-other", ClinicID: "demo-north", PatientID: patients[1], Received: base})
		wantScans = []string{"scan-4", "scan-3", "scan-2", "scan-1", "scan-0"} // newest first, then id desc
		for i := range 6 {
			id := fmt.Sprintf("ord-%d", i)
			o := orders.Order{ID: id, ClinicID: "demo-north", PatientID: patients[0], LensType: "rgp", Quantity: 1,
				Status: workflow.OrderPlaced, Created: base.Add(time.Duration(i) * time.Hour)}
			if i < 3 { // dispatched weeks ago: several follow-ups each
				d := base.AddDate(0, 0, -60+i)
				o.Status, o.Dispatched = workflow.OrderDispatched, &d
			}
			set(orders.OrdersCollection, id, o)
			wantOrders = append([]string{id}, wantOrders...)
		}
		set(orders.OrdersCollection, "ord-south", orders.Order{ID: "ord-south", ClinicID: "demo-south", Status: workflow.OrderPlaced, Created: base})
		for i := range 5 {
			id := fmt.Sprintf("as-%d", i)
			r := orders.AssessmentRecord{ID: id, OrderID: "ord-5", ClinicID: "demo-north", VisitKey: "unscheduled", Outcome: "continue",
				Created: base.Add(time.Duration(i) * time.Minute)}
			r.Sealed = seal(ports.AssociatedData("assessment", r.ClinicID, r.OrderID, r.ID))
			set(orders.AssessmentsCollection, id, r)
			wantAssess = append(wantAssess, id)
			cm := orders.CommentRecord{ID: fmt.Sprintf("cm-%d", i), OrderID: "ord-5", ClinicID: "demo-north", AuthorSubject: "someone",
				AuthorRole: "practitioner", Created: base.Add(time.Duration(i) * time.Minute)}
			cm.SealedText = seal(orders.AssociatedDataForComment(cm))
			set(orders.CommentsCollection, cm.ID, cm)
			wantComments = append(wantComments, cm.ID)
			j := labJob(fmt.Sprintf("job-%d", i), workflow.JobQueued, base.Add(time.Duration(i)*time.Minute))
			set(orders.JobsCollection, j.ID, j)
			wantJobs = append(wantJobs, j.ID)
		}
		set(orders.JobsCollection, "job-cut", labJob("job-cut", workflow.JobCutting, base))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	followKey := func(it map[string]any) string { return fmt.Sprint(it["orderId"], "/", it["visit"]) }
	clinicsPath := "/v1/clinics?near=" + url.QueryEscape("51.5074,-0.1278") + "&radiusKm=200"
	for _, tc := range []struct {
		name, path, token, list string
		key                     func(map[string]any) string
		want                    []string // nil: as the single page of everything
		min                     int
	}{
		{"patients", "/v1/patients", north, "patients", byID, patients, 5},
		{"scans", "/v1/patients/" + patients[0] + "/scans", north, "scans", byID, wantScans, 5},
		{"orders", "/v1/orders", north, "orders", byID, wantOrders, 6},
		{"assessments", "/v1/orders/ord-5/assessments", north, "assessments", byID, wantAssess, 5},
		{"comments, clinic", "/v1/orders/ord-5/comments", north, "comments", byID, wantComments, 5},
		{"comments, lab", "/v1/orders/ord-5/comments", lab, "comments", byID, wantComments, 5},
		{"follow-ups", "/v1/follow-ups", north, "followUps", followKey, nil, 6},
		{"lab jobs", "/v1/lab/jobs", lab, "jobs", byID, append([]string{"job-0", "job-cut"}, wantJobs[1:]...), 6},
		{"lab jobs by status", "/v1/lab/jobs?status=queued", lab, "jobs", byID, wantJobs, 5},
		{"clinics", clinicsPath, "", "clinics", byID, nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client{base: st.URL, t: t}
			whole := c.getPage(tc.path, tc.token, tc.list, 100, "", tc.key)
			if whole.next != "" {
				t.Fatalf("everything fits one page of 100, yet nextPageToken %q", whole.next)
			}
			want := tc.want
			if want == nil {
				want = whole.keys
			}
			if !slices.Equal(whole.keys, want) {
				t.Fatalf("one page: %v, want %v", whole.keys, want)
			}
			if len(want) < tc.min {
				t.Fatalf("only %d items, want at least %d to page over", len(want), tc.min)
			}
			for _, size := range []int{1, 2} {
				got, pages, _ := c.pageThrough(tc.path, tc.token, tc.list, size, tc.key)
				if !slices.Equal(got, want) {
					t.Fatalf("pages of %d: %v, want %v", size, got, want)
				}
				if pages < 2 {
					t.Fatalf("pages of %d: %d page(s)", size, pages)
				}
			}
			seen := map[string]bool{}
			for _, k := range want {
				if seen[k] {
					t.Fatalf("%s listed twice", k)
				}
				seen[k] = true
			}
		})
	}

	t.Run("follow-ups order", func(t *testing.T) {
		got, _, _ := c.pageThrough("/v1/follow-ups", north, "followUps", 3, followKey)
		// Oldest dispatch first: ord-0's visits, then ord-1's, then ord-2's.
		for i := 1; i < len(got); i++ {
			if strings.Split(got[i], "/")[0] < strings.Split(got[i-1], "/")[0] {
				t.Fatalf("follow-ups not by order of dispatch: %v", got)
			}
		}
	})

	t.Run("refusals", func(t *testing.T) {
		_, _, ordersToken := c.pageThrough("/v1/orders", north, "orders", 2, byID)
		_, _, jobsToken := c.pageThrough("/v1/lab/jobs?status=queued", lab, "jobs", 2, byID)
		forged := ordersToken[:len(ordersToken)-2] + "AA"
		for _, tc := range []struct{ name, path, token, field string }{
			{"negative pageSize", "/v1/orders?pageSize=-1", north, "pageSize"},
			{"non-integer pageSize", "/v1/orders?pageSize=ten", north, "pageSize"},
			{"fractional pageSize", "/v1/patients?pageSize=1.5", north, "pageSize"},
			{"clinics pageSize", clinicsPath + "&pageSize=-2", "", "pageSize"},
			{"garbage token", "/v1/orders?pageToken=not-a-token", north, "pageToken"},
			{"forged token", "/v1/orders?pageToken=" + forged, north, "pageToken"},
			{"another clinic's token", "/v1/orders?pageToken=" + ordersToken, south, "pageToken"},
			{"another route's token", "/v1/patients?pageToken=" + ordersToken, north, "pageToken"},
			{"other filters", "/v1/lab/jobs?status=cutting&pageToken=" + jobsToken, lab, "pageToken"},
			{"a thread's token on the lab's thread", "/v1/orders/ord-5/comments?pageToken=" + c.getPage("/v1/orders/ord-5/comments", north, "comments", 1, "", byID).next, lab, "pageToken"},
		} {
			st, b, _ := c.do("GET", tc.path, tc.token, nil)
			var p struct{ Field string }
			_ = json.Unmarshal(b, &p)
			if st != 400 || p.Field != tc.field {
				t.Errorf("%s: %d %s, want 400 naming %s", tc.name, st, b, tc.field)
			}
			if strings.Contains(string(b), "ZZCANARY") {
				t.Errorf("%s: PHI in the refusal: %s", tc.name, b)
			}
		}
		// Above the maximum is served as the maximum.
		if r := c.getPage("/v1/orders", north, "orders", 5000, "", byID); len(r.keys) != len(wantOrders) || r.next != "" {
			t.Errorf("pageSize 5000: %v %q", r.keys, r.next)
		}
		// Old clients of the locator: limit still pages.
		if st, b, _ := c.do("GET", clinicsPath+"&limit=1", "", nil); st != 200 || !strings.Contains(string(b), paging.NextToken) {
			t.Errorf("limit=1: %d %s", st, b)
		}
	})

	t.Run("tasks in batches of 2", func(t *testing.T) {
		var census struct{ Jobs map[string]int }
		st2, b, _ := c.do("POST", "/v1/tasks/census", st.ServiceToken, nil)
		if err := json.Unmarshal(b, &census); st2 != 200 || err != nil {
			t.Fatalf("census: %d %s", st2, b)
		}
		if census.Jobs["queued"] != 5 || census.Jobs["cutting"] != 1 {
			t.Errorf("census %v, want 5 queued and 1 cutting (read 2 at a time)", census)
		}
		var rep reminders.Report
		st2, b, _ = c.do("POST", "/v1/tasks/follow-ups", st.ServiceToken, nil)
		if err := json.Unmarshal(b, &rep); st2 != 200 || err != nil || rep.Orders != 3 || rep.Due == 0 {
			t.Errorf("follow-up task: %d %s, want 3 orders checked (read 2 at a time)", st2, b)
		}
		st2, b, _ = c.do("POST", "/v1/tasks/notifications", st.ServiceToken, nil)
		if st2 != 200 {
			t.Errorf("notifications task: %d %s", st2, b)
		}
		// Five stranded outbox entries, flushed two at a time.
		old := time.Now().Add(-time.Hour).UTC()
		if err := st.App.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
			for i := range 5 {
				ev := ports.Event{ID: fmt.Sprintf("stranded-%d", i), Type: scans.TypeScanReceived, Source: scans.EventSource,
					Subject: "scans/none", Time: old, Data: json.RawMessage(`{"scanId":"none","clinicId":"demo-north","patientId":"none"}`)}
				if err := outbox.Add(ctx, tx, scans.TopicScanReceived, ev); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if st2, b, _ := c.do("POST", "/v1/tasks/outbox", st.ServiceToken, nil); st2 != 200 {
			t.Fatalf("outbox task: %d %s", st2, b)
		}
		for i := range 5 {
			var e outbox.Entry
			if err := st.App.Docs.Get(ctx, outbox.Collection, fmt.Sprintf("stranded-%d", i), &e); err == nil {
				t.Errorf("stranded-%d still in the outbox after the task", i)
			}
		}
	})

	// Every query the routes and tasks issued is a registered shape, and
	// every registered shape needing a composite index was issued: the
	// indexes Terraform declares (checked against the same registry by
	// infra/policy) are those the code needs.
	for _, m := range firestoreindex.Check(rec.Shapes()) {
		t.Error(m)
	}
}

// labJob is a job as the Manufacturing function writes one (every field
// the API answers set, so that the answers match the OpenAPI document),
// in status st.
func labJob(id string, st workflow.JobStatus, created time.Time) orders.Job {
	return orders.Job{ID: id, OrderID: "ord-5", ClinicID: "demo-north", DesignID: "des-5", LensType: "rgp", Quantity: 1,
		State: workflow.JobState{Status: st}, Status: st, Files: []orders.JobFile{},
		Timeline: []workflow.TimelineEntry{}, Created: created, Updated: created}
}
