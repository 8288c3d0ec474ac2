// Package scans is the Scans function: clinics upload a topography scan for
// one of their patients and read back its status and design.
//
//	POST /v1/patients/{patientId}/scans?eye=OD|OS&lensType=scleral|orthok|rgp[&rx=S/CxA][&vertex=mm][&hvid=mm]
//	     [&gridUnits=mm|um&gridReference=apex|bfs&gridBfs=mm]   (grid files whose header does not say)
//	     [&heightSign=depth|elevation]                          (files whose heights' sign cannot be told)
//	     [&orthokOverride=true]                                 (ortho-k on a cornea the screening contraindicates)
//	GET  /v1/scans/{scanId}
//	GET  /v1/scans/{scanId}/design
//	GET  /v1/scans/{scanId}/map                 the topography map (axial curvature, elevation above the best-fit sphere)
//	GET  /v1/scans/{scanId}/design/tear-layer[?version=N]      the tear film under the resting lens (JSON grid)
//	     [&decentrationX=mm&decentrationY=mm]                   (the lens centre moved from the corneal apex)
//	GET  /v1/scans/{scanId}/design/tear-layer.png[?same]       the simulated fluorescein pattern
//	GET  /v1/patients/{patientId}/scans         the patient's scans, newest first
package scans

import (
	"bytes"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/domain/fluorescein"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/scans"
)

const (
	routeUpload = "POST /v1/patients/{patientId}/scans"
	routeGet    = "GET /v1/scans/{scanId}"
	routeDesign = "GET /v1/scans/{scanId}/design"
	routeMap    = "GET /v1/scans/{scanId}/map"
	routeList   = "GET /v1/patients/{patientId}/scans"
	routeTear   = "GET /v1/scans/{scanId}/design/tear-layer"
	routeTearPN = "GET /v1/scans/{scanId}/design/tear-layer.png"
)

// practitioners are the callers of every route: a clinic's own scans.
var practitioners = []auth.Role{auth.RolePractitioner}

func init() {
	platform.Register(platform.Function{Name: "Scans", Routes: []platform.Route{
		{Pattern: routeUpload, Roles: practitioners, Creates: true, Query: uploadParams},
		{Pattern: routeGet, Roles: practitioners},
		{Pattern: routeDesign, Roles: practitioners},
		{Pattern: routeMap, Roles: practitioners},
		{Pattern: routeList, Roles: practitioners, Query: paging.Params},
		{Pattern: routeTear, Roles: practitioners, Query: tearParams},
		{Pattern: routeTearPN, Roles: practitioners, Query: tearParams},
	}, MaxBody: scans.MaxScanBytes, BodyMemory: scans.UploadMemoryPerByte, HTTP: New})
}

// uploadParams are the upload's query parameters (see the package comment);
// the platform refuses any other, and any given twice.
var uploadParams = []string{"eye", "lensType", "rx", "vertex", "hvid", "gridUnits", "gridReference", "gridBfs", "heightSign", "orthokOverride"}

// tearParams are the tear layer's query parameters (version, decentration
// of the lens centre in mm).
var tearParams = []string{"version", "decentrationX", "decentrationY"}

// ScanView is the API representation of a scan.
type ScanView struct {
	ID         string            `json:"id"`
	Status     string            `json:"status"`
	Reason     string            `json:"reason,omitempty"`
	PatientID  string            `json:"patientId"`
	Eye        string            `json:"eye"`
	LensType   string            `json:"lensType"`
	Format     string            `json:"format"`
	Points     int               `json:"points"`
	RxD        *float64          `json:"rxD,omitempty"`
	Rx         string            `json:"rx,omitempty"` // as practitioners write it, e.g. "-3.00 / -1.25 x 180"
	VertexMM   float64           `json:"vertexMM,omitempty"`
	HVIDMM     *float64          `json:"hvidMM,omitempty"`
	Layout     []string          `json:"layout,omitempty"`
	Override   bool              `json:"orthokOverride,omitempty"`
	ReceivedAt time.Time         `json:"receivedAt"`
	DesignedAt *time.Time        `json:"designedAt,omitempty"`
	DesignID   string            `json:"designId,omitempty"`
	Version    int               `json:"designVersion,omitempty"`
	Links      map[string]string `json:"links"`
}

func view(s scans.Scan) ScanView {
	v := ScanView{ID: s.ID, Status: s.Status, Reason: s.Reason, PatientID: s.PatientID, Eye: s.Eye,
		LensType: s.LensType, Format: s.Format, Points: s.Points, RxD: s.RxD, HVIDMM: s.HVIDMM, Layout: s.Layout,
		Override: s.OrthoKOverride, ReceivedAt: s.Received, DesignedAt: s.Designed, DesignID: s.DesignID, Version: s.DesignVersion,
		Links: map[string]string{"self": "/v1/scans/" + s.ID, "design": "/v1/scans/" + s.ID + "/design",
			"patient": "/v1/patients/" + s.PatientID}}
	if s.Rx != nil {
		v.Rx, v.VertexMM = s.Rx.String(), s.Rx.VertexMM
	}
	return v
}

// New builds the function's handlers on app.
func New(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
	svc := bootstrap.ScanService(app)
	upload := func(w http.ResponseWriter, r *http.Request) error {
		file, err := httpkit.ReadBody(w, r, scans.MaxScanBytes)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		id, _ := httpkit.ResourceID(r.Context())
		sc, err := svc.Upload(r.Context(), httpkit.Actor(r), scans.UploadInput{PatientID: r.PathValue("patientId"), ScanID: id,
			Eye: q.Get("eye"), LensType: q.Get("lensType"), Rx: q.Get("rx"), Vertex: q.Get("vertex"), HVID: q.Get("hvid"), File: file,
			GridUnits: q.Get("gridUnits"), GridReference: q.Get("gridReference"), GridBFS: q.Get("gridBfs"),
			HeightSign: q.Get("heightSign"), OrthoKOverride: q.Get("orthokOverride")})
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/v1/scans/"+sc.ID)
		httpkit.JSON(w, http.StatusCreated, view(sc))
		return nil
	}
	get := func(w http.ResponseWriter, r *http.Request) error {
		sc, err := svc.Get(r.Context(), httpkit.Actor(r), r.PathValue("scanId"))
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, view(sc))
		return nil
	}
	design := func(w http.ResponseWriter, r *http.Request) error {
		d, err := svc.GetDesign(r.Context(), httpkit.Actor(r), r.PathValue("scanId"))
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, d)
		return nil
	}
	topography := func(w http.ResponseWriter, r *http.Request) error {
		m, err := svc.Map(r.Context(), httpkit.Actor(r), r.PathValue("scanId"))
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, m)
		return nil
	}
	list := func(w http.ResponseWriter, r *http.Request) error {
		pr, err := paging.FromQuery(r.URL.Query())
		if err != nil {
			return err
		}
		scs, next, err := svc.PatientScans(r.Context(), httpkit.Actor(r), r.PathValue("patientId"), pr)
		if err != nil {
			return err
		}
		out := make([]ScanView, 0, len(scs))
		for _, sc := range scs {
			out = append(out, view(sc))
		}
		httpkit.JSON(w, http.StatusOK, paging.Body("scans", out, next))
		return nil
	}
	tearLayer := func(r *http.Request) (*scans.TearLayer, error) {
		o, err := tearLayerOptions(r.URL.Query())
		if err != nil {
			return nil, err
		}
		return svc.TearLayer(r.Context(), httpkit.Actor(r), r.PathValue("scanId"), o)
	}
	tearLayerJSON := func(w http.ResponseWriter, r *http.Request) error {
		tl, err := tearLayer(r)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, tl.JSON())
		return nil
	}
	tearLayerPNG := func(w http.ResponseWriter, r *http.Request) error {
		tl, err := tearLayer(r)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := fluorescein.PNG(&buf, tl.Map, tl.Model); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store") // patient data
		_, _ = w.Write(buf.Bytes())
		return nil
	}
	return map[string]httpkit.HandlerFunc{routeUpload: upload, routeGet: get, routeDesign: design, routeMap: topography,
		routeList: list, routeTear: tearLayerJSON, routeTearPN: tearLayerPNG}, nil
}

// tearLayerOptions reads the tear layer's options from its query (see
// tearParams): version, decentrationX and decentrationY (mm), each
// optional; a bad one is an Invalid error naming it.
func tearLayerOptions(q url.Values) (scans.TearLayerOptions, error) {
	const op = "scans.tear-layer"
	var o scans.TearLayerOptions
	if v := q.Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, errs.Field(op, "version", "must be a design version number (1, 2, ...), not %q", v)
		}
		o.Version = n
	}
	for _, f := range []struct {
		name string
		to   *float64
	}{{"decentrationX", &o.DecentrationXMM}, {"decentrationY", &o.DecentrationYMM}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.Abs(x) > scans.MaxDecentrationMM {
			return o, errs.Field(op, f.name, "must be millimetres from -%g to %g, not %q", scans.MaxDecentrationMM, scans.MaxDecentrationMM, v)
		}
		*f.to = x
	}
	return o, nil
}
