// Package lab is the Lab function: the manufacturing queue for lab staff
// (lab role only; clinic tokens are refused with 403).
//
//	GET  /v1/lab/jobs?status=queued|cutting|inspection|dispatched|failed|requeued|cancelled
//	GET  /v1/lab/jobs/{jobId}/files/{name}     the DAC point file (.V5B / .V5F)
//	POST /v1/lab/jobs/{jobId}/status          {"status": "cutting"}; illegal transitions are 409
package lab

import (
	"net/http"
	"strconv"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/platform"
)

const (
	routeJobs   = "GET /v1/lab/jobs"
	routeFile   = "GET /v1/lab/jobs/{jobId}/files/{name}"
	routeStatus = "POST /v1/lab/jobs/{jobId}/status"
)

// labStaff are the callers of every route: clinic tokens are refused.
var labStaff = []auth.Role{auth.RoleLab}

func init() {
	platform.Register(platform.Function{Name: "Lab", Routes: []platform.Route{
		{Pattern: routeJobs, Roles: labStaff, Query: append([]string{"status"}, paging.Params...)},
		{Pattern: routeFile, Roles: labStaff},
		{Pattern: routeStatus, Roles: labStaff, NoQuery: true},
	}, HTTP: New})
}

// New builds the function's handlers on app.
func New(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
	svc := bootstrap.OrderService(app)
	jobs := func(w http.ResponseWriter, r *http.Request) error {
		pr, err := paging.FromQuery(r.URL.Query())
		if err != nil {
			return err
		}
		js, next, err := svc.Jobs(r.Context(), httpkit.Actor(r), r.URL.Query().Get("status"), pr)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, paging.Body("jobs", js, next))
		return nil
	}
	file := func(w http.ResponseWriter, r *http.Request) error {
		f, data, err := svc.File(r.Context(), httpkit.Actor(r), r.PathValue("jobId"), r.PathValue("name"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/plain; charset=us-ascii")
		w.Header().Set("Content-Disposition", `attachment; filename="`+f.Name+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(data)
		return nil
	}
	status := func(w http.ResponseWriter, r *http.Request) error {
		var in orders.StatusInput
		if err := httpkit.DecodeJSON(w, r, &in); err != nil {
			return err
		}
		j, err := svc.SetStatus(r.Context(), httpkit.Actor(r), r.PathValue("jobId"), in)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, j)
		return nil
	}
	return map[string]httpkit.HandlerFunc{routeJobs: jobs, routeFile: file, routeStatus: status}, nil
}
