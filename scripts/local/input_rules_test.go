package main

// Input rules beyond the hostile corpus (security.md, "Input" and "HTTP
// semantics"), over HTTP against the running stack: query strings hold only
// declared parameters, each once, and the clients in this repository send
// only those; lists are answered [], never null. (Bodies, uploads and
// Idempotency-Key headers are in hostile_test.go; token lifetimes are a
// column of the authorization matrix.)

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/platform"
)

// routePath is a request path for a route pattern, its wildcards filled.
func routePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	return method, regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(path, "0b9e2c4a-1f6d-4c1e-9a57-3d2f8e6b7a10")
}

// TestQueryStringsAreDeclared: on every route of every function, a
// parameter given twice is 400 naming it; on the creating routes and the
// routes that declare parameters, so is one not declared (any at all on a
// creating route that declares none), and each declared one given twice.
// The requests carry the route's right token, so it is the query that is
// refused.
func TestQueryStringsAreDeclared(t *testing.T) {
	st := start(t, "127.0.0.1:0", t.TempDir())
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	tokens := map[auth.Role]string{auth.RolePractitioner: st.Tokens["demo-north"], auth.RoleLab: st.LabToken, auth.RoleService: st.ServiceToken}
	refused := func(t *testing.T, method, target, token, field string) {
		t.Helper()
		s, b, h := c.do(method, target, token, []byte(`{}`), "Content-Type", "application/json")
		var p struct{ Field, Detail string }
		if s != http.StatusBadRequest || h.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil || p.Field != field {
			t.Fatalf("%s %s: %d %s, want 400 naming %s", method, target, s, b, field)
		}
	}
	strict := 0
	for _, f := range platform.Functions() {
		for _, rt := range f.Routes {
			route := rt.Pattern
			method, path := routePath(route)
			token := tokens[authzTable[route].role]
			t.Run(route, func(t *testing.T) {
				refused(t, method, path+"?zz=1&zz=2", token, "zz")
				rule := rt.QueryRule()
				if rt.Creates && !rule.Strict {
					t.Fatal("a creating route takes undeclared parameters")
				}
				if !rule.Strict {
					return
				}
				strict++
				refused(t, method, path+"?zzUndeclared=1", token, "zzUndeclared")
				for _, p := range rule.Allowed {
					refused(t, method, path+"?"+p+"=1&"+p+"=2", token, p)
				}
			})
		}
	}
	if strict < 6 {
		t.Fatalf("only %d routes check their parameters", strict)
	}
}

// TestClientsSendDeclaredQueries: every URL with a query string in the
// README, the lab's lathe cell program and the portal's upload uses only
// parameters its route declares, each once.
func TestClientsSendDeclaredQueries(t *testing.T) {
	type use struct{ where, method, path, names string }
	var uses []use
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	curl := regexp.MustCompile(`(?:-X (GET|POST|PUT) )?"http://127\.0\.0\.1:8080(/v1/[^"?\s]*)\?([^"]*)"`)
	for _, m := range curl.FindAllStringSubmatch(string(readme), -1) {
		method := m[1]
		if method == "" {
			method = "GET"
		}
		uses = append(uses, use{"README.md", method, m[2], m[3]})
	}
	lathe, err := os.ReadFile("../lathecell/main.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`a\.do\(ctx, "(GET|POST)", "(/v1/[^"?]*)\?([^"]*)"`).FindAllStringSubmatch(string(lathe), -1) {
		uses = append(uses, use{"scripts/lathecell", m[1], m[2], m[3]})
	}
	// The portal builds the upload's query from named controls: the names
	// between the URLSearchParams and the request it sends.
	js, err := os.ReadFile("../../functions/portal/static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(js), "const q = new URLSearchParams(")
	end := strings.Index(string(js), "xhr.open('POST', '/v1/patients/' + encodeURIComponent(patientId) + '/scans?' + q)")
	if start < 0 || end < start {
		t.Fatal("the portal's upload is not built as this test expects: update the test to read its query parameters")
	}
	block := string(js[start:end])
	var names []string
	for _, re := range []string{`URLSearchParams\(\{([^}]*)\}`, `Object\.entries\(\{([^}]*)\}`} {
		m := regexp.MustCompile(re).FindStringSubmatch(block)
		if m == nil {
			t.Fatalf("no %s in the portal's upload", re)
		}
		for _, part := range strings.Split(m[1], ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), ":")
			names = append(names, strings.TrimSpace(name))
		}
	}
	for _, m := range regexp.MustCompile(`q\.set\('(\w+)'`).FindAllStringSubmatch(block, -1) {
		names = append(names, m[1])
	}
	uses = append(uses, use{"portal upload", "POST", "/v1/patients/{patientId}/scans", strings.Join(names, "=x&") + "=x"})
	if len(uses) < 6 {
		t.Fatalf("found only %d URLs with a query string: %v", len(uses), uses)
	}

	for _, u := range uses {
		route, ok := findRoute(u.method, u.path)
		if !ok {
			t.Errorf("%s: %s %s matches no route", u.where, u.method, u.path)
			continue
		}
		var q []string // names only: the values are shell and script expressions
		for _, kv := range strings.Split(u.names, "&") {
			name, _, _ := strings.Cut(kv, "=")
			q = append(q, name+"=x")
		}
		if err := route.QueryRule().Check(strings.Join(q, "&")); err != nil {
			t.Errorf("%s: %s %s?%s: %v", u.where, u.method, u.path, u.names, err)
		}
	}
}

// findRoute is the registered route a request for method and path (shell
// variables and wildcards standing for ids) is served by.
func findRoute(method, path string) (platform.Route, bool) {
	for _, f := range platform.Functions() {
		for _, route := range f.Routes {
			m, pattern, _ := strings.Cut(route.Pattern, " ")
			re := "^" + regexp.MustCompile(`\\\{[^}]*\\\}`).ReplaceAllString(regexp.QuoteMeta(pattern), `[^/]+`) + "$"
			if m == method && regexp.MustCompile(re).MatchString(path) {
				return route, true
			}
		}
	}
	return platform.Route{}, false
}

// TestListsAreNeverNull: a clinic with nothing yet is answered empty lists
// as [], its notification settings included, before and after it saves
// settings with no addresses; a PUT that leaves a field out is refused.
func TestListsAreNeverNull(t *testing.T) {
	st := start(t, "127.0.0.1:0", t.TempDir())
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	south := st.Tokens["demo-south"]
	pid := c.createPatient(south)
	get := func(path, token, member string) {
		t.Helper()
		s, b, _ := c.do("GET", path, token, nil)
		var m map[string]json.RawMessage
		if s != http.StatusOK || json.Unmarshal(b, &m) != nil || string(m[member]) != "[]" {
			t.Errorf("GET %s: %d %s, want %q: []", path, s, b, member)
		}
	}
	get("/v1/clinic/notifications", south, "emails")
	get("/v1/orders", south, "orders")
	get("/v1/follow-ups", south, "followUps")
	get("/v1/patients/"+pid+"/scans", south, "scans")
	get("/v1/lab/jobs?status=cancelled", st.LabToken, "jobs")
	get("/v1/clinics?near=-60,-120&radiusKm=1", "", "clinics")

	put := func(body string) (int, []byte) {
		s, b, _ := c.do("PUT", "/v1/clinic/notifications", south, []byte(body), "Content-Type", "application/json")
		return s, b
	}
	if s, b := put(`{"webhookUrl":"","emails":[]}`); s != http.StatusOK || !strings.Contains(string(b), `"emails":[]`) {
		t.Errorf("PUT with no addresses: %d %s", s, b)
	}
	get("/v1/clinic/notifications", south, "emails")
	for body, field := range map[string]string{`{"webhookUrl":""}`: "emails", `{"emails":[]}`: "webhookUrl", `{"webhookUrl":"","emails":null}`: "emails"} {
		s, b := put(body)
		var p struct{ Field string }
		if s != http.StatusBadRequest || json.Unmarshal(b, &p) != nil || p.Field != field {
			t.Errorf("PUT %s: %d %s, want 400 naming %s", body, s, b, field)
		}
	}
}
