// Package localstack assembles every registered function into one HTTP
// server on embedded backends: the local stack of `go run ./scripts/local`
// and of the end-to-end tests. The caller imports the function packages it
// wants served (their init registers them with package platform).
//
// Events are delivered to their consumer functions as Cloud Run receives
// them (binary-mode CloudEvents wrapping the Pub/Sub message, with a service
// bearer token), with retries and a dead-letter topic per subscription. A
// development issuer signs tokens; the same verifier as production checks
// them.
package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents"
	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/apispec"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/auth/devissuer"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/bootstrap/standins"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/locator"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/faults"
)

// Project is the project id the local stack pretends to run in.
const Project = "lensflow-local"

// Options configure Start.
type Options struct {
	Addr    string    // listen address, e.g. 127.0.0.1:8080 (":0" style ports allowed)
	DataDir string    // where everything is kept between runs
	Log     io.Writer // structured logs; nil means os.Stdout
	// Config overrides the embedded defaults (e.g. from the environment);
	// DataDir and the development issuer URL are always set by Start.
	Config bootstrap.Config
	// DuplicateEvents, when above 1, publishes every event that many times,
	// the copies a few milliseconds apart in random order, as Pub/Sub's
	// at-least-once delivery may: for tests that every consumer is idempotent.
	DuplicateEvents int
	// Faults, when set, wraps the document store, blob store and event
	// publisher of every function with fault injection (LENSFLOW_FAULTS
	// for `go run ./scripts/local`). Start-up itself runs without it.
	Faults *faults.Injector
	// WrapDocs, when set, wraps every function's document store (after
	// Faults), e.g. to record the queries issued (firestoreindex.Recorder).
	WrapDocs func(ports.Documents) ports.Documents
}

// Stack is a running local stack.
type Stack struct {
	URL          string            // base URL, e.g. http://127.0.0.1:8080
	Tokens       map[string]string // demo clinic -> practitioner bearer token
	LabToken     string            // a lab staff bearer token
	ServiceToken string            // a service token, as Cloud Scheduler presents (for the task routes)
	App          *bootstrap.App
	Local        *standins.Local

	srv      *http.Server
	done     chan struct{} // closed when the server stops
	ready    chan struct{} // closed when the server is serving
	serveErr error
	stop     context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Once
	closeEr  error
	dev      *devBoard // what the developer dashboard shows (dev.go)
}

// Start wires the app on embedded backends, mounts every registered
// function, starts event delivery and the outbox relay, writes
// <data>/dev-tokens.json and serves until Shutdown.
func Start(ctx context.Context, o Options) (st *Stack, err error) {
	if o.Log == nil {
		o.Log = os.Stdout
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	base := "http://" + ln.Addr().String()
	cfg := o.Config
	cfg.Profile, cfg.DataDir, cfg.DevIssuerURL = "local", o.DataDir, base+devissuer.Path
	if cfg.Project == "" {
		cfg.Project = Project
	}
	app, local, err := standins.Open(ctx, cfg, o.Log)
	if err != nil {
		return nil, err
	}
	if local == nil || local.Broker == nil || local.DevIssuer == nil {
		app.Close()
		return nil, errors.New("the local stack needs the local events broker and the dev issuer (LENSFLOW_EVENTS=local, LENSFLOW_AUTH_ISSUERS including dev)")
	}
	st = &Stack{URL: base, App: app, Local: local, done: make(chan struct{}), ready: make(chan struct{}), dev: newDevBoard()}
	if o.DuplicateEvents > 1 {
		dup := &duplicating{Publisher: app.Events, n: o.DuplicateEvents}
		app.Events, app.Relay.Publisher = dup, dup
	}
	defer func() {
		if err != nil {
			st.stopBackground()
			app.Close()
		}
	}()
	// Nothing is in flight yet: remove files of uploads a crash cut short.
	if n, err := bootstrap.ScanService(app).SweepOrphans(ctx); err != nil {
		return nil, fmt.Errorf("sweeping orphaned scan files: %w", err)
	} else if n > 0 {
		app.Log.Info("removed scan files of interrupted uploads", "count", n)
	}
	// The public clinic locator has demo clinics to find.
	if _, err := locator.Seed(ctx, app.Docs, locator.DemoClinics()); err != nil {
		return nil, fmt.Errorf("seeding demo clinics: %w", err)
	}
	if o.Faults != nil {
		app.Docs, app.Blobs, app.Events = o.Faults.Documents(app.Docs), o.Faults.Blobs(app.Blobs), o.Faults.Publisher(app.Events)
		app.Relay.Docs, app.Relay.Publisher = app.Docs, app.Events
		app.Log.Warn("fault injection is on", "rate", o.Faults.Spec().Rate, "timeoutShare", o.Faults.Spec().TimeoutShare,
			"lostAckShare", o.Faults.Spec().LostAckShare, "latency", o.Faults.Spec().Latency.String())
	}
	if o.WrapDocs != nil {
		app.Docs = o.WrapDocs(app.Docs)
		app.Relay.Docs = app.Docs
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	st.stop = stop

	mux := http.NewServeMux()
	mux.Handle("GET "+devissuer.JWKSPath, local.DevIssuer.JWKSHandler())
	index := map[string]any{}
	tokens := &serviceToken{issuer: local.DevIssuer}
	background := backgroundApp(app)
	for _, f := range platform.Functions() {
		fa := app
		if f.HTTP == nil {
			fa = background
		}
		h, err := platform.Handler(fa, f)
		if err != nil {
			return nil, err
		}
		if f.HTTP != nil {
			for _, p := range f.Patterns() {
				mux.Handle(p, h)
			}
			index[f.Name] = map[string]any{"routes": f.Patterns()}
			continue
		}
		path := "/internal/events/" + f.Name
		mux.Handle("POST "+path, h)
		var subs []map[string]string
		for _, spec := range platform.Subscriptions(f) {
			if err := local.Broker.EnsureTopic(ctx, spec.Topic); err != nil {
				return nil, err
			}
			if err := local.Broker.EnsureSubscription(ctx, spec); err != nil {
				return nil, err
			}
			subs = append(subs, map[string]string{"topic": spec.Topic, "subscription": spec.Name, "deadLetterTopic": spec.DeadLetterTopic})
			st.wg.Add(1)
			go func(f platform.Function, spec ports.SubscriptionSpec, h http.Handler) {
				defer st.wg.Done()
				err := eventhttp.Push(bg, local.Broker, spec, Project, st.dev.timed(spec.Name, h), eventhttp.PushOptions{
					Token: tokens.get,
					OnResult: func(d ports.Delivery, status int, err error) {
						st.dev.delivered(f.Name, spec, d, status, err)
						if status >= 300 || err != nil {
							app.Log.Warn("event delivery failed; will retry", "function", f.Name, "subscription", spec.Name,
								"eventId", d.Event.ID, "attempt", d.Attempt, "status", status)
						}
					},
				})
				if err != nil && bg.Err() == nil {
					app.Log.Error("event delivery stopped", "subscription", spec.Name, "error", err.Error())
				}
			}(f, spec, h)
		}
		index[f.Name] = map[string]any{"consumes": subs, "endpoint": path}
	}
	// Topics read by programs outside the stack (the lathe cell pulls its
	// jobs), and where those programs find the Pub/Sub server.
	for _, spec := range []ports.SubscriptionSpec{orders.LatheCellSubscription} {
		if err := local.Broker.EnsureTopic(ctx, spec.Topic); err != nil {
			return nil, err
		}
		if err := local.Broker.EnsureSubscription(ctx, spec); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(o.DataDir, "pubsub-emulator-host"), []byte(local.Broker.Addr()+"\n"), 0o600); err != nil {
		return nil, err
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpkit.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	// The API's OpenAPI description (the portal renders it at /portal/api.html).
	mux.Handle("GET /openapi.json", apispec.Handler())
	mux.Handle("/", httpkit.Serve(app.Log, "local", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpkit.Error(w, r, errs.Ef("route", errs.NotFound, "no route for %s %s", r.Method, r.URL.Path))
	})))
	// The developer's pages and their data, local only (dev.go).
	st.mountDev(mux, index)
	mux.HandleFunc("GET /{$}", rootHandler(index))

	st.wg.Add(4)
	go func() {
		defer st.wg.Done()
		relay(bg, app)
	}()
	// The schedules Cloud Scheduler keeps in production.
	go func() {
		defer st.wg.Done()
		st.every(bg, app, 24*time.Hour, "/v1/tasks/follow-ups")
	}()
	go func() {
		defer st.wg.Done()
		st.every(bg, app, time.Minute, "/v1/tasks/notifications")
	}()
	go func() {
		defer st.wg.Done()
		st.every(bg, app, time.Minute, "/v1/tasks/census")
	}()

	if st.Tokens, st.LabToken, st.ServiceToken, err = demoTokens(local.DevIssuer); err != nil {
		return nil, err
	}
	if err := writeTokens(filepath.Join(o.DataDir, "dev-staff-tokens.json"), map[string]string{"lab": st.LabToken, "service": st.ServiceToken}); err != nil {
		return nil, err
	}
	st.srv = platform.NewServer(st.dev.recordRequests(mux))
	go func() { st.serveErr = st.srv.Serve(ln); close(st.done) }()
	close(st.ready)
	// Written last: its presence tells scripts the stack is ready.
	if err := writeTokens(filepath.Join(o.DataDir, "dev-tokens.json"), st.Tokens); err != nil {
		st.srv.Close()
		return nil, err
	}
	return st, nil
}

// Shutdown stops accepting requests, lets in-flight ones finish (up to
// platform.DrainTimeout), stops event delivery and closes the backends.
func (st *Stack) Shutdown() error {
	st.closeMu.Do(func() {
		sctx, cancel := context.WithTimeout(context.Background(), platform.DrainTimeout)
		defer cancel()
		err := st.srv.Shutdown(sctx)
		<-st.done
		if e := st.serveErr; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		st.stopBackground()
		st.closeEr = errors.Join(err, st.App.Close())
	})
	return st.closeEr
}

// Done is closed when the server stops; Err then says why.
func (st *Stack) Done() <-chan struct{} { return st.done }

// Err is the server's exit error once Done is closed.
func (st *Stack) Err() error {
	select {
	case <-st.done:
		if errors.Is(st.serveErr, http.ErrServerClosed) {
			return nil
		}
		return st.serveErr
	default:
		return nil
	}
}

func (st *Stack) stopBackground() {
	if st.stop != nil {
		st.stop()
	}
	st.wg.Wait()
}

// ReplayDeadLetters moves every message waiting on the dead-letter
// subscriptions of the stack's event functions back onto the topic it
// came from, as an operator does once the cause is fixed, and returns how
// many it moved. Every subscriber of that topic sees the event again;
// consumers are idempotent.
func (st *Stack) ReplayDeadLetters(ctx context.Context) (int, error) {
	n := 0
	for _, f := range platform.Functions() {
		for _, spec := range platform.Subscriptions(f) {
			m, err := replay(ctx, st.Local.Broker, spec)
			n += m
			if err != nil {
				return n, fmt.Errorf("replaying %s: %w", spec.DeadLetterTopic, err)
			}
		}
	}
	return n, nil
}

// replay drains spec's dead-letter subscription onto spec's topic, stopping
// once nothing has arrived for half a second.
func replay(ctx context.Context, b ports.Broker, spec ports.SubscriptionSpec) (int, error) {
	const idle = 500 * time.Millisecond
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	n, last := 0, time.Now()
	go func() {
		t := time.NewTicker(idle / 5)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				mu.Lock()
				quiet := time.Since(last) > idle
				mu.Unlock()
				if quiet {
					cancel()
					return
				}
			}
		}
	}()
	err := b.Receive(rctx, pubsubevents.DeadLetterSubscription(spec), func(ctx context.Context, d ports.Delivery) error {
		if err := b.Publish(ctx, spec.Topic, d.Event); err != nil {
			return err
		}
		mu.Lock()
		n, last = n+1, time.Now()
		mu.Unlock()
		return nil
	})
	if err != nil && rctx.Err() == nil {
		return n, err
	}
	return n, nil
}

// every invokes a task route once at start-up and then every interval, as
// Cloud Scheduler does in production (with a service token).
func (st *Stack) every(ctx context.Context, app *bootstrap.App, interval time.Duration, path string) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.ready:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, st.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+st.ServiceToken)
		if resp, err := http.DefaultClient.Do(req); err != nil {
			if ctx.Err() == nil {
				app.Log.Warn("scheduled task failed", "path", path, "error", err.Error())
			}
		} else {
			resp.Body.Close()
			app.Log.Debug("scheduled task ran", "path", path, "status", resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func relay(ctx context.Context, app *bootstrap.App) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	minAge := time.Duration(0)
	for {
		if n, err := app.Relay.Flush(ctx, minAge); n > 0 || (err != nil && ctx.Err() == nil) {
			app.Log.Info("outbox relay published pending events", "published", n, "error", fmt.Sprint(err))
		}
		minAge = 2 * time.Second
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// duplicating publishes each event n times: once before Publish returns,
// the copies after random short delays.
type duplicating struct {
	ports.Publisher
	n int
}

func (d *duplicating) Publish(ctx context.Context, topic string, e ports.Event) error {
	if err := d.Publisher.Publish(ctx, topic, e); err != nil {
		return err
	}
	for i := 1; i < d.n; i++ {
		go func() {
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			_ = d.Publisher.Publish(context.WithoutCancel(ctx), topic, e)
		}()
	}
	return nil
}

// serviceToken mints and caches the bearer token local event deliveries
// carry, as Pub/Sub push attaches an OIDC token.
type serviceToken struct {
	issuer *devissuer.Issuer
	mu     sync.Mutex
	tok    string
	exp    time.Time
}

func (s *serviceToken) get(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Until(s.exp) < time.Minute {
		t, err := s.issuer.MintService(time.Hour)
		if err != nil {
			return "", err
		}
		s.tok, s.exp = t, time.Now().Add(time.Hour)
	}
	return s.tok, nil
}

// demoTokens mints the demo clinics' practitioner tokens, a lab staff token
// and a service token, each for the issuer's DemoTTL (at most the token
// lifetime the verifier accepts, LENSFLOW_MAX_TOKEN_LIFETIME).
func demoTokens(di *devissuer.Issuer) (clinics map[string]string, lab, service string, err error) {
	clinics = map[string]string{}
	for _, c := range devissuer.Clinics {
		if clinics[c], err = di.MintDemoPractitioner(c); err != nil {
			return nil, "", "", err
		}
	}
	if lab, err = di.Mint(devissuer.Claims{Subject: "lab-demo", Role: auth.RoleLab,
		Email: "lab@lensflow-local.example", EmailVerified: true}, di.DemoTTL()); err != nil {
		return nil, "", "", err
	}
	if service, err = di.MintService(di.DemoTTL()); err != nil {
		return nil, "", "", err
	}
	return clinics, lab, service, nil
}

func writeTokens(path string, toks map[string]string) error {
	b, err := json.MarshalIndent(toks, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// backgroundApp is app for the event functions. In production every
// function is its own service with its own memory budget, so a design
// never takes memory a clinic's upload needs; here they share a process,
// so event deliveries get a memory pool of their own, half the budget
// (with the same per-clinic share of it), beside the requests' pool.
func backgroundApp(app *bootstrap.App) *bootstrap.App {
	bg := *app
	budget := app.Config.MemoryBudget() / 2
	bg.Memory = &admission.Pool{Capacity: budget, PerKey: admission.Share(budget, app.Config.ClinicShare)}
	return &bg
}

// rootHandler answers the stack's root: a browser (one that asks for HTML
// before JSON) is sent to the portal, anything else gets the JSON index of
// the mounted functions.
func rootHandler(index any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if wantsHTML(r.Header.Get("Accept")) {
			http.Redirect(w, r, "/portal/", http.StatusSeeOther)
			return
		}
		httpkit.JSON(w, http.StatusOK, map[string]any{"service": "lensflow local stack", "functions": index})
	}
}

// wantsHTML reports whether an Accept header names text/html before any
// JSON type (browsers send text/html first; curl sends */*).
func wantsHTML(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch {
		case mt == "text/html":
			return true
		case strings.HasSuffix(mt, "json"):
			return false
		}
	}
	return false
}
