package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/auth/devissuer"
	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// authzRow is one route of the authorization matrix.
type authzRow struct {
	role  auth.Role // the role the route serves; "" for an open route
	also  auth.Role // a second role it serves (lab staff on an order's conversation)
	owned bool      // it names a resource of demo-north: another clinic gets 404
	ok    int       // the answer to the right principal
	// req builds the request p sends (p matters where the right body of
	// one caller would be wrong for another).
	req func(ts *trustStack, p principal) (*http.Request, []byte)
}

// want is the status the matrix expects of p on r.
func (r authzRow) want(p principal) int {
	if r.role == "" {
		return r.ok
	}
	if slices.Contains(badTokens, p) {
		return http.StatusUnauthorized
	}
	if role := authzRoleOf(p); role != r.role && (r.also == "" || role != r.also) {
		return http.StatusForbidden
	}
	if p == pOther && r.owned {
		return http.StatusNotFound // never 403: do not confirm it exists
	}
	return r.ok
}

func authzRoleOf(p principal) auth.Role {
	switch p {
	case pOwner, pOther:
		return auth.RolePractitioner
	case pLab:
		return auth.RoleLab
	case pService:
		return auth.RoleService
	}
	return ""
}

// authzPlain builds a request with an optional JSON or other body.
func authzPlain(ts *trustStack, method, target string, body []byte, contentType string) (*http.Request, []byte) {
	req, err := http.NewRequest(method, ts.st.URL+target, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, body
}

// authzGet is a GET of target.
func authzGet(target func(ts *trustStack) string) func(*trustStack, principal) (*http.Request, []byte) {
	return func(ts *trustStack, _ principal) (*http.Request, []byte) {
		return authzPlain(ts, "GET", target(ts), nil, "")
	}
}

// authzPost is a POST of a JSON body to target.
func authzPost(target func(ts *trustStack) string, body func(ts *trustStack, p principal) string) func(*trustStack, principal) (*http.Request, []byte) {
	return func(ts *trustStack, p principal) (*http.Request, []byte) {
		return authzPlain(ts, "POST", target(ts), []byte(body(ts, p)), "application/json")
	}
}

// authzPushed is a Pub/Sub push delivery of e on the function's first topic,
// as the local stack delivers it.
func authzPushed(function string, e func(ts *trustStack) ports.Event) func(*trustStack, principal) (*http.Request, []byte) {
	return func(ts *trustStack, p principal) (*http.Request, []byte) {
		f, _ := platform.Lookup(function)
		spec := platform.Subscriptions(f)[0]
		d := ports.Delivery{Event: e(ts), MessageID: "authz-" + strings.ReplaceAll(string(p), " ", "-"), Subscription: spec.Name,
			Attempt: 1, PublishTime: time.Now().UTC()}
		req, err := eventhttp.NewPushRequest(context.Background(), ts.st.URL+"/internal/events/"+function, d, localstack.Project, spec.Topic)
		if err != nil {
			panic(err)
		}
		body, _ := req.GetBody()
		var b bytes.Buffer
		_, _ = b.ReadFrom(body)
		return req, b.Bytes()
	}
}

func authzEvent(typ, subject string, data any) ports.Event {
	b, _ := json.Marshal(data)
	return ports.Event{ID: "authz-" + subject, Type: typ, Source: "/lensflow/authz-test", Subject: subject, Time: time.Now().UTC(), Data: b}
}

// authzTable has one row per route of every registered function (event
// functions at POST /internal/events/<Name>), plus the stack's own open
// routes. A registered route without a row fails the test.
var authzTable = map[string]authzRow{
	// Clinic: a clinic's own settings; the clinic comes from the token, so
	// another clinic reads and writes its own (and must see none of ours).
	"PUT /v1/clinic/notifications": {role: auth.RolePractitioner, ok: 200, req: func(ts *trustStack, p principal) (*http.Request, []byte) {
		body := ts.northSettings()
		if p != pOwner {
			body = []byte(`{"webhookUrl":"","emails":["desk@south.example.com"]}`)
		}
		return authzPlain(ts, "PUT", "/v1/clinic/notifications", body, "application/json")
	}},
	"GET /v1/clinic/notifications": {role: auth.RolePractitioner, ok: 200, req: authzGet(func(*trustStack) string { return "/v1/clinic/notifications" })},
	// Clinics: the public locator.
	"GET /v1/clinics": {ok: 200, req: authzGet(func(*trustStack) string { return "/v1/clinics?near=51.5390,-0.1426&radiusKm=50" })},
	// Portal: the clinic portal's static page, public (no data).
	"GET /portal/{file...}":   {ok: 200, req: authzGet(func(*trustStack) string { return "/portal/app.js" })},
	"GET /portal/config.json": {ok: 200, req: authzGet(func(*trustStack) string { return "/portal/config.json" })},
	"GET /portal/schemas/events/{schema}": {ok: 200, req: authzGet(func(*trustStack) string {
		return "/portal/schemas/events/com.lensflow.scan.received.v1.json"
	})},
	// Lab: lab staff only.
	"GET /v1/lab/jobs": {role: auth.RoleLab, ok: 200, req: authzGet(func(*trustStack) string { return "/v1/lab/jobs" })},
	"GET /v1/lab/jobs/{jobId}/files/{name}": {role: auth.RoleLab, ok: 200, req: authzGet(func(ts *trustStack) string {
		return "/v1/lab/jobs/" + ts.ids.job + "/files/" + ts.ids.file
	})},
	"POST /v1/lab/jobs/{jobId}/status": {role: auth.RoleLab, ok: 200, req: authzPost(func(ts *trustStack) string { return "/v1/lab/jobs/" + ts.ids.job2 + "/status" },
		func(*trustStack, principal) string { return `{"status":"cutting"}` })},
	// Orders.
	"POST /v1/orders": {role: auth.RolePractitioner, owned: true, ok: 201, req: authzPost(func(*trustStack) string { return "/v1/orders" },
		func(ts *trustStack, _ principal) string { return `{"designId":"` + ts.ids.design2 + `","quantity":1}` })},
	"GET /v1/orders/{orderId}": {role: auth.RolePractitioner, owned: true, ok: 200, req: authzGet(func(ts *trustStack) string { return "/v1/orders/" + ts.ids.order })},
	"POST /v1/orders/{orderId}/assessments": {role: auth.RolePractitioner, owned: true, ok: 201,
		req: authzPost(func(ts *trustStack) string { return "/v1/orders/" + ts.ids.order + "/assessments" },
			func(*trustStack, principal) string {
				return `{"visitKey":"week-2","visualAcuity":"6/6","comfort":8,"outcome":"continue"}`
			})},
	"GET /v1/orders/{orderId}/assessments": {role: auth.RolePractitioner, owned: true, ok: 200,
		req: authzGet(func(ts *trustStack) string { return "/v1/orders/" + ts.ids.order + "/assessments" })},
	// An order's conversation: its clinic's practitioners and lab staff.
	"POST /v1/orders/{orderId}/comments": {role: auth.RolePractitioner, also: auth.RoleLab, owned: true, ok: 201,
		req: authzPost(func(ts *trustStack) string { return "/v1/orders/" + ts.ids.order + "/comments" },
			func(*trustStack, principal) string { return `{"text":"Please flatten the landing zone."}` })},
	"GET /v1/orders/{orderId}/comments": {role: auth.RolePractitioner, also: auth.RoleLab, owned: true, ok: 200,
		req: authzGet(func(ts *trustStack) string { return "/v1/orders/" + ts.ids.order + "/comments" })},
	// Patients: creates a patient of the caller's own clinic.
	"POST /v1/patients": {role: auth.RolePractitioner, ok: 201, req: authzPost(func(*trustStack) string { return "/v1/patients" },
		func(*trustStack, principal) string { return `{"name":"Other Person","birthDate":"1990-01-01"}` })},
	// Patients: the caller's own clinic's list (another clinic gets its own).
	"GET /v1/patients": {role: auth.RolePractitioner, ok: 200, req: authzGet(func(*trustStack) string { return "/v1/patients" })},
	// Orders and follow-ups: the caller's own clinic's lists.
	"GET /v1/orders":     {role: auth.RolePractitioner, ok: 200, req: authzGet(func(*trustStack) string { return "/v1/orders" })},
	"GET /v1/follow-ups": {role: auth.RolePractitioner, ok: 200, req: authzGet(func(*trustStack) string { return "/v1/follow-ups" })},
	// Scans.
	"GET /v1/patients/{patientId}/scans": {role: auth.RolePractitioner, owned: true, ok: 200,
		req: authzGet(func(ts *trustStack) string { return "/v1/patients/" + ts.ids.patient + "/scans" })},
	"GET /v1/scans/{scanId}/map": {role: auth.RolePractitioner, owned: true, ok: 200, req: authzGet(func(ts *trustStack) string { return "/v1/scans/" + ts.ids.scan + "/map" })},
	"POST /v1/patients/{patientId}/scans": {role: auth.RolePractitioner, owned: true, ok: 201, req: func(ts *trustStack, _ principal) (*http.Request, []byte) {
		return authzPlain(ts, "POST", "/v1/patients/"+ts.ids.patient+"/scans?eye=OD&lensType=orthok&rx=-3&hvid=11.8", canaryCSO(ts.c.t), "text/csv")
	}},
	"GET /v1/scans/{scanId}":        {role: auth.RolePractitioner, owned: true, ok: 200, req: authzGet(func(ts *trustStack) string { return "/v1/scans/" + ts.ids.scan })},
	"GET /v1/scans/{scanId}/design": {role: auth.RolePractitioner, owned: true, ok: 200, req: authzGet(func(ts *trustStack) string { return "/v1/scans/" + ts.ids.scan + "/design" })},
	"GET /v1/scans/{scanId}/design/tear-layer": {role: auth.RolePractitioner, owned: true, ok: 200,
		req: authzGet(func(ts *trustStack) string { return "/v1/scans/" + ts.ids.scan + "/design/tear-layer" })},
	"GET /v1/scans/{scanId}/design/tear-layer.png": {role: auth.RolePractitioner, owned: true, ok: 200,
		req: authzGet(func(ts *trustStack) string { return "/v1/scans/" + ts.ids.scan + "/design/tear-layer.png?version=1" })},
	// Tasks: Cloud Scheduler's service token only.
	"POST /v1/tasks/follow-ups":    {role: auth.RoleService, ok: 200, req: authzPost(func(*trustStack) string { return "/v1/tasks/follow-ups" }, func(*trustStack, principal) string { return "" })},
	"POST /v1/tasks/notifications": {role: auth.RoleService, ok: 200, req: authzPost(func(*trustStack) string { return "/v1/tasks/notifications" }, func(*trustStack, principal) string { return "" })},
	"POST /v1/tasks/outbox":        {role: auth.RoleService, ok: 200, req: authzPost(func(*trustStack) string { return "/v1/tasks/outbox" }, func(*trustStack, principal) string { return "" })},
	"POST /v1/tasks/census":        {role: auth.RoleService, ok: 200, req: authzPost(func(*trustStack) string { return "/v1/tasks/census" }, func(*trustStack, principal) string { return "" })},
	// Event functions: Pub/Sub push with a service token only. The events
	// are real but already handled, so the right caller's delivery is a
	// no-op that acks.
	"POST /internal/events/Design": {role: auth.RoleService, ok: 204, req: authzPushed("Design", func(ts *trustStack) ports.Event {
		return authzEvent(scans.TypeScanReceived, "scans/"+ts.ids.scan, scans.ScanReceived{ScanID: ts.ids.scan, ClinicID: "demo-north", PatientID: ts.ids.patient})
	})},
	"POST /internal/events/Manufacturing": {role: auth.RoleService, ok: 204, req: authzPushed("Manufacturing", func(ts *trustStack) ports.Event {
		return authzEvent(orders.TypeOrderPlaced, "orders/"+ts.ids.order, orders.OrderPlaced{OrderID: ts.ids.order, ClinicID: "demo-north"})
	})},
	"POST /internal/events/Notifications": {role: auth.RoleService, ok: 204, req: authzPushed("Notifications", func(ts *trustStack) ports.Event {
		return authzEvent(orders.TypeJobStatusChanged, "jobs/"+ts.ids.job, orders.JobEvent{JobID: ts.ids.job, OrderID: ts.ids.order,
			ClinicID: "demo-north", Status: "queued", Order: "placed"})
	})},
	"POST /internal/events/Timeline": {role: auth.RoleService, ok: 204, req: authzPushed("Timeline", func(ts *trustStack) ports.Event {
		return authzEvent(orders.TypeCommentPosted, "orders/"+ts.ids.order+"/comments/absent", orders.CommentPosted{OrderID: ts.ids.order,
			ClinicID: "demo-north", CommentID: "absent", AuthorRole: "lab"})
	})},
	// The stack's own routes: health check, index and the dev issuer's keys.
	"GET /healthz":              {ok: 200, req: authzGet(func(*trustStack) string { return "/healthz" })},
	"GET /{$}":                  {ok: 200, req: authzGet(func(*trustStack) string { return "/" })},
	"GET /dev-issuer/jwks.json": {ok: 200, req: authzGet(func(*trustStack) string { return devissuer.JWKSPath })},
	"GET /openapi.json":         {ok: 200, req: authzGet(func(*trustStack) string { return "/openapi.json" })},
}

// stackRoutes are the routes the local stack serves besides the functions'.
var stackRoutes = []string{"GET /healthz", "GET /{$}", "GET " + devissuer.JWKSPath, "GET /openapi.json"}

// registeredRoutes lists every registered function's routes, event
// functions at their local push endpoint, in registry order.
func registeredRoutes() []string {
	var out []string
	for _, f := range platform.Functions() {
		if f.HTTP != nil {
			out = append(out, f.Patterns()...)
			continue
		}
		out = append(out, "POST /internal/events/"+f.Name)
	}
	return out
}

// TestAuthorizationMatrixMatchesDeclarations: each registered route's
// declared roles (the platform authenticates with them) are the roles its
// matrix row expects to be served, and a route is declared public exactly
// when its row expects no token.
func TestAuthorizationMatrixMatchesDeclarations(t *testing.T) {
	for _, f := range platform.Functions() {
		for _, rt := range f.Routes {
			row, ok := authzTable[rt.Pattern]
			if !ok {
				continue // TestAuthorizationMatrix names it
			}
			var want []auth.Role
			for _, r := range []auth.Role{row.role, row.also} {
				if r != "" {
					want = append(want, r)
				}
			}
			got := slices.Sorted(slices.Values(rt.Roles))
			slices.Sort(want)
			if !slices.Equal(got, want) || rt.Public != (len(want) == 0) {
				t.Errorf("%s (%s): declared roles %v, public %v; the matrix expects %v", rt.Pattern, f.Name, rt.Roles, rt.Public, want)
			}
		}
	}
}

// problemKeys are the only members an error body may have (RFC 9457 plus
// the field and request id lensflow adds).
var problemKeys = []string{"type", "title", "status", "detail", "field", "requestId"}

// TestAuthorizationMatrix sends every route of every registered function,
// and the stack's own routes, with each principal: no token, a malformed
// one, an expired one, one for another audience, one from another issuer
// (all signed with the stack's own key), the other clinic's practitioner,
// lab staff, the service account, and the owning clinic's practitioner.
// Every cell must answer its expected status; refusals are problem+json
// with nothing but problem members, and no answer to anyone but the owner
// (or the lab, whose queue spans clinics) carries an id of demo-north's
// that the request did not already hold.
func TestAuthorizationMatrix(t *testing.T) {
	ts := newTrustStack(t)
	routes := append(registeredRoutes(), stackRoutes...)
	for _, r := range routes {
		if _, ok := authzTable[r]; !ok {
			t.Errorf("route %q has no row in the authorization matrix: add one", r)
		}
	}
	for r := range authzTable {
		if !slices.Contains(routes, r) {
			t.Errorf("matrix row %q is not a registered route any more", r)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The hand-signed tokens are sound: the same signing, unexpired, passes.
	for role, target := range map[auth.Role]string{auth.RolePractitioner: "GET /v1/scans/{scanId}", auth.RoleLab: "GET /v1/lab/jobs",
		auth.RoleService: "POST /v1/tasks/outbox"} {
		row := authzTable[target]
		req, body := row.req(ts, pOwner)
		if x := ts.c.send(pOwner, target, req, body, ts.ctl[role]); x.status != row.ok {
			t.Fatalf("control token for %s: %d %s", role, x.status, x.body)
		}
	}

	cells := 0
	for _, route := range routes {
		row := authzTable[route]
		for _, p := range principals {
			cells++
			t.Run(route+"/"+string(p), func(t *testing.T) {
				req, body := row.req(ts, p)
				x := ts.c.send(p, route, req, body, ts.tok.token(p, row.role))
				if want := row.want(p); x.status != want {
					t.Fatalf("status %d, want %d: %s", x.status, want, x.body)
				}
				checkRefusal(t, x)
				if x.status == http.StatusUnauthorized {
					if detail := problemDetail(x.body); detail != badReason[p] {
						t.Errorf("refused with %q, want %q (the token must fail for its own defect)", detail, badReason[p])
					}
				}
				if p != pOwner && p != pLab {
					checkNoLeak(t, ts, x, row.role == "")
				}
			})
		}
	}
	t.Logf("authorization matrix: %d routes (%d registered, %d of the stack) x %d principals = %d cells",
		len(routes), len(routes)-len(stackRoutes), len(stackRoutes), len(principals), cells)
}

// checkRefusal: an error answer is problem+json with only problem members
// and the status it is sent with.
func checkRefusal(t *testing.T, x exchange) {
	t.Helper()
	if x.status < 400 {
		return
	}
	if ct := x.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("error content type %q", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(x.body, &m); err != nil {
		t.Fatalf("error body is not JSON: %s", x.body)
	}
	for k := range m {
		if !slices.Contains(problemKeys, k) {
			t.Errorf("error body has member %q: %s", k, x.body)
		}
	}
	if s, _ := m["status"].(float64); int(s) != x.status {
		t.Errorf("problem status %v on a %d answer", m["status"], x.status)
	}
}

// checkNoLeak: the answer holds no id of demo-north's resources beyond the
// ones the request itself named, and nothing of its notification settings;
// a 2xx answer to the other clinic does not even name demo-north (the open
// routes, such as the public locator, list clinics by design).
func checkNoLeak(t *testing.T, ts *trustStack, x exchange, public bool) {
	t.Helper()
	asked := x.target + string(x.reqBody)
	for _, id := range ts.ids.all() {
		if id != "" && !strings.Contains(asked, id) && bytes.Contains(x.body, []byte(id)) {
			t.Errorf("answer to %s holds demo-north's id %s: %s", x.who, id, x.body)
		}
	}
	for _, s := range []string{ts.hooks.URL, "north.example"} {
		if bytes.Contains(x.body, []byte(s)) {
			t.Errorf("answer to %s holds demo-north's setting %q: %s", x.who, s, x.body)
		}
	}
	if !public && x.who == pOther && x.status >= 200 && x.status < 300 && bytes.Contains(x.body, []byte("demo-north")) {
		t.Errorf("answer to another clinic names demo-north: %s", x.body)
	}
}

func problemDetail(b []byte) string {
	var p struct{ Detail string }
	_ = json.Unmarshal(b, &p)
	return p.Detail
}
