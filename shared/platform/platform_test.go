package platform

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/ports"
)

func TestRegisterRefusesBadRoutes(t *testing.T) {
	h := func(*bootstrap.App) (map[string]httpkit.HandlerFunc, error) { return nil, nil }
	ev := func(*bootstrap.App) (EventFunc, error) { return nil, nil }
	prac := []auth.Role{auth.RolePractitioner}
	for _, tc := range []struct {
		name string
		f    Function
	}{
		{"no routes", Function{HTTP: h}},
		{"no roles and not public", Function{Routes: []Route{{Pattern: "GET /a"}}, HTTP: h}},
		{"no roles on one route of several", Function{Routes: []Route{{Pattern: "GET /a", Roles: prac}, {Pattern: "GET /b"}}, HTTP: h}},
		{"public and roles", Function{Routes: []Route{{Pattern: "GET /a", Roles: prac, Public: true}}, HTTP: h}},
		{"unknown role", Function{Routes: []Route{{Pattern: "GET /a", Roles: []auth.Role{"admin"}}}, HTTP: h}},
		{"role twice", Function{Routes: []Route{{Pattern: "GET /a", Roles: []auth.Role{auth.RoleLab, auth.RoleLab}}}, HTTP: h}},
		{"pattern without a method", Function{Routes: []Route{{Pattern: "/a", Roles: prac}}, HTTP: h}},
		{"pattern without a path", Function{Routes: []Route{{Pattern: "GET a", Roles: prac}}, HTTP: h}},
		{"route twice", Function{Routes: []Route{{Pattern: "POST /a", Roles: prac}, {Pattern: "POST /a", Roles: prac, Creates: true}}, HTTP: h}},
		{"creating route not a POST", Function{Routes: []Route{{Pattern: "PUT /a", Roles: prac, Creates: true}}, HTTP: h}},
		{"public creating route", Function{Routes: []Route{{Pattern: "POST /a", Public: true, Creates: true}}, HTTP: h}},
		{"routes on an event function", Function{Topics: []string{"t"}, Routes: []Route{{Pattern: "POST /", Roles: prac, Creates: true}}, Event: ev}},
		{"negative body limit", Function{Routes: []Route{{Pattern: "POST /a", Roles: prac, Creates: true}}, MaxBody: -1, HTTP: h}},
		{"body limit on an event function", Function{Topics: []string{"t"}, MaxBody: 1 << 20, Event: ev}},
		{"query parameter twice", Function{Routes: []Route{{Pattern: "POST /a", Roles: prac, Query: []string{"x", "x"}}}, HTTP: h}},
		{"empty query parameter", Function{Routes: []Route{{Pattern: "POST /a", Roles: prac, Query: []string{""}}}, HTTP: h}},
		{"no query and query parameters", Function{Routes: []Route{{Pattern: "POST /a", Roles: prac, Query: []string{"x"}, NoQuery: true}}, HTTP: h}},
		{"both HTTP and event", Function{Routes: []Route{{Pattern: "GET /a", Public: true}}, Topics: []string{"t"}, HTTP: h, Event: ev}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Name = "TestBad" + strings.ReplaceAll(tc.name, " ", "")
			defer func() {
				if recover() == nil {
					t.Fatal("registered")
				}
				if _, ok := Lookup(tc.f.Name); ok {
					t.Fatal("a refused declaration is in the registry")
				}
			}()
			Register(tc.f)
		})
	}
}

type testVerifier map[string]auth.Principal

func (v testVerifier) Verify(_ context.Context, raw string) (auth.Principal, error) {
	if p, ok := v[raw]; ok {
		return p, nil
	}
	return auth.Principal{}, errs.E("verify", errs.Unauthenticated, auth.ErrBadSignature)
}

// testApp is a wired App with just what Handler uses.
func testApp(t *testing.T, cfg bootstrap.Config) *bootstrap.App {
	docs, err := boltdocs.Open(filepath.Join(t.TempDir(), "docs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docs.Close() })
	return &bootstrap.App{Config: cfg, Log: slog.New(slog.DiscardHandler), Docs: docs, Verifier: testVerifier{
		"north": {Subject: "u1", ClinicID: "north", Role: auth.RolePractitioner},
		"south": {Subject: "u2", ClinicID: "south", Role: auth.RolePractitioner},
	}}
}

// TestHandlerMakesCreatingRoutesIdempotent: the platform, not the function,
// applies Idempotency-Key handling, and only to the declared creating routes.
func TestHandlerMakesCreatingRoutesIdempotent(t *testing.T) {
	var created, actions atomic.Int32
	roles := []auth.Role{auth.RolePractitioner}
	f := Function{Name: "Things", Routes: []Route{{Pattern: "POST /v1/things", Roles: roles, Creates: true}, {Pattern: "POST /v1/things/{id}/poke", Roles: roles}},
		HTTP: func(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
			return map[string]httpkit.HandlerFunc{
				"POST /v1/things": func(w http.ResponseWriter, r *http.Request) error {
					n := created.Add(1)
					w.Header().Set("Location", "/v1/things/"+string(rune('0'+n)))
					httpkit.JSON(w, http.StatusCreated, map[string]int32{"n": n})
					return nil
				},
				"POST /v1/things/{id}/poke": func(w http.ResponseWriter, r *http.Request) error {
					actions.Add(1)
					w.WriteHeader(http.StatusNoContent)
					return nil
				},
			}, nil
		}}
	h, err := Handler(testApp(t, bootstrap.Config{}), f)
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, token, key, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	first := post("/v1/things", "north", "k", `{"a":1}`)
	replay := post("/v1/things", "north", "k", `{"a":1}`)
	if first.Code != 201 || replay.Code != 201 || replay.Body.String() != first.Body.String() ||
		replay.Header().Get("Location") != first.Header().Get("Location") || created.Load() != 1 {
		t.Fatalf("replay: %d %s / %d %s; created %d", first.Code, first.Body, replay.Code, replay.Body, created.Load())
	}
	if rec := post("/v1/things", "north", "k", `{"a":2}`); rec.Code != 422 {
		t.Fatalf("same key, different body: %d", rec.Code)
	}
	if rec := post("/v1/things", "south", "k", `{"a":1}`); rec.Code != 201 || created.Load() != 2 {
		t.Fatalf("another clinic's key space: %d", rec.Code)
	}
	if rec := post("/v1/things", "", "k2", `{"a":1}`); rec.Code != 401 {
		t.Fatalf("no token: %d", rec.Code)
	}
	for range 2 {
		if rec := post("/v1/things/1/poke", "north", "k", `{}`); rec.Code != 204 {
			t.Fatalf("action: %d %s", rec.Code, rec.Body)
		}
	}
	if actions.Load() != 2 {
		t.Fatalf("a non-creating POST was deduplicated: %d runs", actions.Load())
	}
}

// TestHandlerChecksQueryStrings: a creating route takes only its declared
// parameters (none when it declares none), a route that declares
// parameters too, each at most once; any other route refuses a repeated
// parameter but ignores others. The check needs no token.
func TestHandlerChecksQueryStrings(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) error { w.WriteHeader(http.StatusNoContent); return nil }
	roles := []auth.Role{auth.RolePractitioner}
	f := Function{Name: "Queries", Routes: []Route{
		{Pattern: "POST /v1/things", Roles: roles, Creates: true, Query: []string{"eye", "lensType"}},
		{Pattern: "POST /v1/plain", Roles: roles, Creates: true},
		{Pattern: "GET /v1/things", Roles: roles, Query: []string{"status"}},
		{Pattern: "GET /v1/things/{id}", Roles: roles},
		{Pattern: "POST /v1/things/{id}/poke", Roles: roles, NoQuery: true},
	},
		HTTP: func(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
			return map[string]httpkit.HandlerFunc{"POST /v1/things": ok, "POST /v1/plain": ok,
				"GET /v1/things": ok, "GET /v1/things/{id}": ok, "POST /v1/things/{id}/poke": ok}, nil
		}}
	h, err := Handler(testApp(t, bootstrap.Config{}), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, target string
		status         int
		field          string
	}{
		{"POST", "/v1/things/1/poke", 204, ""},
		{"POST", "/v1/things/1/poke?asOf=now", 400, "asOf"},
		{"POST", "/v1/things?eye=OD&lensType=rgp", 204, ""},
		{"POST", "/v1/things?eye=OD&eye=OS", 400, "eye"},
		{"POST", "/v1/things?eye=OD&colour=red", 400, "colour"},
		{"POST", "/v1/plain", 204, ""},
		{"POST", "/v1/plain?eye=OD", 400, "eye"},
		{"POST", "/v1/plain?", 204, ""},
		{"GET", "/v1/things?status=queued", 204, ""},
		{"GET", "/v1/things?status=queued&page=2", 400, "page"},
		{"GET", "/v1/things?status=a&status=b", 400, "status"},
		{"GET", "/v1/things/1?v=1", 204, ""},
		{"GET", "/v1/things/1?v=1&v=2", 400, "v"},
		{"GET", "/v1/things/1?v=%zz", 400, "query"},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(tc.method, tc.target, nil)
		r.Header.Set("Authorization", "Bearer north")
		h.ServeHTTP(rec, r)
		if rec.Code != tc.status || (tc.field != "" && !strings.Contains(rec.Body.String(), `"field":"`+tc.field+`"`)) {
			t.Errorf("%s %s: %d %s, want %d naming %q", tc.method, tc.target, rec.Code, rec.Body, tc.status, tc.field)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz?x=1&x=2", nil))
	if rec.Code != 200 {
		t.Errorf("health check with a query: %d", rec.Code)
	}
	if rec := getAs(h, "/v1/things?status=a&status=b", ""); rec.Code != 400 {
		t.Errorf("a repeated parameter without a token: %d, want 400 before authentication", rec.Code)
	}
}

// TestHandlerLimits: every route sheds load beyond MaxInFlight with 503
// (the health check never), and each clinic has its own rate limit (429).
// One clinic may hold every slot here (ClinicShare 1): the shares are
// TestHandlerClinicShare's.
func TestHandlerLimits(t *testing.T) {
	release := make(chan struct{})
	var entered sync.WaitGroup
	roles := []auth.Role{auth.RolePractitioner}
	f := Function{Name: "Slow", Routes: []Route{{Pattern: "GET /v1/slow", Roles: roles}, {Pattern: "GET /v1/fast", Roles: roles},
		{Pattern: "POST /v1/things", Roles: roles, Creates: true}},
		HTTP: func(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
			return map[string]httpkit.HandlerFunc{
				"POST /v1/things": func(w http.ResponseWriter, r *http.Request) error {
					w.WriteHeader(http.StatusCreated)
					return nil
				},
				"GET /v1/slow": func(w http.ResponseWriter, r *http.Request) error {
					entered.Done()
					<-release
					w.WriteHeader(http.StatusNoContent)
					return nil
				},
				"GET /v1/fast": func(w http.ResponseWriter, r *http.Request) error {
					w.WriteHeader(http.StatusNoContent)
					return nil
				},
			}, nil
		}}
	app := testApp(t, bootstrap.Config{MaxInFlight: 2, ClinicShare: 1, RateLimit: 0.001, RateBurst: 4})
	h, err := Handler(app, f)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string) *httptest.ResponseRecorder { return getAs(h, path, token) }
	entered.Add(2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rec := get("/v1/slow", "north"); rec.Code != 204 {
				t.Errorf("in-flight request: %d", rec.Code)
			}
		}()
	}
	entered.Wait()
	if rec := get("/v1/fast", "south"); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("at the in-flight limit: %d %v", rec.Code, rec.Header())
	}
	if rec := get("/healthz", ""); rec.Code != 200 {
		t.Fatalf("health check at the in-flight limit: %d", rec.Code)
	}
	close(release)
	wg.Wait()

	// North has used 2 of its burst of 4 (the shed request took nothing).
	for i := range 2 {
		if rec := get("/v1/fast", "north"); rec.Code != 204 {
			t.Fatalf("north request %d: %d", i, rec.Code)
		}
	}
	rec := get("/v1/fast", "north")
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("north beyond its burst: %d %v", rec.Code, rec.Header())
	}
	if rec := get("/v1/fast", "south"); rec.Code != 204 {
		t.Fatalf("south while north is limited: %d", rec.Code)
	}

	// A refused creating request leaves its Idempotency-Key unused: the
	// retry after Retry-After runs, rather than replaying the 429.
	r := httptest.NewRequest("POST", "/v1/things", strings.NewReader(`{}`))
	r.Header.Set("Authorization", "Bearer north")
	r.Header.Set("Idempotency-Key", "k")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 429 {
		t.Fatalf("north's creating request: %d", rec.Code)
	}
	if docs, err := app.Docs.Query(context.Background(), ports.Query{Collection: httpkit.IdempotencyCollection}); err != nil || len(docs) != 0 {
		t.Fatalf("a rate-limited request claimed its key: %d records (%v)", len(docs), err)
	}
}

// TestHandlerClinicShare: one clinic holding its share of a function's
// requests in flight gets 429 for one more; another clinic is served.
func TestHandlerClinicShare(t *testing.T) {
	release := make(chan struct{})
	var entered sync.WaitGroup
	f := Function{Name: "Slow", Routes: []Route{{Pattern: "GET /v1/slow", Roles: []auth.Role{auth.RolePractitioner}}},
		HTTP: func(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
			return map[string]httpkit.HandlerFunc{"GET /v1/slow": func(w http.ResponseWriter, r *http.Request) error {
				if r.URL.Query().Get("hold") != "" {
					entered.Done()
					<-release
				}
				w.WriteHeader(http.StatusNoContent)
				return nil
			}}, nil
		}}
	app := testApp(t, bootstrap.Config{MaxInFlight: 8, ClinicShare: 0.25, RateLimit: 1000, RateBurst: 1000})
	h, err := Handler(app, f)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string) *httptest.ResponseRecorder { return getAs(h, path, token) }
	entered.Add(2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); get("/v1/slow?hold=1", "north") }()
	}
	entered.Wait()
	if rec := get("/v1/slow", "north"); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("north beyond its 2 of 8: %d %v", rec.Code, rec.Header())
	}
	if rec := get("/v1/slow", "south"); rec.Code != http.StatusNoContent {
		t.Errorf("south while north holds its share: %d", rec.Code)
	}
	close(release)
	wg.Wait()
}

// getAs serves GET path with a bearer token on h.
func getAs(h http.Handler, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// TestHandlerAuthenticatesDeclaredRoles: the platform authenticates every
// route with the roles it declares (401 without a valid token, 403 for
// another role) and serves a public route without one; the caller's rate
// limit applies after authentication only (a refused caller spends
// nothing of it) and never to a public route; a handler's error is
// answered as problem+json naming its field.
func TestHandlerAuthenticatesDeclaredRoles(t *testing.T) {
	var served atomic.Int32
	ok := func(w http.ResponseWriter, r *http.Request) error {
		served.Add(1)
		if p := httpkit.Principal(r); r.Pattern != "GET /v1/open" && p.Subject == "" {
			t.Errorf("%s served without a principal", r.Pattern)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	f := Function{Name: "Guarded", Routes: []Route{
		{Pattern: "GET /v1/clinic", Roles: []auth.Role{auth.RolePractitioner}},
		{Pattern: "GET /v1/lab", Roles: []auth.Role{auth.RoleLab}},
		{Pattern: "GET /v1/open", Public: true},
		{Pattern: "POST /v1/fail", Roles: []auth.Role{auth.RolePractitioner, auth.RoleLab}},
	},
		HTTP: func(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
			return map[string]httpkit.HandlerFunc{"GET /v1/clinic": ok, "GET /v1/lab": ok, "GET /v1/open": ok,
				"POST /v1/fail": func(w http.ResponseWriter, r *http.Request) error {
					return errs.Field("things.fail", "quantity", "must be 1 to 10")
				}}, nil
		}}
	app := testApp(t, bootstrap.Config{MaxInFlight: 8, ClinicShare: 1, RateLimit: 0.001, RateBurst: 1})
	app.Verifier = testVerifier{
		"north": {Subject: "u1", ClinicID: "north", Role: auth.RolePractitioner},
		"lab":   {Subject: "l1", Role: auth.RoleLab},
		"lab2":  {Subject: "l2", Role: auth.RoleLab},
	}
	h, err := Handler(app, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/v1/clinic", "", 401},
		{"/v1/clinic", "forged", 401},
		{"/v1/clinic", "lab", 403},
		{"/v1/lab", "north", 403},
		{"/v1/open", "", 204},
		{"/v1/open", "", 204}, // public: beyond any caller's burst of 1
		{"/v1/open", "north", 204},
		{"/v1/clinic", "north", 204}, // north's one request: the refusals above spent nothing
		{"/v1/lab", "lab", 204},
		{"/v1/clinic", "north", 429},
	} {
		rec := getAs(h, tc.path, tc.token)
		if rec.Code != tc.status {
			t.Fatalf("GET %s as %q: %d %s, want %d", tc.path, tc.token, rec.Code, rec.Body, tc.status)
		}
		if tc.status >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("GET %s as %q: %s, want problem+json", tc.path, tc.token, rec.Header().Get("Content-Type"))
		}
	}
	if n := served.Load(); n != 5 {
		t.Fatalf("handlers ran %d times, want 5", n)
	}

	r := httptest.NewRequest("POST", "/v1/fail", nil)
	r.Header.Set("Authorization", "Bearer lab2") // lab has spent its burst
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var p httpkit.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 400 || p.Field != "quantity" ||
		rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("a handler's error: %d %s", rec.Code, rec.Body)
	}
}

// TestHandlerNeedsEveryDeclaredHandler: a function whose handlers do not
// match its declared routes does not start.
func TestHandlerNeedsEveryDeclaredHandler(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) error { return nil }
	roles := []auth.Role{auth.RolePractitioner}
	for name, handlers := range map[string]map[string]httpkit.HandlerFunc{
		"missing":    {"GET /v1/a": ok},
		"undeclared": {"GET /v1/a": ok, "GET /v1/b": ok, "GET /v1/c": ok},
		"nil":        {"GET /v1/a": ok, "GET /v1/b": nil},
	} {
		f := Function{Name: "Partial", Routes: []Route{{Pattern: "GET /v1/a", Roles: roles}, {Pattern: "GET /v1/b", Roles: roles}},
			HTTP: func(*bootstrap.App) (map[string]httpkit.HandlerFunc, error) { return handlers, nil }}
		if _, err := Handler(testApp(t, bootstrap.Config{}), f); err == nil {
			t.Errorf("%s handler: built", name)
		}
	}
}
