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
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/scans"
)

const (
	routeCreate = "POST /v1/patients"
	routeList   = "GET /v1/patients"
)

// practitioners are the callers of every route: a clinic's own patients.
var practitioners = []auth.Role{auth.RolePractitioner}

func init() {
	platform.Register(platform.Function{Name: "Patients", Routes: []platform.Route{
		{Pattern: routeCreate, Roles: practitioners, Creates: true},
		{Pattern: routeList, Roles: practitioners, Query: paging.Params},
	}, HTTP: New})
}

// New builds the function's handlers on app.
func New(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
	svc := bootstrap.ScanService(app)
	create := func(w http.ResponseWriter, r *http.Request) error {
		var in scans.PatientInput
		if err := httpkit.DecodeJSON(w, r, &in); err != nil {
			return err
		}
		in.ID, _ = httpkit.ResourceID(r.Context())
		p, err := svc.CreatePatient(r.Context(), httpkit.Actor(r), in)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/v1/patients/"+p.ID)
		httpkit.JSON(w, http.StatusCreated, map[string]string{"id": p.ID})
		return nil
	}
	list := func(w http.ResponseWriter, r *http.Request) error {
		pr, err := paging.FromQuery(r.URL.Query())
		if err != nil {
			return err
		}
		ps, next, err := svc.ListPatients(r.Context(), httpkit.Actor(r), pr)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, paging.Body("patients", ps, next))
		return nil
	}
	return map[string]httpkit.HandlerFunc{routeCreate: create, routeList: list}, nil
}
