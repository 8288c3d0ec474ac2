package platform

import (
	"context"
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

func TestRegisterRefusesBadCreatingRoutes(t *testing.T) {
	h := func(*bootstrap.App) (map[string]http.Handler, error) { return nil, nil }
	ev := func(*bootstrap.App) (EventFunc, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		f    Function
	}{
		{"not a declared route", Function{Routes: []string{"POST /a"}, Creates: []string{"POST /b"}, HTTP: h}},
		{"not a POST", Function{Routes: []string{"GET /a", "PUT /a"}, Creates: []string{"PUT /a"}, HTTP: h}},
		{"listed twice", Function{Routes: []string{"POST /a"}, Creates: []string{"POST /a", "POST /a"}, HTTP: h}},
		{"event function", Function{Topics: []string{"t"}, Creates: []string{"POST /"}, Event: ev}},
		{"negative body limit", Function{Routes: []string{"POST /a"}, Creates: []string{"POST /a"}, MaxBody: -1, HTTP: h}},
		{"query of an undeclared route", Function{Routes: []string{"POST /a"}, Query: map[string][]string{"POST /b": {"x"}}, HTTP: h}},
		{"query parameter twice", Function{Routes: []string{"POST /a"}, Query: map[string][]string{"POST /a": {"x", "x"}}, HTTP: h}},
		{"empty query parameter", Function{Routes: []string{"POST /a"}, Query: map[string][]string{"POST /a": {""}}, HTTP: h}},
		{"query on an event function", Function{Topics: []string{"t"}, Query: map[string][]string{"POST /": {"x"}}, Event: ev}},
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
	f := Function{Name: "Things", Routes: []string{"POST /v1/things", "POST /v1/things/{id}/poke"}, Creates: []string{"POST /v1/things"},
		HTTP: func(app *bootstrap.App) (map[string]http.Handler, error) {
			roles := []auth.Role{auth.RolePractitioner}
			return map[string]http.Handler{
				"POST /v1/things": httpkit.Authenticate(app.Verifier, roles, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n := created.Add(1)
					w.Header().Set("Location", "/v1/things/"+string(rune('0'+n)))
					httpkit.JSON(w, http.StatusCreated, map[string]int32{"n": n})
				})),
				"POST /v1/things/{id}/poke": httpkit.Authenticate(app.Verifier, roles, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					actions.Add(1)
					w.WriteHeader(http.StatusNoContent)
				})),
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
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }
	f := Function{Name: "Queries", Routes: []string{"POST /v1/things", "POST /v1/plain", "GET /v1/things", "GET /v1/things/{id}"},
		Creates: []string{"POST /v1/things", "POST /v1/plain"},
		Query:   map[string][]string{"POST /v1/things": {"eye", "lensType"}, "GET /v1/things": {"status"}},
		HTTP: func(app *bootstrap.App) (map[string]http.Handler, error) {
			return map[string]http.Handler{"POST /v1/things": http.HandlerFunc(ok), "POST /v1/plain": http.HandlerFunc(ok),
				"GET /v1/things": http.HandlerFunc(ok), "GET /v1/things/{id}": http.HandlerFunc(ok)}, nil
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
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.status || (tc.field != "" && !strings.Contains(rec.Body.String(), `"field":"`+tc.field+`"`)) {
			t.Errorf("%s %s: %d %s, want %d naming %q", tc.method, tc.target, rec.Code, rec.Body, tc.status, tc.field)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz?x=1&x=2", nil))
	if rec.Code != 200 {
		t.Errorf("health check with a query: %d", rec.Code)
	}
}

// TestHandlerLimits: every route sheds load beyond MaxInFlight with 503
// (the health check never), and each clinic has its own rate limit (429).
// One clinic may hold every slot here (ClinicShare 1): the shares are
// TestHandlerClinicShare's.
func TestHandlerLimits(t *testing.T) {
	release := make(chan struct{})
	var entered sync.WaitGroup
	f := Function{Name: "Slow", Routes: []string{"GET /v1/slow", "GET /v1/fast", "POST /v1/things"}, Creates: []string{"POST /v1/things"},
		HTTP: func(app *bootstrap.App) (map[string]http.Handler, error) {
			roles := []auth.Role{auth.RolePractitioner}
			return map[string]http.Handler{
				"POST /v1/things": httpkit.Authenticate(app.Verifier, roles, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusCreated)
				})),
				"GET /v1/slow": httpkit.Authenticate(app.Verifier, roles, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					entered.Done()
					<-release
					w.WriteHeader(http.StatusNoContent)
				})),
				"GET /v1/fast": httpkit.Authenticate(app.Verifier, roles, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusNoContent)
				})),
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
	f := Function{Name: "Slow", Routes: []string{"GET /v1/slow"},
		HTTP: func(app *bootstrap.App) (map[string]http.Handler, error) {
			return map[string]http.Handler{"GET /v1/slow": httpkit.Authenticate(app.Verifier, []auth.Role{auth.RolePractitioner},
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Query().Get("hold") != "" {
						entered.Done()
						<-release
					}
					w.WriteHeader(http.StatusNoContent)
				}))}, nil
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
