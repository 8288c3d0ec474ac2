package main

// Shared fixture of the trust suite (authz_test.go, canary_test.go,
// audit_test.go): a local stack whose logs, events, webhooks and HTTP
// exchanges are all captured, the bad tokens the verifier must refuse, and
// one patient of demo-north taken through the whole flow so that every
// route has real ids to point at.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/auth/devissuer"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
)

// The PHI canary: identifiers that must never surface outside the
// authenticated answers meant to carry them. None can occur in an opaque
// id (uuids are hex), a timestamp or a number the system makes up.
const (
	canaryName        = "ZZCANARY Quillfeather"
	canaryBirth       = "1961-07-14" // the patient record's birth date
	canaryHeaderBirth = "14.07.1961" // the scan file header's, in a vendor's style
	canaryChart       = "ZZCHART-4815162342"
	canarySerial      = "ZZSERIAL-SN0042X"
	canaryNote        = "ZZCANARY Quillfeather asked about night wear"
)

// canaryNeedles are matched against lower-cased text.
var canaryNeedles = []string{"zzcanary", "quillfeather", canaryBirth, canaryHeaderBirth, strings.ToLower(canaryChart), strings.ToLower(canarySerial)}

// canaryHits lists the needles found in b, ignoring case.
func canaryHits(b []byte) []string {
	low := bytes.ToLower(b)
	var out []string
	for _, n := range canaryNeedles {
		if bytes.Contains(low, []byte(n)) {
			out = append(out, n)
		}
	}
	return out
}

// canaryHitsDeep is canaryHits over b and over every base64 string inside
// b when b is JSON ([]byte fields of stored documents and events are
// base64, and a plain search would miss what they hold).
func canaryHitsDeep(b []byte) []string {
	hits := canaryHits(b)
	var v any
	if json.Unmarshal(b, &v) != nil {
		return hits
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				hits = append(hits, canaryHits([]byte(k))...)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			if len(x) >= 8 {
				if d, err := base64.StdEncoding.DecodeString(x); err == nil {
					hits = append(hits, canaryHitsDeep(d)...)
				}
			}
		}
	}
	walk(v)
	return hits
}

// canaryCSO is the CSO sample with a vendor header carrying the patient's
// identifiers, as a topographer export does: name, birth date, chart
// number and device serial (keys topo's vendor header parser recognises).
func canaryCSO(t testing.TB) []byte {
	t.Helper()
	sample, err := os.ReadFile("../../shared/domain/topo/testdata/sample-cso-od.csv")
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := bytes.Cut(sample, []byte("\n"))
	head := fmt.Sprintf("Patient;%s\nDOB;%s\nChart number;%s\nSerial number;%s\n", canaryName, canaryHeaderBirth, canaryChart, canarySerial)
	var out bytes.Buffer
	out.Write(first)
	out.WriteString("\n" + head)
	out.Write(rest)
	return out.Bytes()
}

// principal is one column of the authorization matrix.
type principal string

const (
	pNone      principal = "no token"
	pMalformed principal = "malformed token"
	pExpired   principal = "expired token"
	pLongLived principal = "token living too long"
	pWrongAud  principal = "wrong audience"
	pWrongIss  principal = "wrong issuer"
	pOther     principal = "other clinic"
	pLab       principal = "lab staff"
	pService   principal = "service"
	pOwner     principal = "owning clinic"
)

// principals in the order each row tries them: the owner last, so that
// every refusal is checked before the one call that may change state.
var principals = []principal{pNone, pMalformed, pExpired, pLongLived, pWrongAud, pWrongIss, pOther, pLab, pService, pOwner}

// badTokens are the refused principals, each minted per role with the
// claims of a good token of that role, so that the one defect is the point.
var badTokens = []principal{pNone, pMalformed, pExpired, pLongLived, pWrongAud, pWrongIss}

// badReason is the problem detail each bad token must be refused with.
var badReason = map[principal]string{
	pNone:      auth.ErrMissingToken.Error(),
	pMalformed: auth.ErrMalformedToken.Error(),
	pExpired:   auth.ErrExpired.Error(),
	pLongLived: auth.ErrLifetimeTooLong.Error(),
	pWrongAud:  auth.ErrWrongAudience.Error(),
	pWrongIss:  auth.ErrUnknownIssuer.Error(),
}

// Subjects of the stack's tokens, as audit records name them.
const (
	northSubject   = "demo-north-practitioner"
	southSubject   = "demo-south-practitioner"
	labSubject     = "lab-demo"
	serviceSubject = "local-push"
)

// goodClaims are the claims of the stack's good token of each role.
var goodClaims = map[auth.Role]devissuer.Claims{
	auth.RolePractitioner: {Subject: northSubject, ClinicID: "demo-north", Role: auth.RolePractitioner,
		Email: "practitioner@demo-north.example", EmailVerified: true},
	auth.RoleLab:     {Subject: labSubject, Role: auth.RoleLab, Email: "lab@lensflow-local.example", EmailVerified: true},
	auth.RoleService: {Subject: serviceSubject, Role: auth.RoleService, Email: devissuer.ServiceEmail, EmailVerified: true},
}

// tokenSet holds the bearer tokens of every principal: bad ones per role.
type tokenSet struct {
	good map[principal]string
	bad  map[principal]map[auth.Role]string
}

// token returns p's bearer token for a route needing role.
func (ts tokenSet) token(p principal, role auth.Role) string {
	if m, ok := ts.bad[p]; ok {
		if role == "" {
			role = auth.RolePractitioner
		}
		return m[role]
	}
	return ts.good[p]
}

// mintTokens mints the bad tokens with the stack's own signing key: a
// different audience, a different issuer URL, an expiry an hour past and a
// lifetime an hour beyond the default cap (both signed by hand, since Mint
// refuses them). A control
// token minted the same way but unexpired proves the hand signing sound.
func mintTokens(t testing.TB, st *localstack.Stack, dir string) (tokenSet, map[auth.Role]string) {
	t.Helper()
	keyPath := filepath.Join(dir, "dev-issuer-key.pem")
	iss := st.Local.DevIssuer.Issuer()
	wrongAud, err := devissuer.Open(keyPath, iss, "someone-else")
	if err != nil {
		t.Fatal(err)
	}
	wrongIss, err := devissuer.Open(keyPath, strings.Replace(iss, "/dev-issuer", "/other-issuer", 1), devissuer.Audience)
	if err != nil {
		t.Fatal(err)
	}
	ts := tokenSet{
		good: map[principal]string{pOwner: st.Tokens["demo-north"], pOther: st.Tokens["demo-south"], pLab: st.LabToken, pService: st.ServiceToken},
		bad:  map[principal]map[auth.Role]string{},
	}
	control := map[auth.Role]string{}
	for _, p := range badTokens {
		ts.bad[p] = map[auth.Role]string{}
	}
	now := time.Now()
	for role, c := range goodClaims {
		ts.bad[pNone][role] = ""
		ts.bad[pMalformed][role] = "not-a-jwt"
		ts.bad[pExpired][role] = handSigned(t, keyPath, iss, c, now.Add(-2*time.Hour), now.Add(-time.Hour))
		ts.bad[pLongLived][role] = handSigned(t, keyPath, iss, c, now.Add(-time.Minute), now.Add(auth.DefaultMaxLifetime+time.Hour))
		control[role] = handSigned(t, keyPath, iss, c, now, now.Add(time.Hour))
		if ts.bad[pWrongAud][role], err = wrongAud.Mint(c, time.Hour); err != nil {
			t.Fatal(err)
		}
		if ts.bad[pWrongIss][role], err = wrongIss.Mint(c, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return ts, control
}

// handSigned signs c with the development issuer's key file, issued at iat
// and expiring at exp, in the shape DevIssuer.Mint produces.
func handSigned(t testing.TB, keyPath, iss string, c devissuer.Claims, iat, exp time.Time) string {
	t.Helper()
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block in the dev issuer key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := parsed.(crypto.Signer)
	alg := jose.RS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	thumb, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: base64.RawURLEncoding.EncodeToString(thumb)}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"iss": iss, "sub": c.Subject, "aud": []string{devissuer.Audience}, "iat": iat.Unix(), "exp": exp.Unix(),
		"role": string(c.Role), "email": c.Email, "email_verified": c.EmailVerified}
	if c.ClinicID != "" {
		claims["clinic_id"] = c.ClinicID
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// exchange is one recorded HTTP request and its answer.
type exchange struct {
	who     principal
	route   string // the registered pattern it exercises ("" if none)
	method  string
	target  string // path and query
	reqBody []byte
	status  int
	header  http.Header
	body    []byte
}

// recClient sends requests to the stack and records every exchange.
type recClient struct {
	base string
	t    testing.TB
	mu   sync.Mutex
	all  []exchange
}

// do sends method target with token (none if empty), body and header pairs.
func (c *recClient) do(who principal, route, method, target, token string, body []byte, hdr ...string) exchange {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+target, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.send(who, route, req, body, token)
}

// send sends req (whose body is body) with token.
func (c *recClient) send(who principal, route string, req *http.Request, body []byte, token string) exchange {
	c.t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	x := exchange{who: who, route: route, method: req.Method, target: req.URL.RequestURI(), reqBody: body,
		status: resp.StatusCode, header: resp.Header, body: b}
	c.mu.Lock()
	c.all = append(c.all, x)
	c.mu.Unlock()
	return x
}

// must sends like do and fails the test unless the answer is want.
func (c *recClient) must(want int, who principal, route, method, target, token string, body []byte, hdr ...string) exchange {
	c.t.Helper()
	x := c.do(who, route, method, target, token, body, hdr...)
	if x.status != want {
		c.t.Fatalf("%s %s as %s: %d, want %d: %s", method, target, who, x.status, want, x.body)
	}
	return x
}

func (c *recClient) exchanges() []exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]exchange(nil), c.all...)
}

// lockedBuffer is an io.Writer safe for the stack's concurrent loggers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

// eventTap receives a copy of every event on every topic of the stack
// through subscriptions of its own.
type eventTap struct {
	mu     sync.Mutex
	got    []ports.Delivery
	topics []string
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// stackTopics are every topic the stack publishes to or dead-letters into.
func stackTopics() []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	specs := []ports.SubscriptionSpec{orders.LatheCellSubscription}
	for _, f := range platform.Functions() {
		specs = append(specs, platform.Subscriptions(f)...)
	}
	for _, s := range specs {
		add(s.Topic)
		add(s.DeadLetterTopic)
	}
	return out
}

func tapEvents(t testing.TB, st *localstack.Stack) *eventTap {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	tap := &eventTap{stop: stop, topics: stackTopics()}
	for _, topic := range tap.topics {
		spec := ports.SubscriptionSpec{Name: "trust-tap-" + topic, Topic: topic, DeadLetterTopic: "trust-tap-" + topic + "-dl"}
		if err := st.Local.Broker.EnsureSubscription(ctx, spec); err != nil {
			t.Fatal(err)
		}
		tap.wg.Add(1)
		go func() {
			defer tap.wg.Done()
			_ = st.Local.Broker.Receive(ctx, spec.Name, func(_ context.Context, d ports.Delivery) error {
				tap.mu.Lock()
				tap.got = append(tap.got, d)
				tap.mu.Unlock()
				return nil
			})
		}()
	}
	return tap
}

func (e *eventTap) deliveries() []ports.Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ports.Delivery(nil), e.got...)
}

func (e *eventTap) close() {
	e.stop()
	e.wg.Wait()
}

// hookCall is one webhook delivery the clinic's receiver got.
type hookCall struct {
	target string
	header http.Header
	body   []byte
}

// hookSink is the clinic's webhook receiver, on loopback.
type hookSink struct {
	*httptest.Server
	mu    sync.Mutex
	calls []hookCall
}

func newHookSink() *hookSink {
	h := &hookSink{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.calls = append(h.calls, hookCall{target: r.URL.RequestURI(), header: r.Header.Clone(), body: b})
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	return h
}

func (h *hookSink) received() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.calls...)
}

// trustIDs are the real resources of demo-north the suite points at.
type trustIDs struct {
	patient, scan, design, order, job, file, assessment string
	design2, order2, job2                               string // the revised design, ordered again; its job is queued
	dispatched                                          time.Time
}

// all lists every id, for leak checks.
func (ids trustIDs) all() []string {
	return []string{ids.patient, ids.scan, ids.design, ids.order, ids.job, ids.assessment, ids.design2, ids.order2, ids.job2}
}

// trustStack is a running stack with everything captured and the flow done.
type trustStack struct {
	st     *localstack.Stack
	dir    string
	c      *recClient
	logs   *lockedBuffer
	events *eventTap
	hooks  *hookSink
	tok    tokenSet
	ctl    map[auth.Role]string
	ids    trustIDs
}

// northSettings is demo-north's notification channel setting.
func (ts *trustStack) northSettings() []byte {
	return []byte(`{"webhookUrl":"` + ts.hooks.URL + `/lensflow","emails":["frontdesk@north.example.com"]}`)
}

// newTrustStack starts a captured stack and takes a demo-north patient
// named by the canary through upload, design, order, manufacture and
// dispatch, a follow-up run, an adjusting assessment (design version 2)
// and a second order of the revised design, then waits for the clinic's
// notifications. Everything is shut down at the end of the test.
func newTrustStack(t *testing.T) *trustStack {
	t.Helper()
	ts := &trustStack{dir: t.TempDir(), logs: &lockedBuffer{}, hooks: newHookSink()}
	t.Cleanup(ts.hooks.Close)
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: ts.dir, Log: ts.logs})
	if err != nil {
		t.Fatal(err)
	}
	ts.st = st
	ts.events = tapEvents(t, st)
	t.Cleanup(func() {
		ts.events.close()
		_ = st.Shutdown()
	})
	ts.c = &recClient{base: st.URL, t: t}
	ts.tok, ts.ctl = mintTokens(t, st, ts.dir)
	ts.flow(t)
	return ts
}

func (ts *trustStack) flow(t *testing.T) {
	t.Helper()
	c, north, lab := ts.c, ts.tok.good[pOwner], ts.tok.good[pLab]
	jsonCT := []string{"Content-Type", "application/json"}
	c.must(200, pOwner, "PUT /v1/clinic/notifications", "PUT", "/v1/clinic/notifications", north, ts.northSettings(), jsonCT...)

	x := c.must(201, pOwner, "POST /v1/patients", "POST", "/v1/patients", north,
		[]byte(`{"name":"`+canaryName+`","birthDate":"`+canaryBirth+`"}`), "Content-Type", "application/json", "Idempotency-Key", "trust-patient")
	ts.ids.patient = decodeField(t, x.body, "id")
	x = c.must(201, pOwner, "POST /v1/patients/{patientId}/scans", "POST", "/v1/patients/"+ts.ids.patient+"/scans?eye=OD&lensType=orthok&rx=-3&hvid=11.8",
		north, canaryCSO(t), "Content-Type", "text/csv", "Idempotency-Key", "trust-scan")
	ts.ids.scan = decodeField(t, x.body, "id")
	ts.ids.design = ts.waitDesigned(t, ts.ids.scan)
	c.must(200, pOwner, "GET /v1/scans/{scanId}/design", "GET", "/v1/scans/"+ts.ids.scan+"/design", north, nil)

	x = c.must(201, pOwner, "POST /v1/orders", "POST", "/v1/orders", north,
		[]byte(`{"designId":"`+ts.ids.design+`","quantity":1,"notes":"`+canaryNote+`"}`), "Content-Type", "application/json", "Idempotency-Key", "trust-order")
	ts.ids.order = decodeField(t, x.body, "id")
	job := ts.waitJob(t, ts.ids.order)
	ts.ids.job, ts.ids.file = job.ID, job.Files[0].Name
	c.must(200, pLab, "GET /v1/lab/jobs/{jobId}/files/{name}", "GET", "/v1/lab/jobs/"+job.ID+"/files/"+ts.ids.file, lab, nil)
	for _, s := range []string{"cutting", "inspection", "dispatched"} {
		c.must(200, pLab, "POST /v1/lab/jobs/{jobId}/status", "POST", "/v1/lab/jobs/"+job.ID+"/status", lab, []byte(`{"status":"`+s+`"}`), jsonCT...)
	}
	x = c.must(200, pOwner, "GET /v1/orders/{orderId}", "GET", "/v1/orders/"+ts.ids.order, north, nil)
	var o orders.OrderView
	if err := json.Unmarshal(x.body, &o); err != nil || o.Dispatched == nil {
		t.Fatalf("order after dispatch: %s", x.body)
	}
	ts.ids.dispatched = *o.Dispatched

	// The morning after dispatch the ortho-k lens has two visits due.
	asOf := ts.ids.dispatched.Add(24 * time.Hour).UTC().Format(time.RFC3339)
	c.must(200, pService, "POST /v1/tasks/follow-ups", "POST", "/v1/tasks/follow-ups?asOf="+asOf, ts.tok.good[pService], nil)

	assess := `{"visitKey":"week-1","visualAcuity":"6/9","centralTearFilmUM":12,"residualRefractionD":-0.5,
		"fluoresceinNotes":"` + canaryNote + `","comfort":8,"outcome":"adjust"}`
	x = c.must(201, pOwner, "POST /v1/orders/{orderId}/assessments", "POST", "/v1/orders/"+ts.ids.order+"/assessments", north, []byte(assess),
		"Content-Type", "application/json", "Idempotency-Key", "trust-visit")
	ts.ids.assessment = decodeField(t, x.body, "id")
	ts.ids.design2 = decodeField(t, x.body, "revisedDesignId")
	c.must(200, pOwner, "GET /v1/orders/{orderId}/assessments", "GET", "/v1/orders/"+ts.ids.order+"/assessments", north, nil)

	x = c.must(201, pOwner, "POST /v1/orders", "POST", "/v1/orders", north, []byte(`{"designId":"`+ts.ids.design2+`","quantity":1}`), jsonCT...)
	ts.ids.order2 = decodeField(t, x.body, "id")
	ts.ids.job2 = ts.waitJob(t, ts.ids.order2).ID

	// The order's conversation: the practitioner writes (with the canary),
	// the lab reads it and answers.
	c.must(201, pOwner, "POST /v1/orders/{orderId}/comments", "POST", "/v1/orders/"+ts.ids.order+"/comments", north,
		[]byte(`{"text":"`+canaryNote+` please flatten the landing zone"}`), "Content-Type", "application/json", "Idempotency-Key", "trust-comment")
	lab = ts.tok.good[pLab]
	c.must(200, pLab, "GET /v1/orders/{orderId}/comments", "GET", "/v1/orders/"+ts.ids.order+"/comments", lab, nil)
	c.must(201, pLab, "POST /v1/orders/{orderId}/comments", "POST", "/v1/orders/"+ts.ids.order+"/comments", lab,
		[]byte(`{"text":"Flattened by 0.1 mm; a spare is in the box."}`), jsonCT...)
	c.must(200, pOwner, "GET /v1/orders/{orderId}/comments", "GET", "/v1/orders/"+ts.ids.order+"/comments", north, nil)

	// The clinic hears of in_production, dispatched, two visits due, the
	// revised design and the lab's comment, by webhook and by email; the lab
	// hears of the clinic's comment by email.
	ts.waitNotifications(t, 6, 7)
}

// waitDesigned polls the scan until it is designed and returns its design id.
func (ts *trustStack) waitDesigned(t *testing.T, scanID string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		x := ts.c.must(200, pOwner, "GET /v1/scans/{scanId}", "GET", "/v1/scans/"+scanID, ts.tok.good[pOwner], nil)
		var v struct{ Status, DesignID string }
		_ = json.Unmarshal(x.body, &v)
		switch v.Status {
		case "designed":
			return v.DesignID
		case "failed":
			t.Fatalf("scan failed: %s", x.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("scan %s not designed", scanID)
	return ""
}

// waitJob polls the lab queue until the order has its job.
func (ts *trustStack) waitJob(t *testing.T, orderID string) orders.Job {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		x := ts.c.must(200, pLab, "GET /v1/lab/jobs", "GET", "/v1/lab/jobs?status=queued", ts.tok.good[pLab], nil)
		var list struct{ Jobs []orders.Job }
		_ = json.Unmarshal(x.body, &list)
		for _, j := range list.Jobs {
			if j.OrderID == orderID && len(j.Files) > 0 {
				return j
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no job for order %s", orderID)
	return orders.Job{}
}

// waitNotifications waits until n webhooks and n emails have arrived.
func (ts *trustStack) waitNotifications(t *testing.T, hooks, mails int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if len(ts.hooks.received()) >= hooks && len(ts.mails(t)) >= mails {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("notifications: %d webhooks, %d emails, want %d and %d", len(ts.hooks.received()), len(ts.mails(t)), hooks, mails)
}

// mails are the paths of the emails in the local SMTP sink's directory.
func (ts *trustStack) mails(t testing.TB) []string {
	m, err := filepath.Glob(filepath.Join(ts.dir, "mail", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// auditRecord is one line of the audit log as written.
type auditRecord struct {
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Trace    string `json:"logging.googleapis.com/trace"`
	Audit    struct {
		Time      time.Time `json:"time"`
		Actor     string    `json:"actor"`
		Role      string    `json:"role"`
		Clinic    string    `json:"clinic"`
		Action    string    `json:"action"`
		Resource  string    `json:"resource"`
		Outcome   string    `json:"outcome"`
		RequestID string    `json:"requestId"`
	} `json:"audit"`
}

// auditLog reads every record of the local audit log (DATA/audit.log).
func (ts *trustStack) auditLog(t testing.TB) ([]auditRecord, []byte) {
	t.Helper()
	return readAuditLog(t, ts.dir)
}

// readAuditLog reads every record of the audit log of the local stack
// whose data directory is dir.
func readAuditLog(t testing.TB, dir string) ([]auditRecord, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []auditRecord
	for i, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r auditRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("audit log line %d is not JSON: %v", i+1, err)
		}
		out = append(out, r)
	}
	return out, raw
}

func decodeField(t testing.TB, body []byte, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	s, _ := m[field].(string)
	if s == "" {
		t.Fatalf("no %q in %s", field, body)
	}
	return s
}
