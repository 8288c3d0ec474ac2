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

func init() {
	platform.Register(platform.Function{Name: "Clinic", Routes: []string{routePut, routeGet}, HTTP: New})
}

// New builds the function's routes on app.
func New(app *bootstrap.App) (map[string]http.Handler, error) {
	svc := bootstrap.NotificationService(app)
	put := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in notifications.SettingsInput
		if err := httpkit.DecodeJSON(w, r, &in); err != nil {
			httpkit.Error(w, r, err)
			return
		}
		v, err := svc.PutSettings(r.Context(), bootstrap.ActorOf(r), in)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, v)
	})
	get := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.GetSettings(r.Context(), bootstrap.ActorOf(r))
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, v)
	})
	practitioners := []auth.Role{auth.RolePractitioner}
	return map[string]http.Handler{
		routePut: httpkit.Authenticate(app.Verifier, practitioners, put),
		routeGet: httpkit.Authenticate(app.Verifier, practitioners, get),
	}, nil
}
