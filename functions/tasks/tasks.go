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

// scheduler is the caller of every route: Cloud Scheduler's service token.
var scheduler = []auth.Role{auth.RoleService}

func init() {
	// outbox and census read no parameter: declared NoQuery, so that a
	// scheduler job that sends one (asOf) is told instead of ignored.
	platform.Register(platform.Function{Name: "Tasks", Routes: []platform.Route{
		{Pattern: routeFollowUps, Roles: scheduler, Query: []string{"asOf"}},
		{Pattern: routeNotifications, Roles: scheduler, Query: []string{"asOf"}},
		{Pattern: routeOutbox, Roles: scheduler, NoQuery: true},
		{Pattern: routeCensus, Roles: scheduler, NoQuery: true},
	}, HTTP: New})
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

// New builds the function's handlers on app.
func New(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
	svc := &reminders.Service{Docs: app.Docs, Relay: app.Relay, Schedules: aftercare.DefaultSchedules(), Now: app.Now}
	notes := bootstrap.NotificationService(app)
	jobs := bootstrap.OrderService(app)
	followUps := func(w http.ResponseWriter, r *http.Request) error {
		t, err := asOf(app, r)
		if err != nil {
			return err
		}
		rep, err := svc.Run(r.Context(), t)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, rep)
		return nil
	}
	retry := func(w http.ResponseWriter, r *http.Request) error {
		t, err := asOf(app, r)
		if err != nil {
			return err
		}
		rep, err := notes.Retry(r.Context(), t)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, rep)
		return nil
	}
	outbox := func(w http.ResponseWriter, r *http.Request) error {
		n, err := app.Relay.Flush(r.Context(), outboxMinAge)
		if err != nil && n == 0 {
			return errs.E("tasks.outbox", errs.Unavailable, err)
		}
		httpkit.JSON(w, http.StatusOK, map[string]any{"published": n, "complete": err == nil})
		return nil
	}
	census := func(w http.ResponseWriter, r *http.Request) error {
		counts, err := jobs.Census(r.Context())
		if err != nil {
			return err
		}
		// Cloud Run may throttle this instance's CPU once the request
		// ends: send the census now rather than at the next periodic export.
		if err := app.Metrics.Flush(r.Context()); err != nil {
			httpkit.Logger(r.Context()).WarnContext(r.Context(), "tasks: exporting the census failed", "kind", errs.KindOf(err).String())
		}
		httpkit.JSON(w, http.StatusOK, map[string]any{"jobs": counts})
		return nil
	}
	return map[string]httpkit.HandlerFunc{routeFollowUps: followUps, routeNotifications: retry, routeOutbox: outbox, routeCensus: census}, nil
}
