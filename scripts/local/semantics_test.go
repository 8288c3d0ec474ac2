package main

// HTTP semantics (security.md): every creating POST takes an
// Idempotency-Key (replay, 422, 409, nothing created twice); per-clinic
// rate limits answer 429 and the in-flight limit 503, both with
// Retry-After. Graceful shutdown under load is in shutdown_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/domain/aftercare"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// semNonCreatingPOSTs are the POST routes that create no resource, each
// with the reason a repeat without an Idempotency-Key is harmless. A POST
// route must be here or in its function's Creates.
var semNonCreatingPOSTs = map[string]string{
	"POST /v1/lab/jobs/{jobId}/status": "a job status transition: repeating one is an illegal transition (409), never a second job",
	"POST /v1/tasks/follow-ups":        "a scheduled task trigger: a second run for the same moment sends nothing twice",
	"POST /v1/tasks/notifications":     "a scheduled task trigger: retries due deliveries, each recorded once",
	"POST /v1/tasks/outbox":            "a scheduled task trigger: publishes stranded events, which consumers deduplicate by event id",
	"POST /v1/tasks/census":            "a scheduled task trigger: counts jobs by status and records the gauge; a repeat records the same counts",
}

// semFixture holds what the creating routes need: a patient, a designed
// scan and a dispatched order of clinic demo-north.
type semFixture struct {
	st                  *localstack.Stack
	c                   client
	token               string
	sample              []byte
	patient, design, od string
}

// semCreate says how to exercise one creating route.
type semCreate struct {
	collection  string // one document per created resource
	contentType string
	target      func(fx *semFixture) string
	body        func(fx *semFixture, i int) []byte // a valid request, different for each i
}

// semCreating covers every route declared in a function's Creates.
var semCreating = map[string]semCreate{
	"POST /v1/patients": {collection: scans.PatientsCollection, contentType: "application/json",
		target: func(*semFixture) string { return "/v1/patients" },
		body: func(_ *semFixture, i int) []byte {
			return fmt.Appendf(nil, `{"name":"Idem Tester %d","birthDate":"1970-01-%02d"}`, i, i%28+1)
		}},
	"POST /v1/patients/{patientId}/scans": {collection: scans.ScansCollection, contentType: "text/csv",
		target: func(fx *semFixture) string { return "/v1/patients/" + fx.patient + "/scans?eye=OD&lensType=rgp" },
		body: func(fx *semFixture, i int) []byte {
			return append(fmt.Appendf(nil, "# attempt %d\n", i), fx.sample...)
		}},
	"POST /v1/orders": {collection: orders.OrdersCollection, contentType: "application/json",
		target: func(*semFixture) string { return "/v1/orders" },
		body: func(fx *semFixture, i int) []byte {
			return fmt.Appendf(nil, `{"designId":%q,"quantity":1,"notes":"attempt %d"}`, fx.design, i)
		}},
	"POST /v1/orders/{orderId}/assessments": {collection: orders.AssessmentsCollection, contentType: "application/json",
		target: func(fx *semFixture) string { return "/v1/orders/" + fx.od + "/assessments" },
		body: func(_ *semFixture, i int) []byte {
			return fmt.Appendf(nil, `{"visitKey":"visit-%d","visualAcuity":"6/6","comfort":8,"outcome":%q}`, i, aftercare.OutcomeContinue)
		}},
	"POST /v1/orders/{orderId}/comments": {collection: orders.CommentsCollection, contentType: "application/json",
		target: func(fx *semFixture) string { return "/v1/orders/" + fx.od + "/comments" },
		body: func(_ *semFixture, i int) []byte {
			return fmt.Appendf(nil, `{"text":"comment number %d"}`, i)
		}},
}

// TestEveryPOSTRouteIsClassified: each POST route of every registered
// function is declared creating (and then has an idempotency case below)
// or is listed as non-creating with a reason. A new POST route with
// neither fails here. (Event functions' push endpoints are not routes:
// their consumers deduplicate by event id.)
func TestEveryPOSTRouteIsClassified(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range platform.Functions() {
		for _, route := range f.Routes {
			r := route.Pattern
			if !strings.HasPrefix(r, http.MethodPost+" ") {
				continue
			}
			seen[r] = true
			creates := route.Creates
			_, listed := semNonCreatingPOSTs[r]
			_, covered := semCreating[r]
			switch {
			case creates && listed:
				t.Errorf("%s (%s) is declared creating and listed as non-creating", r, f.Name)
			case creates && !covered:
				t.Errorf("%s (%s) creates resources but has no idempotency case in semCreating", r, f.Name)
			case !creates && !listed:
				t.Errorf("%s (%s): declare it Creates in %s's routes (it then gets Idempotency-Key handling) or list it in semNonCreatingPOSTs with a reason", r, f.Name, f.Name)
			case !creates && covered:
				t.Errorf("%s (%s) has an idempotency case but is not declared creating", r, f.Name)
			}
		}
	}
	for r := range semNonCreatingPOSTs {
		if !seen[r] {
			t.Errorf("semNonCreatingPOSTs lists %s, which no function serves", r)
		}
	}
	for r := range semCreating {
		if !seen[r] {
			t.Errorf("semCreating covers %s, which no function serves", r)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no POST routes registered")
	}
}

// TestCreatingRoutesAreIdempotent runs every declared creating route on the
// local stack: the same key and body replays the first answer (status,
// body, Location) and creates nothing; the same key with another body is
// 422; a duplicate sent while the first is in flight is 409, and only one
// resource is made.
func TestCreatingRoutesAreIdempotent(t *testing.T) {
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	fx := semSetup(t, st)
	var routes []string
	for _, f := range platform.Functions() {
		for _, r := range f.Routes {
			if r.Creates {
				routes = append(routes, r.Pattern)
			}
		}
	}
	slices.Sort(routes)
	if len(routes) < 4 {
		t.Fatalf("creating routes: %v", routes)
	}
	for _, route := range routes {
		t.Run(route, func(t *testing.T) {
			fx := *fx
			fx.c.t = t
			cs, ok := semCreating[route]
			if !ok {
				t.Fatal("no case for this creating route (see TestEveryPOSTRouteIsClassified)")
			}
			count := func() int {
				docs, err := st.App.Docs.Query(context.Background(), ports.Query{Collection: cs.collection})
				if err != nil {
					t.Fatal(err)
				}
				return len(docs)
			}
			target, key := cs.target(&fx), "sem-"+strings.NewReplacer(" ", "-", "/", "-", "{", "", "}", "").Replace(route)
			post := func(key string, body []byte) (int, []byte, http.Header) {
				return fx.c.do("POST", target, fx.token, body, "Content-Type", cs.contentType, "Idempotency-Key", key)
			}

			n := count()
			s1, b1, h1 := post(key, cs.body(&fx, 1))
			if s1 != http.StatusCreated || h1.Get("Location") == "" || h1.Get("Idempotent-Replayed") != "" {
				t.Fatalf("first request: %d Location %q: %s", s1, h1.Get("Location"), b1)
			}
			if got := count(); got != n+1 {
				t.Fatalf("the first request made %d resources", got-n)
			}
			s2, b2, h2 := post(key, cs.body(&fx, 1))
			if s2 != s1 || !bytes.Equal(b2, b1) || h2.Get("Location") != h1.Get("Location") ||
				h2.Get("Content-Type") != h1.Get("Content-Type") || h2.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay: %d Location %q %s; first: %d Location %q %s", s2, h2.Get("Location"), b2, s1, h1.Get("Location"), b1)
			}
			s3, b3, h3 := post(key, cs.body(&fx, 2))
			if s3 != http.StatusUnprocessableEntity || h3.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("same key, different body: %d %s", s3, b3)
			}
			if got := count(); got != n+1 {
				t.Fatalf("the replay or the mismatch made %d more resources", got-n-1)
			}

			// A concurrent duplicate: both requests are held in flight with
			// all but their last byte sent, then completed together. The
			// key is claimed once the body has arrived, so whichever claims
			// it first creates and the other is 409. If the two did not
			// overlap (the second came after the first had finished, and
			// was replayed), try again with a new key.
			for attempt := 3; ; attempt++ {
				k := fmt.Sprintf("%s-race-%d", key, attempt)
				before := count()
				a := semRace(t, st.URL+target, fx.token, cs.contentType, k, cs.body(&fx, attempt))
				if got := count(); got != before+1 {
					t.Fatalf("two concurrent requests with one key made %d resources: %+v", got-before, a)
				}
				slices.SortFunc(a[:], func(x, y semAnswer) int { return x.status - y.status })
				if a[0].status == http.StatusCreated && a[0].replayed != a[1].replayed && a[1].status == http.StatusCreated {
					if attempt >= 22 {
						t.Fatalf("no overlap in %d attempts", attempt-2)
					}
					continue
				}
				if a[0].status != http.StatusCreated || a[0].replayed || a[1].status != http.StatusConflict ||
					a[1].contentType != "application/problem+json" {
					t.Fatalf("concurrent duplicate: %+v", a)
				}
				t.Logf("concurrent duplicate answered 409 (attempt %d)", attempt-2)
				break
			}
		})
	}
}

// semSetup makes a patient, a designed RGP scan and a dispatched order.
func semSetup(t *testing.T, st *localstack.Stack) *semFixture {
	fx := &semFixture{st: st, c: client{base: st.URL, t: t}, token: st.Tokens["demo-north"]}
	var err error
	if fx.sample, err = os.ReadFile(samplePath); err != nil {
		t.Fatal(err)
	}
	fx.patient = fx.c.createPatient(fx.token)
	s, b, _ := fx.c.do("POST", "/v1/patients/"+fx.patient+"/scans?eye=OD&lensType=rgp&rx=-2.5", fx.token, fx.sample, "Content-Type", "text/csv")
	if s != http.StatusCreated {
		t.Fatalf("upload: %d %s", s, b)
	}
	var sc struct{ ID string }
	_ = json.Unmarshal(b, &sc)
	v, _ := fx.c.waitDesigned(fx.token, sc.ID, 30*time.Second)
	if fx.design, _ = v["designId"].(string); fx.design == "" {
		t.Fatalf("scan: %v", v)
	}
	s, b, _ = fx.c.do("POST", "/v1/orders", fx.token, fmt.Appendf(nil, `{"designId":%q,"quantity":1}`, fx.design), "Content-Type", "application/json")
	var o orders.OrderView
	if s != http.StatusCreated || json.Unmarshal(b, &o) != nil {
		t.Fatalf("order: %d %s", s, b)
	}
	fx.od = o.ID
	var job orders.Job
	for deadline := time.Now().Add(30 * time.Second); job.ID == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, b, _ := fx.c.do("GET", "/v1/lab/jobs?status=queued", st.LabToken, nil)
		var list struct{ Jobs []orders.Job }
		_ = json.Unmarshal(b, &list)
		for _, j := range list.Jobs {
			if j.OrderID == o.ID {
				job = j
			}
		}
	}
	if job.ID == "" {
		t.Fatalf("no job for order %s", o.ID)
	}
	for _, status := range []string{"cutting", "inspection", "dispatched"} {
		if s, b, _ := fx.c.do("POST", "/v1/lab/jobs/"+job.ID+"/status", st.LabToken, []byte(`{"status":"`+status+`"}`), "Content-Type", "application/json"); s != 200 {
			t.Fatalf("job status %s: %d %s", status, s, b)
		}
	}
	return fx
}

type semAnswer struct {
	status                            int
	replayed                          bool
	contentType, location, retryAfter string
	body                              string
	err                               error
}

// semHeld is a request whose body is sent through a pipe: Start sends
// headers (with Expect: 100-continue) and returns once the server's handler
// has begun reading the body, which then has all but its last byte;
// Finish sends the rest and returns the answer.
type semHeld struct {
	body   []byte
	pw     *io.PipeWriter
	done   chan semAnswer
	cont   chan struct{}
	prefix chan error
}

// semTransport waits for 100 Continue as long as a test may hold a body.
func semTransport() *http.Transport {
	return &http.Transport{ExpectContinueTimeout: time.Minute, MaxIdleConnsPerHost: 64, DisableKeepAlives: true}
}

func semStart(t testing.TB, hc *http.Client, method, url, token, contentType string, hdr http.Header, body []byte) *semHeld {
	t.Helper()
	pr, pw := io.Pipe()
	h := &semHeld{body: body, pw: pw, done: make(chan semAnswer, 1), cont: make(chan struct{}), prefix: make(chan error, 1)}
	req, err := http.NewRequest(method, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Expect", "100-continue")
	for k, v := range hdr {
		req.Header[k] = v
	}
	var once sync.Once
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got100Continue: func() { once.Do(func() { close(h.cont) }) },
	}))
	go func() {
		resp, err := hc.Do(req)
		a := semAnswer{err: err}
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			a = semAnswer{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed") == "true",
				contentType: resp.Header.Get("Content-Type"), location: resp.Header.Get("Location"),
				retryAfter: resp.Header.Get("Retry-After"), body: string(b), err: rerr}
		}
		_ = pr.CloseWithError(io.ErrClosedPipe) // unblock the writer if the server answered early
		h.done <- a
	}()
	go func() {
		_, err := pw.Write(body[:len(body)-1])
		h.prefix <- err
	}()
	return h
}

// await waits until the server's handler has read most of the body.
func (h *semHeld) await(t testing.TB) {
	t.Helper()
	select {
	case <-h.cont:
	case a := <-h.done:
		t.Fatalf("answered before reading the body: %+v", a)
	case <-time.After(30 * time.Second):
		t.Fatal("no 100 Continue: the handler never read the body")
	}
	select {
	case err := <-h.prefix:
		if err != nil {
			t.Fatalf("sending the body: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the body was not consumed")
	}
}

// release sends the last byte.
func (h *semHeld) release() {
	_, _ = h.pw.Write(h.body[len(h.body)-1:])
	_ = h.pw.Close()
}

func (h *semHeld) answer(t testing.TB) semAnswer {
	t.Helper()
	select {
	case a := <-h.done:
		return a
	case <-time.After(60 * time.Second):
		t.Fatal("no answer")
	}
	return semAnswer{}
}

// semRace sends two identical requests with one Idempotency-Key, holds both
// until the server reads them, and completes them together.
func semRace(t *testing.T, url, token, contentType, key string, body []byte) [2]semAnswer {
	t.Helper()
	tr := semTransport()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: apiCheck.Transport(tr)}
	hdr := http.Header{"Idempotency-Key": {key}}
	held := [2]*semHeld{semStart(t, hc, "POST", url, token, contentType, hdr, body), semStart(t, hc, "POST", url, token, contentType, hdr, body)}
	for _, h := range held {
		h.await(t)
	}
	var wg sync.WaitGroup
	for _, h := range held {
		wg.Add(1)
		go func() { defer wg.Done(); h.release() }()
	}
	wg.Wait()
	var out [2]semAnswer
	for i, h := range held {
		if out[i] = h.answer(t); out[i].err != nil {
			t.Fatalf("request %d: %v", i, out[i].err)
		}
	}
	return out
}

// TestOverloadAnswers runs the local stack with tiny limits: a clinic past
// its rate limit is answered 429 with Retry-After and a problem body while
// another clinic is served, and recovers after Retry-After; a function with
// its in-flight limit reached sheds further requests with 503 and
// Retry-After, and serves again once they finish.
func TestOverloadAnswers(t *testing.T) {
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: io.Discard,
		Config: bootstrap.Config{RateLimit: 1, RateBurst: 3, MaxInFlight: 2, ClinicShare: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	north, south := st.Tokens["demo-north"], st.Tokens["demo-south"]
	unknownOrder := "/v1/orders/00000000-0000-0000-0000-000000000000"

	t.Run("rate limit per clinic", func(t *testing.T) {
		c := client{base: st.URL, t: t}
		// A burst of 3, then one request a second: however slowly this
		// machine sends them, the eighth request comes too soon.
		var s, served int
		var b []byte
		var h http.Header
		for range 8 {
			if s, b, h = c.do("GET", unknownOrder, north, nil); s != http.StatusNotFound {
				break
			}
			served++
		}
		if served < 3 {
			t.Fatalf("only %d requests served before %d: the burst is 3", served, s)
		}
		var p httpkit.Problem
		if s != http.StatusTooManyRequests || h.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil || p.Status != 429 {
			t.Fatalf("beyond the burst: %d %s", s, b)
		}
		wait, err := strconv.Atoi(h.Get("Retry-After"))
		if err != nil || wait < 1 || wait > 2 {
			t.Fatalf("Retry-After %q at 1 request/s", h.Get("Retry-After"))
		}
		if s, b, _ := c.do("GET", unknownOrder, south, nil); s != http.StatusNotFound {
			t.Fatalf("another clinic while north is limited: %d %s", s, b)
		}
		if s, b, _ := c.do("GET", "/v1/lab/jobs", st.LabToken, nil); s != http.StatusOK {
			t.Fatalf("lab staff while north is limited: %d %s", s, b)
		}
		time.Sleep(time.Duration(wait) * time.Second)
		if s, b, _ := c.do("GET", unknownOrder, north, nil); s != http.StatusNotFound {
			t.Fatalf("north after Retry-After: %d %s", s, b)
		}
	})

	t.Run("in-flight limit", func(t *testing.T) {
		c := client{base: st.URL, t: t}
		sample, err := os.ReadFile(samplePath)
		if err != nil {
			t.Fatal(err)
		}
		pid := c.createPatient(south)
		tr := semTransport()
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: apiCheck.Transport(tr)}
		upload := st.URL + "/v1/patients/" + pid + "/scans?eye=OD&lensType=rgp"
		held := []*semHeld{semStart(t, hc, "POST", upload, south, "text/csv", nil, sample), semStart(t, hc, "POST", upload, south, "text/csv", nil, sample)}
		for _, h := range held {
			h.await(t)
		}
		s, b, h := c.do("GET", "/v1/scans/00000000-0000-0000-0000-000000000000", north, nil)
		if s != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || h.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("a third request to Scans with two in flight: %d %v %s", s, h, b)
		}
		if s, _, _ := c.do("GET", "/healthz", "", nil); s != http.StatusOK {
			t.Fatalf("health check: %d", s)
		}
		if s, b, _ := c.do("GET", unknownOrder, south, nil); s != http.StatusNotFound {
			t.Fatalf("another function is not limited by Scans' requests: %d %s", s, b)
		}
		for i, h := range held {
			h.release()
			if a := h.answer(t); a.err != nil || a.status != http.StatusCreated {
				t.Fatalf("held upload %d: %+v", i, a)
			}
		}
		if s, b, _ := c.do("GET", "/v1/scans/00000000-0000-0000-0000-000000000000", north, nil); s != http.StatusNotFound {
			t.Fatalf("after the in-flight requests finished: %d %s", s, b)
		}
	})
}
