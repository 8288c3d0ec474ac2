package main

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/logging"
)

// auditWant is what one request must leave in the audit log: no record, or
// exactly one with these fields (the request id is always the answer's
// X-Request-Id, the time always set).
type auditWant struct {
	status   int
	records  int // 0 or 1
	actor    string
	role     string
	clinic   string
	action   string
	outcome  string
	resource func(ts *trustStack, x exchange) string
}

// auditCase is one request of the walk.
type auditCase struct {
	route string
	who   principal
	want  auditWant
}

// auditFixed is a resource known before the request.
func auditFixed(s func(ts *trustStack) string) func(*trustStack, exchange) string {
	return func(ts *trustStack, _ exchange) string { return s(ts) }
}

// auditCreated is the resource the request created: prefix and its answer's id.
func auditCreated(prefix func(ts *trustStack) string) func(*trustStack, exchange) string {
	return func(ts *trustStack, x exchange) string { return prefix(ts) + decodeField(ts.c.t, x.body, "id") }
}

// auditNorth is one success record of demo-north's practitioner.
func auditNorth(status int, action string, resource func(*trustStack, exchange) string) auditWant {
	return auditWant{status: status, records: 1, actor: northSubject, role: "practitioner", clinic: "demo-north", action: action,
		outcome: audit.Success, resource: resource}
}

// auditSouthDenied is one denied record of demo-south's practitioner (404).
func auditSouthDenied(action string, resource func(*trustStack, exchange) string) auditWant {
	return auditWant{status: http.StatusNotFound, records: 1, actor: southSubject, role: "practitioner", clinic: "demo-south", action: action,
		outcome: audit.Denied, resource: resource}
}

// auditSouth is one success record of demo-south's practitioner (its own
// clinic's list).
func auditSouth(status int, action string, resource func(*trustStack, exchange) string) auditWant {
	return auditWant{status: status, records: 1, actor: southSubject, role: "practitioner", clinic: "demo-south", action: action,
		outcome: audit.Success, resource: resource}
}

// auditLab is one success record of lab staff, naming the job's clinic.
func auditLab(action string, resource func(*trustStack, exchange) string, clinic string) auditWant {
	return auditWant{status: 200, records: 1, actor: labSubject, role: "lab", clinic: clinic, action: action, outcome: audit.Success, resource: resource}
}

// auditNone is a request that leaves no record.
func auditNone(status int) auditWant { return auditWant{status: status} }

// auditWalk visits every PHI route once with its right principal and once
// with another clinic, and the routes that touch no PHI. Requests are built
// as the authorization matrix builds them.
var auditWalk = []auditCase{
	{"POST /v1/patients", pOwner, auditNorth(201, "patient.create", auditCreated(func(*trustStack) string { return "patients/" }))},
	{"POST /v1/patients", pOther, auditWant{status: 201, records: 1, actor: southSubject, role: "practitioner", clinic: "demo-south",
		action: "patient.create", outcome: audit.Success, resource: auditCreated(func(*trustStack) string { return "patients/" })}},
	{"POST /v1/patients/{patientId}/scans", pOwner, auditNorth(201, "scan.create", auditCreated(func(*trustStack) string { return "scans/" }))},
	{"POST /v1/patients/{patientId}/scans", pOther, auditSouthDenied("scan.create", auditFixed(func(ts *trustStack) string { return "patients/" + ts.ids.patient + "/scans" }))},
	{"GET /v1/scans/{scanId}", pOwner, auditNorth(200, "scan.read", auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan }))},
	{"GET /v1/scans/{scanId}", pOther, auditSouthDenied("scan.read", auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan }))},
	{"GET /v1/scans/{scanId}/design", pOwner, auditNorth(200, "design.read", auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan + "/design" }))},
	{"GET /v1/scans/{scanId}/design", pOther, auditSouthDenied("design.read", auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan + "/design" }))},
	{"POST /v1/orders", pOwner, auditNorth(201, "order.create", auditCreated(func(*trustStack) string { return "orders/" }))},
	{"POST /v1/orders", pOther, auditSouthDenied("order.create", auditFixed(func(ts *trustStack) string { return "designs/" + ts.ids.design2 }))},
	{"GET /v1/orders/{orderId}", pOwner, auditNorth(200, "order.read", auditFixed(func(ts *trustStack) string { return "orders/" + ts.ids.order }))},
	{"GET /v1/orders/{orderId}", pOther, auditSouthDenied("order.read", auditFixed(func(ts *trustStack) string { return "orders/" + ts.ids.order }))},
	{"POST /v1/orders/{orderId}/assessments", pOwner, auditNorth(201, "assessment.create",
		auditCreated(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/assessments/" }))},
	{"POST /v1/orders/{orderId}/assessments", pOther, auditSouthDenied("assessment.create",
		auditFixed(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/assessments" }))},
	{"GET /v1/orders/{orderId}/assessments", pOwner, auditNorth(200, "assessment.read", auditFixed(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/assessments" }))},
	{"GET /v1/orders/{orderId}/assessments", pOther, auditSouthDenied("assessment.read", auditFixed(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/assessments" }))},
	{"POST /v1/orders/{orderId}/comments", pOwner, auditNorth(201, "comment.create",
		auditCreated(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/comments/" }))},
	{"POST /v1/orders/{orderId}/comments", pOther, auditSouthDenied("comment.create",
		auditFixed(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/comments" }))},
	{"POST /v1/orders/{orderId}/comments", pLab, auditWant{status: 201, records: 1, actor: labSubject, role: "lab", clinic: "demo-north",
		action: "comment.create", outcome: audit.Success, resource: auditCreated(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/comments/" })}},
	{"GET /v1/orders/{orderId}/comments", pOwner, auditNorth(200, "comment.read", auditFixed(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/comments" }))},
	{"GET /v1/orders/{orderId}/comments", pOther, auditSouthDenied("comment.read", auditFixed(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/comments" }))},
	{"GET /v1/orders/{orderId}/comments", pLab, auditLab("comment.read", auditFixed(func(ts *trustStack) string { return "orders/" + ts.ids.order + "/comments" }), "demo-north")},
	// The portal's lists: the caller's own clinic's, one record per request
	// (another clinic lists its own); a patient's scans and a scan's map are
	// demo-north's, so another clinic is denied.
	{"GET /v1/patients", pOwner, auditNorth(200, "patient.list", auditFixed(func(*trustStack) string { return "patients" }))},
	{"GET /v1/patients", pOther, auditSouth(200, "patient.list", auditFixed(func(*trustStack) string { return "patients" }))},
	{"GET /v1/patients/{patientId}/scans", pOwner, auditNorth(200, "scan.list", auditFixed(func(ts *trustStack) string { return "patients/" + ts.ids.patient + "/scans" }))},
	{"GET /v1/patients/{patientId}/scans", pOther, auditSouthDenied("scan.list", auditFixed(func(ts *trustStack) string { return "patients/" + ts.ids.patient + "/scans" }))},
	{"GET /v1/scans/{scanId}/map", pOwner, auditNorth(200, "scan.map.read", auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan + "/map" }))},
	{"GET /v1/scans/{scanId}/map", pOther, auditSouthDenied("scan.map.read", auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan + "/map" }))},
	{"GET /v1/scans/{scanId}/design/tear-layer", pOwner, auditNorth(200, "design.tear-layer.read",
		auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan + "/design/tear-layer" }))},
	{"GET /v1/scans/{scanId}/design/tear-layer", pOther, auditSouthDenied("design.tear-layer.read",
		auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan + "/design/tear-layer" }))},
	{"GET /v1/scans/{scanId}/design/tear-layer.png", pOwner, auditNorth(200, "design.tear-layer.read",
		auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan + "/design/tear-layer" }))},
	{"GET /v1/scans/{scanId}/design/tear-layer.png", pOther, auditSouthDenied("design.tear-layer.read",
		auditFixed(func(ts *trustStack) string { return "scans/" + ts.ids.scan + "/design/tear-layer" }))},
	{"GET /v1/orders", pOwner, auditNorth(200, "order.list", auditFixed(func(*trustStack) string { return "orders" }))},
	{"GET /v1/orders", pOther, auditSouth(200, "order.list", auditFixed(func(*trustStack) string { return "orders" }))},
	{"GET /v1/follow-ups", pOwner, auditNorth(200, "followup.list", auditFixed(func(*trustStack) string { return "follow-ups" }))},
	{"GET /v1/follow-ups", pOther, auditSouth(200, "followup.list", auditFixed(func(*trustStack) string { return "follow-ups" }))},
	// The lab's queue spans clinics; a job's file and status are the job's
	// clinic's. Clinic tokens are refused by role before any PHI is read.
	{"GET /v1/lab/jobs", pLab, auditLab("job.list", auditFixed(func(*trustStack) string { return "jobs" }), "")},
	{"GET /v1/lab/jobs", pOther, auditNone(403)},
	{"GET /v1/lab/jobs/{jobId}/files/{name}", pLab, auditLab("job.file.read",
		auditFixed(func(ts *trustStack) string { return "jobs/" + ts.ids.job + "/files/" + ts.ids.file }), "demo-north")},
	{"GET /v1/lab/jobs/{jobId}/files/{name}", pOther, auditNone(403)},
	{"POST /v1/lab/jobs/{jobId}/status", pLab, auditLab("job.status", auditFixed(func(ts *trustStack) string { return "jobs/" + ts.ids.job2 }), "demo-north")},
	{"POST /v1/lab/jobs/{jobId}/status", pOther, auditNone(403)},
	// Notification settings are the clinic's, not a patient's: changing them
	// (which issues a signing secret) is audited, reading them is not.
	{"PUT /v1/clinic/notifications", pOwner, auditNorth(200, "notifications.settings.write", auditFixed(func(*trustStack) string { return "clinics/demo-north/notifications" }))},
	{"PUT /v1/clinic/notifications", pOther, auditWant{status: 200, records: 1, actor: southSubject, role: "practitioner", clinic: "demo-south",
		action: "notifications.settings.write", outcome: audit.Success, resource: auditFixed(func(*trustStack) string { return "clinics/demo-south/notifications" })}},
	{"GET /v1/clinic/notifications", pOwner, auditNone(200)},
	{"GET /v1/clinic/notifications", pOther, auditNone(200)},
	// No PHI: health, locator, index, scheduled tasks (ids and counts only).
	{"GET /healthz", pNone, auditNone(200)},
	{"GET /v1/clinics", pNone, auditNone(200)},
	{"GET /portal/{file...}", pNone, auditNone(200)},
	{"GET /portal/config.json", pNone, auditNone(200)},
	{"GET /portal/schemas/events/{schema}", pNone, auditNone(200)},
	{"GET /{$}", pNone, auditNone(200)},
	{"POST /v1/tasks/follow-ups", pService, auditNone(200)},
	{"POST /v1/tasks/notifications", pService, auditNone(200)},
	{"POST /v1/tasks/outbox", pService, auditNone(200)},
	{"POST /v1/tasks/census", pService, auditNone(200)},
}

// phiRoutes are the routes whose answered requests are audited (2xx, or
// 404 for another clinic's resource); every other route never is.
var phiRoutes = map[string]bool{}

func init() {
	for _, c := range auditWalk {
		if c.want.records > 0 {
			phiRoutes[c.route] = true
		}
	}
}

// TestAuditOnePerPHIRequest walks every PHI route with its right principal
// and with another clinic, and the routes without PHI, and counts the audit
// records of each request by its X-Request-Id: exactly one per PHI request
// (success, or denied for another clinic's resource, which answers 404)
// with actor, role, clinic, action, resource, outcome, request id and time;
// none for refusals by role and for routes without PHI. Every request of
// the flow before the walk, and every event delivery, holds to the same
// rule: no request id has two records.
func TestAuditOnePerPHIRequest(t *testing.T) {
	ts := newTrustStack(t)
	flow := ts.c.exchanges()

	for _, r := range registeredRoutes() {
		if strings.HasPrefix(r, "POST /internal/events/") {
			continue // deliveries: checked below through the log as a whole
		}
		found := false
		for _, c := range auditWalk {
			found = found || c.route == r
		}
		if !found {
			t.Errorf("route %q is not in the audit walk: add it", r)
		}
	}

	perRoute := map[string][]string{}
	for _, c := range auditWalk {
		t.Run(c.route+"/"+string(c.who), func(t *testing.T) {
			row := authzTable[c.route]
			req, body := row.req(ts, c.who)
			x := ts.c.send(c.who, c.route, req, body, ts.tok.token(c.who, row.role))
			if x.status != c.want.status {
				t.Fatalf("status %d, want %d: %s", x.status, c.want.status, x.body)
			}
			recs := recordsOf(t, ts, x)
			perRoute[c.route] = append(perRoute[c.route], fmt.Sprintf("%s %d", c.who, len(recs)))
			if len(recs) != c.want.records {
				t.Fatalf("%d audit records for request %s, want %d: %+v", len(recs), x.header.Get("X-Request-Id"), c.want.records, recs)
			}
			if c.want.records == 0 {
				return
			}
			r := recs[0].Audit
			want := c.want.resource(ts, x)
			if r.Actor != c.want.actor || r.Role != c.want.role || r.Clinic != c.want.clinic || r.Action != c.want.action ||
				r.Outcome != c.want.outcome || r.Resource != want || r.Time.IsZero() || time.Since(r.Time) > time.Minute {
				t.Fatalf("audit record %+v\nwant actor %s role %s clinic %q action %s outcome %s resource %s",
					r, c.want.actor, c.want.role, c.want.clinic, c.want.action, c.want.outcome, want)
			}
			// The record carries its request's trace, so it sits next to
			// the request's log lines.
			if tp, ok := logging.ParseTraceparent(x.header.Get("Traceparent")); !ok ||
				recs[0].Trace != "projects/"+localstack.Project+"/traces/"+tp.TraceID {
				t.Fatalf("audit record trace %q, the request's Traceparent %q", recs[0].Trace, x.header.Get("Traceparent"))
			}
		})
	}

	// The flow before the walk: every answered PHI request has one record,
	// every other request none.
	for _, x := range flow {
		n := len(recordsOf(t, ts, x))
		want := 0
		if phiRoutes[x.route] && x.status < 300 {
			want = 1
		}
		if n != want {
			t.Errorf("%s %s (%d): %d audit records, want %d", x.method, x.target, x.status, n, want)
		}
	}

	// The whole log: well-formed records, one per request id, and the event
	// deliveries that touch PHI audited as their function.
	all, _ := ts.auditLog(t)
	byID := map[string]int{}
	actions := map[string]int{}
	for _, r := range all {
		a := r.Audit
		if a.RequestID == "" || a.Actor == "" || a.Role == "" || a.Action == "" || a.Resource == "" || a.Outcome == "" || a.Time.IsZero() ||
			r.Severity != "NOTICE" || r.Message == "" {
			t.Errorf("incomplete audit record %+v", r)
		}
		byID[a.RequestID]++
		actions[a.Actor+" "+a.Action+" "+a.Outcome]++
	}
	for id, n := range byID {
		if n != 1 {
			var recs []string
			for _, r := range all {
				if r.Audit.RequestID == id {
					recs = append(recs, r.Audit.Actor+" "+r.Audit.Action+" "+r.Audit.Resource)
				}
			}
			t.Errorf("request %s has %d audit records: %v", id, n, recs)
		}
	}
	for _, k := range []string{"design-function design.create success", "manufacturing-function job.create success"} {
		if actions[k] == 0 {
			t.Errorf("no %q record: %v", k, actions)
		}
	}

	routes := make([]string, 0, len(perRoute))
	for r, v := range perRoute {
		routes = append(routes, r+": "+strings.Join(v, ", "))
	}
	sort.Strings(routes)
	t.Logf("audit records per request of the walk:\n  %s", strings.Join(routes, "\n  "))
	keys := make([]string, 0, len(actions))
	for k, n := range actions {
		keys = append(keys, fmt.Sprintf("%s x%d", k, n))
	}
	sort.Strings(keys)
	t.Logf("%d audit records over %d request ids in all: %s", len(all), len(byID), strings.Join(keys, "; "))
}

// recordsOf returns the audit records of the request answered by x.
func recordsOf(t *testing.T, ts *trustStack, x exchange) []auditRecord {
	t.Helper()
	id := x.header.Get("X-Request-Id")
	if id == "" {
		if x.route == "GET /healthz" || x.route == "GET /{$}" || x.route == "GET /dev-issuer/jwks.json" {
			return nil // the stack's own routes carry no request id
		}
		t.Fatalf("%s %s: no X-Request-Id", x.method, x.target)
	}
	all, _ := ts.auditLog(t)
	var out []auditRecord
	for _, r := range all {
		if r.Audit.RequestID == id {
			out = append(out, r)
		}
	}
	return out
}
