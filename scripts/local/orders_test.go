package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/notifications/delivery/smtpsink"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/reminders"
)

// TestOrderToDispatch drives upload -> design -> order -> job -> cutting ->
// inspection -> dispatched on the local stack and checks the point files,
// the order's timeline, tenancy and the lab's role.
func TestOrderToDispatch(t *testing.T) { lifecycle(t, 1) }

// TestLifecycleWithTripledEvents runs the same flow with every event
// delivered three times, the copies in shuffled order: the end state is
// the same (one job, one notification per change, one reminder per visit).
func TestLifecycleWithTripledEvents(t *testing.T) { lifecycle(t, 3) }

func lifecycle(t *testing.T, dup int) {
	data := t.TempDir()
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: data, Log: io.Discard, DuplicateEvents: dup})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	north, south, lab := st.Tokens["demo-north"], st.Tokens["demo-south"], st.LabToken

	// The clinic's webhook receiver and email channel.
	var mu sync.Mutex
	var hooks []delivery.Notification
	var secret string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := delivery.Verify(secret, r.Header, body, time.Now(), 0); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(400)
			return
		}
		var p struct{ Data delivery.Notification }
		_ = json.Unmarshal(body, &p)
		hooks = append(hooks, p.Data)
		w.WriteHeader(204)
	}))
	defer hook.Close()
	s, b, _ := c.do("PUT", "/v1/clinic/notifications", north, []byte(`{"webhookUrl":"`+hook.URL+`/lensflow","emails":["frontdesk@north.example.com"]}`), "Content-Type", "application/json")
	var set struct{ WebhookSecret string }
	if s != 200 || json.Unmarshal(b, &set) != nil || !strings.HasPrefix(set.WebhookSecret, "whsec_") {
		t.Fatalf("notification settings: %d %s", s, b)
	}
	mu.Lock()
	secret = set.WebhookSecret
	mu.Unlock()
	if s, b, _ := c.do("GET", "/v1/clinic/notifications", north, nil); s != 200 || strings.Contains(string(b), "whsec_") {
		t.Fatalf("settings read shows the secret again: %d %s", s, b)
	}
	if s, _, _ := c.do("PUT", "/v1/clinic/notifications", north, []byte(`{"webhookUrl":"https://169.254.169.254/latest","emails":[]}`), "Content-Type", "application/json"); s != 400 {
		t.Fatalf("link-local webhook accepted: %d", s)
	}

	pid := c.createPatient(north)
	sample, _ := os.ReadFile(samplePath)
	s, b, _ = c.do("POST", "/v1/patients/"+pid+"/scans?eye=OD&lensType=orthok&rx=-3&hvid=11.8", north, sample)
	if s != 201 {
		t.Fatalf("upload %d %s", s, b)
	}
	var sc struct{ ID string }
	_ = json.Unmarshal(b, &sc)
	v, _ := c.waitDesigned(north, sc.ID, 20*time.Second)
	designID, _ := v["designId"].(string)
	if designID == "" {
		t.Fatalf("designed scan without a design id: %v", v)
	}

	// Ordering: validation, another clinic's design, then the real order.
	for _, tc := range []struct {
		token, body string
		want        int
	}{
		{north, `{"designId":"` + designID + `","quantity":0}`, 400},
		{north, `{"designId":"` + designID + `","quantity":1,"colour":"blue"}`, 400},
		{south, `{"designId":"` + designID + `","quantity":1}`, 404},
		{lab, `{"designId":"` + designID + `","quantity":1}`, 403},
	} {
		if s, b, _ := c.do("POST", "/v1/orders", tc.token, []byte(tc.body), "Content-Type", "application/json"); s != tc.want {
			t.Fatalf("order %s: %d, want %d: %s", tc.body, s, tc.want, b)
		}
	}
	body := []byte(`{"designId":"` + designID + `","quantity":2,"notes":"ZZCANARY please flatten the landing"}`)
	s, b, _ = c.do("POST", "/v1/orders", north, body, "Content-Type", "application/json", "Idempotency-Key", "order-1")
	if s != 201 {
		t.Fatalf("order: %d %s", s, b)
	}
	var o orders.OrderView
	_ = json.Unmarshal(b, &o)
	if s2, b2, _ := c.do("POST", "/v1/orders", north, body, "Content-Type", "application/json", "Idempotency-Key", "order-1"); s2 != 201 || !strings.Contains(string(b2), o.ID) {
		t.Fatalf("order replay: %d %s", s2, b2)
	}

	// The manufacturing function makes a job with point files.
	var job orders.Job
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s, b, _ := c.do("GET", "/v1/lab/jobs?status=queued", lab, nil)
		if s != 200 {
			t.Fatalf("lab jobs: %d %s", s, b)
		}
		var list struct{ Jobs []orders.Job }
		_ = json.Unmarshal(b, &list)
		for _, j := range list.Jobs {
			if j.OrderID == o.ID {
				job = j
			}
		}
		if job.ID != "" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if job.ID == "" || len(job.Files) == 0 {
		t.Fatalf("no job for order %s: %+v", o.ID, job)
	}
	s, b, _ = c.do("POST", "/v1/tasks/census", st.ServiceToken, nil)
	var census struct{ Jobs map[string]int }
	if s != 200 || json.Unmarshal(b, &census) != nil {
		t.Fatalf("census: %d %s", s, b)
	}
	s, b, _ = c.do("GET", "/v1/lab/jobs/"+job.ID+"/files/"+job.Files[0].Name, lab, nil)
	if s != 200 {
		t.Fatalf("point file: %d %s", s, b)
	}
	if _, err := lathe.Parse(b); err != nil {
		t.Fatalf("point file does not parse: %v", err)
	}
	for _, tc := range []struct {
		name, method, path, token string
		body                      string
		want                      int
	}{
		{"clinic on lab queue", "GET", "/v1/lab/jobs", north, "", 403},
		{"clinic reads point file", "GET", "/v1/lab/jobs/" + job.ID + "/files/" + job.Files[0].Name, north, "", 403},
		{"no token on lab", "GET", "/v1/lab/jobs", "", "", 401},
		{"unknown file", "GET", "/v1/lab/jobs/" + job.ID + "/files/x.V5B", lab, "", 404},
		{"other clinic's order", "GET", "/v1/orders/" + o.ID, south, "", 404},
		{"illegal transition", "POST", "/v1/lab/jobs/" + job.ID + "/status", lab, `{"status":"dispatched"}`, 409},
		{"unknown status", "POST", "/v1/lab/jobs/" + job.ID + "/status", lab, `{"status":"melted"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, b, _ := c.do(tc.method, tc.path, tc.token, []byte(tc.body), "Content-Type", "application/json"); s != tc.want {
				t.Fatalf("%d, want %d: %s", s, tc.want, b)
			}
		})
	}
	for _, status := range []string{"cutting", "inspection", "failed", "requeued", "cutting", "inspection", "dispatched"} {
		if s, b, _ := c.do("POST", "/v1/lab/jobs/"+job.ID+"/status", lab, []byte(`{"status":"`+status+`"}`), "Content-Type", "application/json"); s != 200 {
			t.Fatalf("status %s: %d %s", status, s, b)
		}
	}
	s, b, _ = c.do("GET", "/v1/orders/"+o.ID, north, nil)
	if s != 200 {
		t.Fatalf("order: %d %s", s, b)
	}
	var got orders.OrderView
	_ = json.Unmarshal(b, &got)
	if got.Status != "dispatched" || got.Dispatched == nil || got.JobID != job.ID || got.Notes == "" {
		t.Fatalf("order after dispatch: %+v", got)
	}
	var path []string
	for _, e := range got.Timeline {
		path = append(path, e.To)
	}
	if strings.Join(path, ",") != "placed,in_production,dispatched" {
		t.Fatalf("order timeline %v", path)
	}

	// Wear follow-ups: the morning after dispatch an ortho-k lens has its
	// delivery and day-1 visits due; a second run sends nothing again.
	asOf := got.Dispatched.Add(24 * time.Hour).UTC().Format(time.RFC3339)
	if s, _, _ := c.do("POST", "/v1/tasks/follow-ups?asOf="+asOf, north, nil); s != 403 {
		t.Fatalf("clinic ran the follow-up task: %d", s)
	}
	for i, want := range []int{2, 0} {
		s, b, _ := c.do("POST", "/v1/tasks/follow-ups?asOf="+asOf, st.ServiceToken, nil)
		var rep reminders.Report
		if s != 200 || json.Unmarshal(b, &rep) != nil || rep.Sent != want || rep.Due != 2 {
			t.Fatalf("follow-up run %d: %d %s (want %d sent)", i+1, s, b, want)
		}
	}

	// An assessment at week 1: under-corrected by 0.50 D, so the rules
	// flatten the BOZR by 0.10 mm in a revised design version.
	assess := `{"visitKey":"week-1","visualAcuity":"6/9","centralTearFilmUM":12,"residualRefractionD":-0.5,
		"fluoresceinNotes":"ZZCANARY bullseye, slight inferior","comfort":8,"outcome":"adjust"}`
	if s, b, _ := c.do("POST", "/v1/orders/"+o.ID+"/assessments", south, []byte(assess), "Content-Type", "application/json"); s != 404 {
		t.Fatalf("other clinic assessed the order: %d %s", s, b)
	}
	if s, b, _ := c.do("POST", "/v1/orders/"+o.ID+"/assessments", north, []byte(`{"visitKey":"week-1","comfort":11,"outcome":"continue"}`), "Content-Type", "application/json"); s != 400 {
		t.Fatalf("bad assessment: %d %s", s, b)
	}
	s, b, _ = c.do("POST", "/v1/orders/"+o.ID+"/assessments", north, []byte(assess), "Content-Type", "application/json", "Idempotency-Key", "visit-1")
	var av struct {
		RevisedDesignID string
		RevisedVersion  int
	}
	if s != 201 || json.Unmarshal(b, &av) != nil || av.RevisedVersion != 2 {
		t.Fatalf("assessment: %d %s", s, b)
	}
	var d2 pipeline.Result
	_, b, _ = c.do("GET", "/v1/scans/"+sc.ID+"/design", north, nil)
	_ = json.Unmarshal(b, &d2)
	if d2.DesignID != av.RevisedDesignID || d2.Version != 2 || d2.Lens.Revision == nil {
		t.Fatalf("current design after the adjustment: %s", b)
	}
	if delta := d2.Lens.BOZRMM - d2.Lens.Revision.From.BOZRMM; delta < 0.099 || delta > 0.101 {
		t.Fatalf("BOZR %.3f -> %.3f, want 0.10 flatter", d2.Lens.Revision.From.BOZRMM, d2.Lens.BOZRMM)
	}
	if s, b, _ := c.do("GET", "/v1/orders/"+o.ID+"/assessments", north, nil); s != 200 || !strings.Contains(string(b), `"visitKey":"week-1"`) {
		t.Fatalf("assessments: %d %s", s, b)
	}
	if s, _, _ := c.do("GET", "/v1/orders/"+o.ID+"/assessments", south, nil); s != 404 {
		t.Fatalf("another clinic read the assessments: %d, want 404", s)
	}
	if s, _, _ := c.do("GET", "/v1/orders/"+o.ID+"/assessments", lab, nil); s != 403 {
		t.Fatalf("lab token on a clinic route: %d, want 403", s)
	}
	if s, _, _ := c.do("POST", "/v1/orders", north, []byte(`{"designId":"`+designID+`","quantity":1}`), "Content-Type", "application/json"); s != 409 {
		t.Fatalf("ordering the superseded version: %d, want 409", s)
	}
	_, b, _ = c.do("GET", "/v1/orders/"+o.ID, north, nil)
	_ = json.Unmarshal(b, &got)
	if got.Status != "in_aftercare" || len(got.Revisions) != 1 || got.Revisions[0].Version != 2 {
		t.Fatalf("order after the assessment: %s", b)
	}

	// Notifications: one signed webhook per change of the order's status
	// (not per step inside the lab), per reminder and per revised design,
	// each also by email; thin, with no patient details.
	deadline = time.Now().Add(20 * time.Second)
	var got2 []delivery.Notification
	for time.Now().Before(deadline) {
		mu.Lock()
		got2 = append([]delivery.Notification(nil), hooks...)
		mu.Unlock()
		if len(got2) >= 5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	kinds := map[string]int{}
	for _, n := range got2 {
		kinds[n.Type+"/"+n.Status]++
		if n.OrderID != o.ID {
			t.Errorf("notification %+v", n)
		}
	}
	if len(got2) != 5 || kinds[delivery.TypeFollowUpDue+"/due"] != 2 || kinds[delivery.TypeOrderStatusChanged+"/dispatched"] != 1 ||
		kinds[delivery.TypeOrderStatusChanged+"/in_production"] != 1 || kinds[delivery.TypeDesignRevised+"/revised"] != 1 {
		t.Fatalf("webhooks %d: %v", len(got2), kinds)
	}
	// Nothing more arrives later (duplicates included), and the order has one job.
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	if len(hooks) != 5 {
		t.Fatalf("%d webhooks after settling, want 5", len(hooks))
	}
	mu.Unlock()
	_, b, _ = c.do("GET", "/v1/lab/jobs", lab, nil)
	var all struct{ Jobs []orders.Job }
	_ = json.Unmarshal(b, &all)
	if len(all.Jobs) != 1 {
		t.Fatalf("%d jobs for one order", len(all.Jobs))
	}
	var mails []string
	for time.Now().Before(deadline) {
		if mails, _ = smtpsink.Messages(filepath.Join(data, "mail")); len(mails) >= 5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(mails) != 5 {
		t.Fatalf("emails: %d", len(mails))
	}
	for _, m := range mails {
		b, _ := os.ReadFile(m)
		if bytes.Contains(b, []byte("ZZCANARY")) || !bytes.Contains(b, []byte("frontdesk@north.example.com")) {
			t.Fatalf("email %s: %s", m, b)
		}
	}

	// The metrics counted each notification once, duplicates of events
	// included, and the census saw the job while it was queued.
	m := labMetrics(t, c)
	for _, w := range []struct {
		name  string
		match map[string]string
		want  int64
	}{
		{metrics.NameNotificationsSent, map[string]string{metrics.KeyChannel: "webhook"}, 5},
		{metrics.NameNotificationsSent, map[string]string{metrics.KeyChannel: "email"}, 5},
		{metrics.NameNotificationsFailed, nil, 0},
		{metrics.NameJobTransitions, map[string]string{metrics.KeyStatus: "cutting"}, 2},
		{metrics.NameJobTransitions, map[string]string{metrics.KeyStatus: "failed"}, 1},
	} {
		if got := metrics.Total(m, w.name, w.match); got != w.want {
			t.Errorf("metric %s %v = %d, want %d", w.name, w.match, got, w.want)
		}
	}
	if census.Jobs["queued"] != 1 || census.Jobs["cutting"] != 0 {
		t.Errorf("census while the job was queued: %v", census.Jobs)
	}
}
