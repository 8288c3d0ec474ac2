// Package platform is how a lensflow function is declared, served and
// deployed. A function registers itself once (in its package's init) with
// its name, its routes (each with the roles that may call it, or public)
// or the topics it consumes, and a constructor from the wired App. From that one declaration:
//
//   - Main serves it alone as a Cloud Run service that drains in-flight
//     requests on SIGTERM: functions/<name>/cmd, the binary deployed;
//   - the Functions Framework knows it as an HTTP function of that name
//     serving the same complete Handler (an event function's endpoint
//     included, so a delivery is never taken without its service token),
//     so funcframework.Start with FUNCTION_TARGET=<Name> serves it as
//     Google's function runtime would. A test builds and runs that entry.
//     Google's function buildpack cannot deploy this repository (it wants
//     the function's package at the module root), so deploys go through
//     Main;
//   - the local stack mounts every function in one process;
//   - every route sheds load beyond an in-flight limit, is authenticated
//     with its declared roles (unless declared public), and its callers
//     are rate limited per clinic; the routes declared as creating take an
//     Idempotency-Key, query strings hold only the parameters declared,
//     each once, and a handler's error is answered once, as problem+json
//     (see Handler);
//   - the deployment checks can compare the routes with the load balancer.
package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/ports"
)

// EventFunc is a CloudEvent function as the functions framework defines it.
type EventFunc = func(ctx context.Context, e cloudevents.Event) error

// Function declares one deployable function. Exactly one of HTTP and Event is set.
type Function struct {
	Name string // exported name, e.g. "Scans"; also FUNCTION_TARGET and the service name suffix
	// Routes are the routes the function answers on the public entry
	// point, each with who may call it. HTTP must return a handler for
	// each.
	Routes []Route
	// MaxBody bounds the request body of the creating routes, which is read
	// whole to fingerprint it (default httpkit.MaxJSONBytes).
	MaxBody int64
	// BodyMemory is the working memory one byte of a request body costs
	// while it is served (the body, what is parsed from it, its sealed
	// copy): each body is admitted against the instance's memory budget at
	// its declared length times this (default 2).
	BodyMemory float64
	// HTTP builds the function's handlers on the wired App, by route
	// pattern: each is the route's own work (decode, call the service,
	// encode); the platform authenticates, limits and answers its error.
	HTTP func(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error)
	// Topics are the topics an event function consumes, each through its
	// own subscription (see Subscriptions).
	Topics []string
	Event  func(app *bootstrap.App) (EventFunc, error)
}

// Route declares one route of an HTTP function: its pattern, who may call
// it, whether it creates, and the query parameters it reads.
type Route struct {
	// Pattern is the ServeMux pattern, "METHOD /path/{param}".
	Pattern string
	// Roles are the roles whose verified bearer token may call the route
	// (401 without a valid token, 403 for another role). A route declares
	// roles or is Public, never neither: a forgotten role list is a
	// start-up panic, not an open route.
	Roles []auth.Role
	// Public routes need no token (the clinic locator, the portal's static
	// files). Having no caller, they get only load shedding and the query
	// rule: no per-clinic rate limit or share (Cloud Armor throttles them
	// per client address at the load balancer).
	Public bool
	// Creates marks a POST that creates a resource. The platform makes it
	// idempotent: a request with an Idempotency-Key is replayed, refused
	// (422) or held off (409) by httpkit.Idempotency, keyed by the verified
	// caller, so the handler itself does nothing about it. Every other
	// POST route is an action (a task run, a status change) whose own
	// semantics make a repeat harmless.
	Creates bool
	// Query are the query parameters the route reads. The platform
	// refuses (400, naming it) a parameter given more than once on any
	// route, and one not in Query on a route that creates, declares Query
	// or NoQuery: so a creating route without Query takes no query string
	// at all. Other routes ignore a query string (see QueryRule).
	Query []string
	// NoQuery declares that a route reads no parameter, so that one sent
	// anyway (a scheduler job's asOf) is refused rather than ignored.
	NoQuery bool
}

// QueryRule is the rule the platform applies to the route's query string:
// its declared parameters, strict on the creating routes and the routes
// that declare Query or NoQuery.
func (rt Route) QueryRule() httpkit.QueryRule {
	return httpkit.QueryRule{Allowed: rt.Query, Strict: rt.Creates || rt.NoQuery || len(rt.Query) > 0}
}

// Patterns are the patterns of f's routes, in declaration order.
func (f Function) Patterns() []string {
	out := make([]string, len(f.Routes))
	for i, rt := range f.Routes {
		out[i] = rt.Pattern
	}
	return out
}

var (
	mu       sync.Mutex
	registry = map[string]Function{}
)

// Register declares f. It panics on a malformed or duplicate declaration,
// which is a programming error found at start-up.
func Register(f Function) {
	if f.Name == "" || (f.HTTP == nil) == (f.Event == nil) || (f.Event != nil && len(f.Topics) == 0) || (f.HTTP != nil && len(f.Routes) == 0) ||
		f.MaxBody < 0 || f.BodyMemory < 0 || (f.Event != nil && (len(f.Routes) > 0 || f.MaxBody > 0 || f.BodyMemory > 0)) {
		panic(fmt.Sprintf("platform: malformed function declaration %q", f.Name))
	}
	for i, rt := range f.Routes {
		if err := rt.check(f.Routes[:i]); err != nil {
			panic(fmt.Sprintf("platform: function %q: route %q: %v", f.Name, rt.Pattern, err))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[f.Name]; dup {
		panic("platform: function registered twice: " + f.Name)
	}
	registry[f.Name] = f
	functions.HTTP(f.Name, (&lazyHandler{f: f}).ServeHTTP)
}

// check reports what is wrong with rt, declared after earlier.
func (rt Route) check(earlier []Route) error {
	method, path, ok := strings.Cut(rt.Pattern, " ")
	switch {
	case !ok || method == "" || strings.ToUpper(method) != method || !strings.HasPrefix(path, "/"):
		return errors.New(`not a "METHOD /path" pattern`)
	case slices.ContainsFunc(earlier, func(e Route) bool { return e.Pattern == rt.Pattern }):
		return errors.New("declared twice")
	case rt.Public && len(rt.Roles) > 0:
		return errors.New("both public and restricted to roles")
	case !rt.Public && len(rt.Roles) == 0:
		return errors.New("no roles: declare who may call it, or Public")
	case rt.Creates && method != http.MethodPost:
		return errors.New("only a POST creates")
	case rt.Creates && rt.Public:
		return errors.New("a creating route needs a verified caller (its Idempotency-Key is theirs)")
	case rt.NoQuery && len(rt.Query) > 0:
		return errors.New("both NoQuery and query parameters")
	}
	for i, role := range rt.Roles {
		if !role.Valid() || slices.Contains(rt.Roles[:i], role) {
			return fmt.Errorf("role %q is unknown or listed twice", role)
		}
	}
	for i, p := range rt.Query {
		if p == "" || slices.Contains(rt.Query[:i], p) {
			return fmt.Errorf("query parameter %q is empty or listed twice", p)
		}
	}
	return nil
}

// Functions returns every registered function, sorted by name.
func Functions() []Function {
	mu.Lock()
	defer mu.Unlock()
	names := slices.Sorted(maps.Keys(registry))
	out := make([]Function, 0, len(names))
	for _, n := range names {
		out = append(out, registry[n])
	}
	return out
}

// Lookup returns the function registered as name.
func Lookup(name string) (Function, bool) {
	mu.Lock()
	defer mu.Unlock()
	f, ok := registry[name]
	return f, ok
}

// Handler builds the complete HTTP handler of f on app: GET /healthz, the
// function's routes (HTTP) or its event endpoint at "/" (Event: binary or
// structured CloudEvents and Pub/Sub push envelopes, service tokens only),
// wrapped with request ids, trace, logging and panic recovery.
//
// Each route is served, in this order: load shedding beyond
// app.Config.MaxInFlight requests at once (503; never the health check);
// the route's query rule (Route.QueryRule, 400); unless the route is
// Public, authentication with the route's roles (401, 403); then, for the
// authenticated caller, its rate limit (app.Config.RateLimit per clinic,
// 429), its fair share of the instance (httpkit.Admission: at most
// app.Config.ClinicShare of the requests in flight, 429, and of the memory
// budget for request bodies, 503; the body must arrive at
// app.Config.MinBodyRate, 408) and, on a creating route, Idempotency-Key
// handling; last the route's handler, whose error is answered as
// problem+json. Event deliveries are not rate limited: Pub/Sub paces its
// pushes itself, and a refused delivery would count towards dead-lettering.
func Handler(app *bootstrap.App, f Function) (http.Handler, error) {
	shed := &httpkit.InFlightLimit{Max: app.Config.MaxInFlight}
	limit := &httpkit.RateLimit{PerSecond: app.Config.RateLimit, Burst: app.Config.RateBurst}
	maxBody := f.MaxBody
	if maxBody == 0 {
		maxBody = httpkit.MaxJSONBytes
	}
	idem := &httpkit.Idempotency{Docs: app.Docs, MaxBody: maxBody, Sealer: app.Sealer, Audit: app.Audit}
	// Requests in flight are the function's own (each is its own service
	// in production), memory the process's.
	slots := &admission.Pool{Capacity: int64(app.Config.MaxInFlight), PerKey: admission.Share(int64(app.Config.MaxInFlight), app.Config.ClinicShare)}
	admit := &httpkit.Admission{Slots: slots, Memory: app.Memory, MaxBody: maxBody, BodyMemory: f.BodyMemory,
		Rate: httpkit.BodyRate{Grace: app.Config.BodyGrace, MinRate: app.Config.MinBodyRate}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpkit.JSON(w, http.StatusOK, map[string]string{"status": "ok", "function": f.Name})
	})
	switch {
	case f.HTTP != nil:
		handlers, err := f.HTTP(app)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", f.Name, err)
		}
		got := slices.Sorted(maps.Keys(handlers))
		want := f.Patterns()
		sort.Strings(want)
		if !slices.Equal(got, want) {
			return nil, fmt.Errorf("function %s: handlers for %v, declared routes %v", f.Name, got, want)
		}
		for _, rt := range f.Routes {
			h := handlers[rt.Pattern]
			if h == nil {
				return nil, fmt.Errorf("function %s: no handler for %s", f.Name, rt.Pattern)
			}
			var route http.Handler = h
			if rt.Creates {
				route = idem.Wrap(route)
			}
			if !rt.Public {
				route = httpkit.Authenticate(app.Verifier, rt.Roles, limit.Wrap(admit.Wrap(route)))
			}
			mux.Handle(rt.Pattern, shed.Wrap(rt.QueryRule().Wrap(route)))
		}
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			httpkit.Error(w, r, errs.Ef("route", errs.NotFound, "no route for %s %s", r.Method, r.URL.Path))
		})
	default:
		fn, err := eventFunc(app, f)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", f.Name, err)
		}
		mux.Handle("POST /", shed.Wrap(httpkit.Authenticate(app.Verifier, []auth.Role{auth.RoleService}, eventhttp.Handler(fn))))
	}
	return httpkit.ServeTraced(app.Log, app.TracerProvider(), f.Name, mux), nil
}

// lazyHandler serves a function under the Functions Framework's own
// server: the function's complete Handler, wired from the environment on
// the first request (the framework gives a function no start-up hook). A
// failed wiring answers 503 and is tried again on the next request.
type lazyHandler struct {
	f  Function
	mu sync.Mutex
	h  http.Handler
}

func (l *lazyHandler) handler() (http.Handler, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h != nil {
		return l.h, nil
	}
	app, err := bootstrap.FromEnv(context.Background())
	if err != nil {
		return nil, err
	}
	h, err := Handler(app, l.f)
	if err != nil {
		_ = app.Close()
		return nil, err
	}
	l.h = h
	return h, nil
}

func (l *lazyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, err := l.handler()
	if err != nil {
		httpkit.Error(w, r, errs.E("start", errs.Unavailable, err))
		return
	}
	h.ServeHTTP(w, r)
}

// eventFunc builds event function f on app, counting each failed delivery
// on the events.failed metric, and on events.dead_lettered when it was the
// subscription's last attempt (Pub/Sub then moves the message to the
// dead-letter topic).
func eventFunc(app *bootstrap.App, f Function) (EventFunc, error) {
	fn, err := f.Event(app)
	if err != nil {
		return nil, err
	}
	last := 0
	if subs := Subscriptions(f); len(subs) > 0 {
		last = subs[0].MaxDeliveryAttempts
	}
	return func(ctx context.Context, e cloudevents.Event) error {
		err := fn(ctx, e)
		if err != nil {
			typ, attempt := e.Type(), 0
			if d, uerr := eventhttp.Unwrap(e); uerr == nil {
				typ, attempt = d.Event.Type, d.Attempt
			}
			app.Metrics.EventFailed(ctx, f.Name, typ, last > 0 && attempt >= last)
		}
		return err
	}, nil
}

// Subscriptions are the subscriptions through which event function f
// consumes its topics, each with its dead-letter topic: the same names
// locally and in Terraform.
func Subscriptions(f Function) []ports.SubscriptionSpec {
	var out []ports.SubscriptionSpec
	for _, t := range f.Topics {
		name := t + "-to-" + strings.ToLower(f.Name)
		out = append(out, ports.SubscriptionSpec{Name: name, Topic: t, DeadLetterTopic: name + "-dead-letter",
			MaxDeliveryAttempts: 5, AckDeadline: 60 * time.Second})
	}
	return out
}

// Consume builds the CloudEvent function of a consumer of one event type:
// it unwraps the Pub/Sub message, ignores other types, decodes the event's
// data into T (a malformed event is an error, so it is retried and then
// dead-lettered), and calls handle with the data and the delivery. A
// returned error nacks the event; it is logged with its kind, never its
// text, since texts may hold ids of patients' records.
func Consume[T any](eventType string, valid func(T) bool, handle func(ctx context.Context, data T, d ports.Delivery) error) EventFunc {
	return func(ctx context.Context, e cloudevents.Event) error {
		d, err := eventhttp.Unwrap(e)
		if err != nil {
			return err
		}
		log := httpkit.Logger(ctx)
		if d.Event.Type != eventType {
			log.WarnContext(ctx, "ignoring event of unexpected type", "eventId", d.Event.ID, "type", d.Event.Type)
			return nil
		}
		var data T
		if err := json.Unmarshal(d.Event.Data, &data); err != nil || !valid(data) {
			return errs.Ef("consume", errs.Invalid, "event %s: malformed %s data", d.Event.ID, eventType)
		}
		if err := handle(ctx, data, d); err != nil {
			log.WarnContext(ctx, "event handling failed; it will be retried", "eventId", d.Event.ID, "type", eventType,
				"attempt", d.Attempt, "kind", errs.KindOf(err).String())
			return err
		}
		return nil
	}
}
