// Package followups is the FollowUps function: the daily wear follow-up
// task, invoked by Cloud Scheduler with an OIDC token (service role only).
//
//	POST /v1/tasks/follow-ups[?asOf=2026-12-01T06:00:00Z]
//
// asOf (RFC 3339) lets tests and operators run it for a given moment;
// without it the task runs for now. It answers what it did.
package followups

import (
	"net/http"
	"time"

	"github.com/lensflow/lensflow/shared/aftercare"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/followups"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/wire"
)

const routeRun = "POST /v1/tasks/follow-ups"

func init() {
	platform.Register(platform.Function{Name: "FollowUps", Routes: []string{routeRun}, HTTP: New})
}

// New builds the function's routes on app.
func New(app *wire.App) (map[string]http.Handler, error) {
	svc := &followups.Service{Docs: app.Docs, Relay: app.Relay, Schedules: aftercare.DefaultSchedules(), Now: app.Now}
	run := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asOf := app.Now()
		if v := r.URL.Query().Get("asOf"); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				httpkit.Error(w, r, errs.Field("followups", "asOf", "not an RFC 3339 time (e.g. 2026-12-01T06:00:00Z)"))
				return
			}
			asOf = t
		}
		rep, err := svc.Run(r.Context(), asOf)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, rep)
	})
	return map[string]http.Handler{
		routeRun: httpkit.Authenticate(app.Verifier, []auth.Role{auth.RoleService}, run),
	}, nil
}
