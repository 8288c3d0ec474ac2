package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/lensflow/lensflow/shared/admission"
	"github.com/lensflow/lensflow/shared/bootstrap"
)

// Cloud Run kills an instance 10 s after SIGTERM. Everything after the
// signal shares that budget: in-flight requests get DrainTimeout to finish,
// and the traces and metrics they produced are flushed in what is left of
// ShutdownBudget (one deadline, not a timeout per step, so that slow
// steps cannot add up past the kill).
const (
	ShutdownBudget = 9 * time.Second // a second short of the kill
	DrainTimeout   = 6 * time.Second
)

// NewServer returns an http.Server with the timeouts lensflow uses.
//
// On Shutdown it also closes at once the connections on which no request
// has begun: net/http would wait up to 5 s for each to send one, and then
// drop that request anyway, which wastes half of Cloud Run's 10 s grace.
func NewServer(h http.Handler) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	var fresh freshConns
	srv.ConnState = fresh.track
	srv.RegisterOnShutdown(fresh.close)
	return srv
}

// freshConns are the connections in http.StateNew: accepted, no request
// read yet. A request read on one after Shutdown has begun is never served
// (net/http checks before calling the handler), so closing them then
// loses nothing.
type freshConns struct {
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
}

func (f *freshConns) track(c net.Conn, s http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case s == http.StateNew && f.closing:
		_ = c.Close()
	case s == http.StateNew:
		if f.conns == nil {
			f.conns = map[net.Conn]struct{}{}
		}
		f.conns[c] = struct{}{}
	default:
		delete(f.conns, c)
	}
}

func (f *freshConns) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closing = true
	for c := range f.conns {
		_ = c.Close()
	}
	clear(f.conns)
}

// Serve serves srv on ln until ctx is done, then stops accepting and lets
// in-flight requests finish for up to DrainTimeout.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger) error {
	_, err := serveUntil(ctx, srv, ln, log)
	return err
}

// serveUntil is Serve, also returning when ctx ended (the signal).
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger) (time.Time, error) {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return time.Now(), err
	case <-ctx.Done():
	}
	stopped := time.Now()
	log.Info("shutting down: draining in-flight requests", "timeout", DrainTimeout.String())
	sctx, cancel := context.WithDeadline(context.Background(), stopped.Add(DrainTimeout))
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return stopped, err
}

// Main runs the named function as a Cloud Run service: wires the App from
// the environment, listens on $PORT (default 8080) and drains on SIGTERM.
func Main(name string) {
	if err := run(name); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func run(name string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	f, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("no function registered as %q", name)
	}
	app, err := bootstrap.FromEnv(ctx)
	if err != nil {
		return err
	}
	stopped := time.Now()
	defer func() {
		// The flush gets what the drain left of the budget.
		cctx, cancel := context.WithDeadline(context.Background(), stopped.Add(ShutdownBudget))
		defer cancel()
		if err := app.CloseContext(cctx); err != nil {
			app.Log.Warn("closing: some adapters did not close cleanly", "error", err)
		}
	}()
	h, err := Handler(app, f)
	if err != nil {
		return err
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return err
	}
	admission.SetGoMemoryLimit(app.Config.MemoryBytes)
	app.Log.Info("serving", "function", name, "port", port, "memoryBytes", app.Config.MemoryBytes, "memorySource", app.Config.MemorySource,
		"memoryBudgetBytes", app.Config.MemoryBudget(), "clinicShare", app.Config.ClinicShare, "maxInFlight", app.Config.MaxInFlight)
	stopped, err = serveUntil(ctx, NewServer(h), ln, app.Log)
	return err
}
