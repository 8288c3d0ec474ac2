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
	"github.com/lensflow/lensflow/shared/platform"
)

const (
	routeJobs   = "GET /v1/lab/jobs"
	routeFile   = "GET /v1/lab/jobs/{jobId}/files/{name}"
	routeStatus = "POST /v1/lab/jobs/{jobId}/status"
)

func init() {
	platform.Register(platform.Function{Name: "Lab", Routes: []string{routeJobs, routeFile, routeStatus},
		Query: map[string][]string{routeJobs: {"status"}, routeStatus: nil}, HTTP: New})
}

// New builds the function's routes on app.
func New(app *bootstrap.App) (map[string]http.Handler, error) {
	svc := bootstrap.OrderService(app)
	jobs := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js, err := svc.Jobs(r.Context(), bootstrap.ActorOf(r), r.URL.Query().Get("status"))
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, map[string]any{"jobs": js})
	})
	file := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, data, err := svc.File(r.Context(), bootstrap.ActorOf(r), r.PathValue("jobId"), r.PathValue("name"))
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=us-ascii")
		w.Header().Set("Content-Disposition", `attachment; filename="`+f.Name+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(data)
	})
	status := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in orders.StatusInput
		if err := httpkit.DecodeJSON(w, r, &in); err != nil {
			httpkit.Error(w, r, err)
			return
		}
		j, err := svc.SetStatus(r.Context(), bootstrap.ActorOf(r), r.PathValue("jobId"), in)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, j)
	})
	lab := []auth.Role{auth.RoleLab}
	return map[string]http.Handler{
		routeJobs:   httpkit.Authenticate(app.Verifier, lab, jobs),
		routeFile:   httpkit.Authenticate(app.Verifier, lab, file),
		routeStatus: httpkit.Authenticate(app.Verifier, lab, status),
	}, nil
}
