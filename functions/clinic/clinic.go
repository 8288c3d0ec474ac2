// Package clinic is the Clinic function: a clinic's own settings.
//
//	PUT /v1/clinic/notifications  {"webhookUrl", "emails": [...], "rotateSecret"}
//	GET /v1/clinic/notifications
//
// PUT replaces the settings: webhookUrl and emails are required ("" and []
// for none; a missing one is 400 naming it), rotateSecret is optional.
// Answers list no addresses as [], never null.
//
// A new or changed webhook URL (or rotateSecret) gets a new signing secret,
// shown once in the PUT answer; verify deliveries with it as Standard
// Webhooks describes.
package clinic

import (
	"net/http"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/notifications"
	"github.com/lensflow/lensflow/shared/platform"
)

const (
	routePut = "PUT /v1/clinic/notifications"
	routeGet = "GET /v1/clinic/notifications"
)

// practitioners are the callers of every route: a clinic's own settings.
var practitioners = []auth.Role{auth.RolePractitioner}

func init() {
	platform.Register(platform.Function{Name: "Clinic", Routes: []platform.Route{
		{Pattern: routePut, Roles: practitioners},
		{Pattern: routeGet, Roles: practitioners},
	}, HTTP: New})
}

// New builds the function's handlers on app.
func New(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
	svc := bootstrap.NotificationService(app)
	put := func(w http.ResponseWriter, r *http.Request) error {
		var in notifications.SettingsInput
		if err := httpkit.DecodeJSON(w, r, &in); err != nil {
			return err
		}
		v, err := svc.PutSettings(r.Context(), httpkit.Actor(r), in)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, v)
		return nil
	}
	get := func(w http.ResponseWriter, r *http.Request) error {
		v, err := svc.GetSettings(r.Context(), httpkit.Actor(r))
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, v)
		return nil
	}
	return map[string]httpkit.HandlerFunc{routePut: put, routeGet: get}, nil
}
