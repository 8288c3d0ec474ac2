package main

// One assessment per visit (issue 15, item 3), over HTTP: an assessment
// sent twice without an Idempotency-Key, or ten times at once, records one
// assessment and one design version; a different one for the visit is 409
// unless it supersedes the recorded one, which recomputes the lens from
// the design the visit found.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/orders"
)

func TestSemanticsAssessmentOncePerVisit(t *testing.T) {
	dir := t.TempDir()
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: dir, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	fx := semSetup(t, st)
	tap := tapEvents(t, st)
	defer tap.close()
	c, token := fx.c, fx.token
	target := "/v1/orders/" + fx.od + "/assessments"
	adjust := func(visit string, sphereD float64, extra string) []byte {
		return fmt.Appendf(nil, `{"visitKey":%q,"visualAcuity":"6/9","overRefraction":{"sphereD":%.2f},"comfort":8,"outcome":"adjust"%s}`,
			visit, sphereD, extra)
	}
	post := func(body []byte, hdr ...string) (int, []byte, http.Header) {
		return c.do("POST", target, token, body, append([]string{"Content-Type", "application/json"}, hdr...)...)
	}
	_, b, _ := c.do("GET", "/v1/orders/"+fx.od, token, nil)
	var o orders.OrderView
	if err := json.Unmarshal(b, &o); err != nil || o.ScanID == "" {
		t.Fatalf("order: %s", b)
	}
	design := func() pipeline.Result {
		t.Helper()
		s, b, _ := c.do("GET", "/v1/scans/"+o.ScanID+"/design", token, nil)
		var d pipeline.Result
		if s != http.StatusOK || json.Unmarshal(b, &d) != nil || d.Lens == nil {
			t.Fatalf("design: %d %s", s, b)
		}
		return d
	}
	ordered := design()
	wantDesign := func(step string, version int, powerD float64) {
		t.Helper()
		if d := design(); d.Version != version || math.Abs(d.Lens.PowerD-powerD) > 1e-9 {
			t.Fatalf("%s: design version %d power %+.2f D, want version %d %+.2f D (ordered %+.2f D)",
				step, d.Version, d.Lens.PowerD, version, powerD, ordered.Lens.PowerD)
		}
	}
	var requests []string // X-Request-Id of every assessment request, for the audit log

	// A double submit without an Idempotency-Key: the second answer is the
	// first, replayed, and the lens is adjusted once.
	s1, b1, h1 := post(adjust("week-1", -1, ""))
	s2, b2, h2 := post(adjust("week-1", -1, ""))
	requests = append(requests, h1.Get("X-Request-Id"), h2.Get("X-Request-Id"))
	var first orders.AssessmentView
	if s1 != http.StatusCreated || json.Unmarshal(b1, &first) != nil || first.RevisedVersion != 2 || h1.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v %s", s1, h1, b1)
	}
	if s2 != http.StatusCreated || !bytes.Equal(b2, b1) || h2.Get("Location") != h1.Get("Location") || h2.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("double submit: %d %v %s; first %s", s2, h2, b2, b1)
	}
	wantDesign("after a double submit", 2, ordered.Lens.PowerD-1)

	// Different content for week-1: 409 naming the visit and the
	// assessment, and how to supersede it.
	s, b, h := post(adjust("week-1", -0.5, ""))
	var p httpkit.Problem
	if s != http.StatusConflict || h.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil ||
		p.Field != "visitKey" || !strings.Contains(p.Detail, "week-1") || !strings.Contains(p.Detail, first.ID) ||
		!strings.Contains(p.Detail, `"supersedes"`) {
		t.Fatalf("different content: %d %s", s, b)
	}
	wantDesign("after the 409", 2, ordered.Lens.PowerD-1)

	// Superseding: -0.50 D from the ordered design, not on top of -1.00 D.
	s, b, h = post(adjust("week-1", -0.5, `,"supersedes":"`+first.ID+`"`))
	requests = append(requests, h.Get("X-Request-Id"))
	var sup orders.AssessmentView
	if s != http.StatusCreated || json.Unmarshal(b, &sup) != nil || sup.Supersedes != first.ID || sup.RevisedVersion != 3 ||
		sup.FromDesignID != ordered.DesignID {
		t.Fatalf("supersede: %d %s", s, b)
	}
	wantDesign("after the supersession", 3, ordered.Lens.PowerD-0.5)

	// Ten identical requests at once, half with their own Idempotency-Key
	// (a client that makes one per click), half without: one assessment,
	// one design version; nine answers are the first, replayed.
	const n = 10
	type answer struct {
		status   int
		body     []byte
		header   http.Header
		err      error
		replayed bool
	}
	answers := make([]answer, n)
	body := adjust("month-1", -0.75, "")
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest("POST", st.URL+target, bytes.NewReader(body))
			if err != nil {
				answers[i].err = err
				return
			}
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			if i%2 == 0 {
				req.Header.Set("Idempotency-Key", fmt.Sprintf("visit-parallel-%d", i))
			}
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers[i].err = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answers[i] = answer{status: resp.StatusCode, body: b, header: resp.Header, err: err,
				replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
		}()
	}
	close(start)
	wg.Wait()
	var m1 orders.AssessmentView
	created := 0
	for i, a := range answers {
		var v orders.AssessmentView
		if a.err != nil || a.status != http.StatusCreated || json.Unmarshal(a.body, &v) != nil {
			t.Fatalf("parallel request %d: %v %d %s", i, a.err, a.status, a.body)
		}
		requests = append(requests, a.header.Get("X-Request-Id"))
		if m1.ID == "" {
			m1 = v
		}
		if v.ID != m1.ID || v.RevisedDesignID != m1.RevisedDesignID || v.RevisedVersion != 4 {
			t.Fatalf("parallel request %d answered %s, another %+v", i, a.body, m1)
		}
		if !a.replayed {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d parallel requests say they created the assessment", created, n)
	}
	wantDesign("after ten at once", 4, ordered.Lens.PowerD-0.5-0.75)

	// What the order keeps: three assessments (week-1's first superseded,
	// never deleted) and three revisions.
	_, b, _ = c.do("GET", target, token, nil)
	var list struct{ Assessments []orders.AssessmentView }
	if err := json.Unmarshal(b, &list); err != nil || len(list.Assessments) != 3 {
		t.Fatalf("assessments: %s", b)
	}
	for _, a := range list.Assessments {
		if (a.ID == first.ID) != (a.SupersededBy == sup.ID) {
			t.Fatalf("assessment %+v (superseded by %s?)", a, sup.ID)
		}
	}
	_, b, _ = c.do("GET", "/v1/orders/"+fx.od, token, nil)
	if err := json.Unmarshal(b, &o); err != nil || len(o.Revisions) != 3 {
		t.Fatalf("order revisions: %s", b)
	}

	// One design-revised event per version made.
	revised := func() map[string]bool {
		ids := map[string]bool{}
		for _, d := range tap.deliveries() {
			if d.Event.Type == orders.TypeDesignRevised && strings.Contains(string(d.Event.Data), fx.od) {
				ids[d.Event.ID] = true
			}
		}
		return ids
	}
	for deadline := time.Now().Add(20 * time.Second); len(revised()) < 3 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	time.Sleep(2500 * time.Millisecond) // a relay pass: nothing more is published
	if got := revised(); len(got) != 3 {
		t.Fatalf("%d design-revised events, want 3", len(got))
	}

	// The audit log: one record per request; the creates, the
	// supersession and the replayed answers each as what they were.
	all, _ := readAuditLog(t, dir)
	actions := map[string]int{}
	for _, id := range requests {
		var recs []string
		for _, r := range all {
			if r.Audit.RequestID == id {
				recs = append(recs, r.Audit.Action+" "+r.Audit.Resource)
			}
		}
		if len(recs) != 1 {
			t.Fatalf("request %s has audit records %v, want one", id, recs)
		}
		actions[strings.Fields(recs[0])[0]]++
	}
	if actions[orders.ActionAssessmentCreate] != 2 || actions[orders.ActionAssessmentSupersede] != 1 || actions[httpkit.ReplayAction] != n {
		t.Fatalf("audit actions %v", actions)
	}
}
