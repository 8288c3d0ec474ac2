package localstack

import (
	"embed"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventhttp"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/logging"
	"github.com/lensflow/lensflow/shared/metrics"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/tracing"
)

// Bounds of what the dashboard keeps in memory.
const (
	devMaxRequests    = 500 // recent requests, all routes together
	devMaxDeliveries  = 200 // event deliveries, per subscription
	devMaxDeadLetters = 100 // dead letters listed, per subscription (the count is exact)
)

// devCSP is the dashboard's content security policy: its own scripts,
// styles and API, nothing else.
const devCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed devui
var devUI embed.FS

// DevHeader is the request header, with the value "1", that every
// state-changing developer route (any method but GET, HEAD and OPTIONS
// under /dev/) requires. A page of another origin cannot send a custom
// header without a CORS preflight, which the stack never grants, and a
// clinic's webhook delivery sends only its fixed headers; so a request
// carrying it comes from the dashboard's own script or a developer's tool.
const DevHeader = "X-Lensflow-Dev"

// mountDev adds the local stack's developer routes to mux: the dashboard
// and what the portal needs to sign in locally. index describes the
// mounted functions. Every route answers only requests made from the
// loopback interface to a loopback host name; a state-changing one also
// needs DevHeader and no sign of another origin.
func (st *Stack) mountDev(mux *http.ServeMux, index map[string]any) {
	st.dev.learn(index)
	ui, _ := fs.Sub(devUI, "devui")
	static := http.FileServerFS(ui)
	mux.Handle("GET /dev", http.RedirectHandler("/dev/", http.StatusPermanentRedirect))
	mux.Handle("GET /dev/{$}", devOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, ui, "index.html")
	})))
	mux.Handle("GET /dev/static/{file}", devOnly(http.StripPrefix("/dev/static", static)))
	mux.Handle("GET /dev/tokens", devOnly(httpkit.HandlerFunc(st.devTokens)))
	mux.Handle("GET /dev/api/state", devOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpkit.JSON(w, http.StatusOK, st.dev.state(index))
	})))
	mux.Handle("POST /dev/api/dead-letters/replay", devOnly(httpkit.HandlerFunc(st.devReplay)))
	mux.Handle("GET /dev/api/traces/{traceId}", devOnly(httpkit.HandlerFunc(st.devTrace)))
	mux.Handle("GET /dev/api/metrics", devOnly(httpkit.HandlerFunc(st.devMetrics)))
}

// devMetrics answers the lab's metrics as recorded so far
// (LENSFLOW_METRICS=memory): {"metrics": [...]}, each a name, its kind and
// its points by attribute set; 404 when metrics are not kept in memory.
func (st *Stack) devMetrics(w http.ResponseWriter, r *http.Request) error {
	series, err := st.App.Metrics.Snapshot(r.Context())
	if errors.Is(err, metrics.ErrNotKept) {
		return errs.Ef("dev.metrics", errs.NotFound, "metrics are kept only with LENSFLOW_METRICS=memory")
	}
	if err != nil {
		return errs.E("dev.metrics", errs.Other, err)
	}
	if series == nil {
		series = []metrics.Series{}
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"time": time.Now().UTC(), "metrics": series})
	return nil
}

// devTrace answers the kept spans of a trace (LENSFLOW_TRACING=memory),
// oldest first: {"traceId": ..., "spans": [...]}; 404 when tracing is not
// kept in memory, 400 for a malformed trace id.
func (st *Stack) devTrace(w http.ResponseWriter, r *http.Request) error {
	id := strings.ToLower(r.PathValue("traceId"))
	if _, err := trace.TraceIDFromHex(id); err != nil {
		return errs.Field("dev.trace", "traceId", "not a trace id of 32 hex digits")
	}
	if st.App.Tracing == nil || st.App.Tracing.Store == nil {
		return errs.Ef("dev.trace", errs.NotFound, "spans are kept only with LENSFLOW_TRACING=memory")
	}
	spans := st.App.Tracing.Store.Trace(id)
	if spans == nil {
		spans = []tracing.Span{}
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"traceId": id, "spans": spans})
	return nil
}

// devTokens answers the demo practitioners' and the lab's bearer tokens,
// minted for each request: demo tokens live a day at most (the token
// lifetime cap), and a stack may run for longer.
func (st *Stack) devTokens(w http.ResponseWriter, r *http.Request) error {
	clinics, lab, _, err := demoTokens(st.Local.DevIssuer)
	if err != nil {
		return err
	}
	httpkit.JSON(w, http.StatusOK, map[string]any{"clinics": clinics, "lab": lab})
	return nil
}

// devReplay replays every dead letter (ReplayDeadLetters), one replay at a
// time, and forgets the dead letters the dashboard listed before it began.
func (st *Stack) devReplay(w http.ResponseWriter, r *http.Request) error {
	if !st.dev.replaying.TryLock() {
		return errs.Ef("dev.replay", errs.Conflict, "a replay is already running")
	}
	defer st.dev.replaying.Unlock()
	began := time.Now()
	n, err := st.ReplayDeadLetters(r.Context())
	st.dev.replayed(began)
	if err != nil {
		return err
	}
	httpkit.JSON(w, http.StatusOK, map[string]int{"replayed": n})
	return nil
}

// devOnly refuses (403) a request that did not come from the loopback
// interface, or that names a host other than a loopback one (a DNS
// rebinding page), and a state-changing request that lacks DevHeader or
// was sent by a page of another origin (devWriteAllowed); it sets the
// headers every developer page carries.
func devOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", devCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !loopbackAddr(r.RemoteAddr) || !loopbackHost(r.Host) {
			httpkit.Error(w, r, errs.Ef("dev", errs.Permission, "the developer pages answer only on the loopback interface"))
			return
		}
		if err := devWriteAllowed(r); err != nil {
			httpkit.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// devWriteAllowed checks a request that may change the local stack (any
// method but GET, HEAD and OPTIONS): it must carry DevHeader: 1, and a
// browser must not name another origin in Origin or Sec-Fetch-Site.
func devWriteAllowed(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if r.Header.Get(DevHeader) != "1" {
		return errs.Ef("dev", errs.Permission, "requests that change the local stack need the header %s: 1 (the dashboard sends it)", DevHeader)
	}
	o, site := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
	if (o != "" && o != "http://"+r.Host) || (site != "" && site != "same-origin" && site != "none") {
		return errs.Ef("dev", errs.Permission, "cross-origin requests may not change the local stack")
	}
	return nil
}

// loopbackAddr reports whether a RemoteAddr ("ip:port") is a loopback address.
func loopbackAddr(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// loopbackHost reports whether a Host header names the local machine.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// devBoard keeps what the developer dashboard shows: recent requests,
// event deliveries per subscription and the dead letters seen since the
// stack started. It holds ids, routes, statuses and timings only.
type devBoard struct {
	mu        sync.Mutex
	functions map[string]string           // route pattern -> function
	requests  ring[devRequest]            // newest last
	subs      map[string]*devSubscription // by subscription name
	timings   map[string]time.Duration    // subscription + message id -> handler latency, until its result
	replaying sync.Mutex                  // held during a replay
}

// devRequest is one request the stack served.
type devRequest struct {
	Time      time.Time `json:"time"`
	Method    string    `json:"method"`
	Route     string    `json:"route"` // the route pattern, never the URL
	Function  string    `json:"function"`
	Status    int       `json:"status"`
	LatencyMs float64   `json:"latencyMs"`
	TraceID   string    `json:"traceId"`
	RequestID string    `json:"requestId,omitempty"`
}

// devDelivery is one delivery of an event to a subscription's function.
type devDelivery struct {
	Time         time.Time `json:"time"`
	Function     string    `json:"function"`
	Topic        string    `json:"topic"`
	Subscription string    `json:"subscription"`
	EventID      string    `json:"eventId"`
	EventType    string    `json:"eventType"`
	Attempt      int       `json:"attempt"`
	Status       int       `json:"status"` // 0 when no request was made
	LatencyMs    float64   `json:"latencyMs"`
	Outcome      string    `json:"outcome"`           // ok, retry or dead-lettered
	Error        string    `json:"error,omitempty"`   // the error's kind, never its text
	TraceID      string    `json:"traceId,omitempty"` // the trace the event continues (its traceparent), holding the consumer's span
}

// devDeadLetter is an event that ended on a dead-letter topic.
type devDeadLetter struct {
	Time      time.Time `json:"time"`
	EventID   string    `json:"eventId"`
	EventType string    `json:"eventType"`
}

// devSubscription is one subscription's counters and logs.
type devSubscription struct {
	Function        string          `json:"function"`
	Topic           string          `json:"topic"`
	Subscription    string          `json:"subscription"`
	DeadLetterTopic string          `json:"deadLetterTopic"`
	Delivered       int             `json:"delivered"`
	Retried         int             `json:"retried"`
	DeadLettered    int             `json:"deadLettered"`
	waiting         []devDeadLetter // since the last replay, newest last
	waitingCount    int
	log             ring[devDelivery]
}

func newDevBoard() *devBoard {
	return &devBoard{
		functions: map[string]string{},
		requests:  ring[devRequest]{max: devMaxRequests},
		subs:      map[string]*devSubscription{},
		timings:   map[string]time.Duration{},
	}
}

// learn records the registered functions' routes and subscriptions.
func (b *devBoard) learn(index map[string]any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range platform.Functions() {
		if _, mounted := index[f.Name]; !mounted {
			continue
		}
		for _, p := range f.Patterns() {
			b.functions[p] = f.Name
		}
		if f.HTTP == nil {
			for _, spec := range platform.Subscriptions(f) {
				b.subscription(f.Name, spec)
			}
		}
	}
}

// subscription returns spec's entry, creating it. b.mu must be held.
func (b *devBoard) subscription(function string, spec ports.SubscriptionSpec) *devSubscription {
	s := b.subs[spec.Name]
	if s == nil {
		s = &devSubscription{Function: function, Topic: spec.Topic, Subscription: spec.Name,
			DeadLetterTopic: spec.DeadLetterTopic, log: ring[devDelivery]{max: devMaxDeliveries}}
		b.subs[spec.Name] = s
	}
	return s
}

// recordRequests wraps the stack's handler: every request but the
// developer pages' own is added to the recent requests. A request without
// a valid traceparent is given the one its trace id is recorded under, so
// the function's logs carry the same trace.
func (b *devBoard) recordRequests(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dev" || strings.HasPrefix(r.URL.Path, "/dev/") {
			mux.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		t := logging.TraceFromRequest(r)
		if _, ok := logging.ParseTraceparent(r.Header.Get("traceparent")); !ok {
			r = r.Clone(r.Context())
			r.Header.Set("traceparent", t.Traceparent())
		}
		sw := &devStatusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			route := r.Pattern // set by the mux
			if route == "" {
				route = "(no route)"
			}
			b.addRequest(devRequest{Time: start.UTC(), Method: r.Method, Route: route, Status: sw.status, LatencyMs: ms(time.Since(start)), TraceID: t.TraceID, RequestID: w.Header().Get("X-Request-Id")})
		}()
		mux.ServeHTTP(sw, r)
	})
}

// addRequest records q, naming the function that serves its route (the
// stack itself serves the routes no function declares).
func (b *devBoard) addRequest(q devRequest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q.Function = b.functions[q.Route]
	if q.Function == "" {
		q.Function = "stack"
	}
	b.requests.add(q)
}

// timed wraps an event function's handler to time each delivery to
// subscription; delivered picks the timing up.
func (b *devBoard) timed(subscription string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() {
			b.mu.Lock()
			b.timings[subscription+"\x00"+r.Header.Get("Ce-Id")] = time.Since(start)
			b.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// delivered records the result of one delivery of d to spec's function
// (eventhttp.PushOptions.OnResult): a failure on the last attempt has sent
// the event to the dead-letter topic.
func (b *devBoard) delivered(function string, spec ports.SubscriptionSpec, d ports.Delivery, status int, err error) {
	now := time.Now().UTC()
	rec := devDelivery{Time: now, Function: function, Topic: spec.Topic, Subscription: spec.Name, EventID: d.Event.ID,
		EventType: d.Event.Type, Attempt: d.Attempt, Status: status, Outcome: "ok"}
	if err != nil {
		rec.Error = errs.KindOf(err).String()
	}
	if t, ok := logging.ParseTraceparent(d.Event.Extras[tracing.Extension]); ok {
		rec.TraceID = t.TraceID
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	key := spec.Name + "\x00" + d.MessageID
	rec.LatencyMs = ms(b.timings[key])
	delete(b.timings, key)
	s := b.subscription(function, spec)
	switch {
	case err == nil && eventhttp.Acked(status):
		s.Delivered++
	case spec.MaxDeliveryAttempts > 0 && d.Attempt >= spec.MaxDeliveryAttempts:
		rec.Outcome = "dead-lettered"
		s.DeadLettered++
		s.waitingCount++
		s.waiting = append(s.waiting, devDeadLetter{Time: now, EventID: d.Event.ID, EventType: d.Event.Type})
		if len(s.waiting) > devMaxDeadLetters {
			s.waiting = s.waiting[len(s.waiting)-devMaxDeadLetters:]
		}
	default:
		rec.Outcome = "retry"
		s.Retried++
	}
	s.log.add(rec)
}

// replayed forgets the dead letters recorded before a replay that began
// at began: the replay moved them back onto their topics.
func (b *devBoard) replayed(began time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs {
		keep := s.waiting[:0]
		for _, d := range s.waiting {
			if !d.Time.Before(began) {
				keep = append(keep, d)
			}
		}
		s.waitingCount -= len(s.waiting) - len(keep)
		if len(keep) == 0 {
			s.waitingCount = 0
		}
		s.waiting = keep
	}
}

// devState is what GET /dev/api/state answers.
type devState struct {
	Time          time.Time          `json:"time"`
	Functions     map[string]any     `json:"functions"`
	Subscriptions []*devSubscription `json:"subscriptions"`
	Requests      []devRequest       `json:"requests"` // newest first
	Events        []devDelivery      `json:"events"`   // newest first, all subscriptions
	DeadLetters   []devDeadLetters   `json:"deadLetters"`
}

// devDeadLetters are the dead letters of one subscription recorded since
// the last replay.
type devDeadLetters struct {
	Subscription    string          `json:"subscription"`
	Topic           string          `json:"topic"`
	DeadLetterTopic string          `json:"deadLetterTopic"`
	Waiting         int             `json:"waiting"`
	Events          []devDeadLetter `json:"events"` // newest first
}

// state is a snapshot of the board; index is the mounted functions.
func (b *devBoard) state(index map[string]any) devState {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := devState{Time: time.Now().UTC(), Functions: index, Requests: b.requests.newestFirst(),
		Subscriptions: []*devSubscription{}, Events: []devDelivery{}, DeadLetters: []devDeadLetters{}}
	for _, s := range b.subs {
		c := *s
		st.Subscriptions = append(st.Subscriptions, &c)
		st.Events = append(st.Events, s.log.newestFirst()...)
		dl := devDeadLetters{Subscription: s.Subscription, Topic: s.Topic, DeadLetterTopic: s.DeadLetterTopic,
			Waiting: s.waitingCount, Events: make([]devDeadLetter, 0, len(s.waiting))}
		for i := len(s.waiting) - 1; i >= 0; i-- {
			dl.Events = append(dl.Events, s.waiting[i])
		}
		st.DeadLetters = append(st.DeadLetters, dl)
	}
	sort.Slice(st.Subscriptions, func(i, j int) bool {
		return st.Subscriptions[i].Subscription < st.Subscriptions[j].Subscription
	})
	sort.Slice(st.DeadLetters, func(i, j int) bool { return st.DeadLetters[i].Subscription < st.DeadLetters[j].Subscription })
	sort.SliceStable(st.Events, func(i, j int) bool { return st.Events[i].Time.After(st.Events[j].Time) })
	return st
}

// ring keeps the last max values added.
type ring[T any] struct {
	max  int
	buf  []T
	next int // where the next value goes once buf is full
}

func (r *ring[T]) add(v T) {
	if len(r.buf) < r.max {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % r.max
}

// newestFirst returns a copy of the values, the last added first.
func (r *ring[T]) newestFirst() []T {
	out := make([]T, 0, len(r.buf))
	for i := len(r.buf) - 1; i >= 0; i-- {
		out = append(out, r.buf[(r.next+i)%len(r.buf)])
	}
	return out
}

// devStatusWriter records the status a handler answers.
type devStatusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *devStatusWriter) WriteHeader(s int) {
	if !w.wrote && s >= 200 {
		w.status, w.wrote = s, true
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *devStatusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *devStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
