// Package patients is the Patients function: POST /v1/patients records a
// patient of the caller's clinic. Name and birth date are stored only
// encrypted; the response carries the new opaque id alone. GET
// /v1/patients lists the clinic's patients, newest first, with their names
// and birth dates, to that clinic only.
package patients

import (
	"net/http"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/scans"
)

const (
	routeCreate = "POST /v1/patients"
	routeList   = "GET /v1/patients"
)

func init() {
	platform.Register(platform.Function{Name: "Patients", Routes: []string{routeCreate, routeList}, Creates: []string{routeCreate}, HTTP: New})
}

// New builds the function's routes on app.
func New(app *bootstrap.App) (map[string]http.Handler, error) {
	svc := bootstrap.ScanService(app)
	create := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in scans.PatientInput
		if err := httpkit.DecodeJSON(w, r, &in); err != nil {
			httpkit.Error(w, r, err)
			return
		}
		in.ID, _ = httpkit.ResourceID(r.Context())
		p, err := svc.CreatePatient(r.Context(), bootstrap.ActorOf(r), in)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/patients/"+p.ID)
		httpkit.JSON(w, http.StatusCreated, map[string]string{"id": p.ID})
	})
	list := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps, err := svc.ListPatients(r.Context(), bootstrap.ActorOf(r))
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, map[string]any{"patients": ps})
	})
	practitioners := []auth.Role{auth.RolePractitioner}
	return map[string]http.Handler{
		routeCreate: httpkit.Authenticate(app.Verifier, practitioners, create),
		routeList:   httpkit.Authenticate(app.Verifier, practitioners, list),
	}, nil
}
