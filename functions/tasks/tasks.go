// Package tasks is the Tasks function: scheduled work, invoked by Cloud
// Scheduler with an OIDC token (service role only).
//
//	POST /v1/tasks/follow-ups[?asOf=...]      daily: emit the wear follow-up reminders due
//	POST /v1/tasks/notifications[?asOf=...]   every few minutes: retry notification deliveries due
//	POST /v1/tasks/outbox                     every minute: publish events whose publish right after commit failed
//	POST /v1/tasks/census                     every five minutes: count the lab's jobs by status (the jobs.active metric)
//
// asOf (RFC 3339) lets tests and operators run a task for a given moment;
// without it a task runs for now. Each answers what it did.
package tasks

import (
	"net/http"
	"time"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/domain/aftercare"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/reminders"
)

const (
	routeFollowUps     = "POST /v1/tasks/follow-ups"
	routeNotifications = "POST /v1/tasks/notifications"
	routeOutbox        = "POST /v1/tasks/outbox"
	routeCensus        = "POST /v1/tasks/census"
)

// outboxMinAge leaves entries younger than this to the publish that
// follows their commit.
const outboxMinAge = 30 * time.Second

func init() {
	// outbox and census read no parameter: declared with none, so that a
	// scheduler job that sends one (asOf) is told instead of ignored.
	platform.Register(platform.Function{Name: "Tasks", Routes: []string{routeFollowUps, routeNotifications, routeOutbox, routeCensus},
		Query: map[string][]string{routeFollowUps: {"asOf"}, routeNotifications: {"asOf"}, routeOutbox: nil, routeCensus: nil}, HTTP: New})
}

// asOf reads the optional asOf parameter, or now.
func asOf(app *bootstrap.App, r *http.Request) (time.Time, error) {
	v := r.URL.Query().Get("asOf")
	if v == "" {
		return app.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errs.Field("tasks", "asOf", "not an RFC 3339 time (e.g. 2026-12-01T06:00:00Z)")
	}
	return t, nil
}

// New builds the function's routes on app.
func New(app *bootstrap.App) (map[string]http.Handler, error) {
	svc := &reminders.Service{Docs: app.Docs, Relay: app.Relay, Schedules: aftercare.DefaultSchedules(), Now: app.Now}
	notes := bootstrap.NotificationService(app)
	followUps := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := asOf(app, r)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		rep, err := svc.Run(r.Context(), t)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, rep)
	})
	retry := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := asOf(app, r)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		rep, err := notes.Retry(r.Context(), t)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, rep)
	})
	outbox := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := app.Relay.Flush(r.Context(), outboxMinAge)
		if err != nil && n == 0 {
			httpkit.Error(w, r, errs.E("tasks.outbox", errs.Unavailable, err))
			return
		}
		httpkit.JSON(w, http.StatusOK, map[string]any{"published": n, "complete": err == nil})
	})
	jobs := bootstrap.OrderService(app)
	census := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counts, err := jobs.Census(r.Context())
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		// Cloud Run may throttle this instance's CPU once the request
		// ends: send the census now rather than at the next periodic export.
		if err := app.Metrics.Flush(r.Context()); err != nil {
			httpkit.Logger(r.Context()).WarnContext(r.Context(), "tasks: exporting the census failed", "kind", errs.KindOf(err).String())
		}
		httpkit.JSON(w, http.StatusOK, map[string]any{"jobs": counts})
	})
	service := []auth.Role{auth.RoleService}
	return map[string]http.Handler{
		routeOutbox:        httpkit.Authenticate(app.Verifier, service, outbox),
		routeFollowUps:     httpkit.Authenticate(app.Verifier, service, followUps),
		routeNotifications: httpkit.Authenticate(app.Verifier, service, retry),
		routeCensus:        httpkit.Authenticate(app.Verifier, service, census),
	}, nil
}
