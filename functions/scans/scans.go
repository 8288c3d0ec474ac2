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
	"net/http"
	"time"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/domain/fluorescein"
	"github.com/lensflow/lensflow/shared/httpkit"
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

func init() {
	platform.Register(platform.Function{Name: "Scans", Routes: []string{routeUpload, routeGet, routeDesign, routeMap, routeList, routeTear, routeTearPN},
		Creates: []string{routeUpload}, Query: map[string][]string{routeUpload: uploadParams, routeTear: tearParams, routeTearPN: tearParams}, MaxBody: scans.MaxScanBytes,
		BodyMemory: scans.UploadMemoryPerByte, HTTP: New})
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

// New builds the function's routes on app.
func New(app *bootstrap.App) (map[string]http.Handler, error) {
	svc := bootstrap.ScanService(app)
	upload := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file, err := httpkit.ReadBody(w, r, scans.MaxScanBytes)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		q := r.URL.Query()
		id, _ := httpkit.ResourceID(r.Context())
		sc, err := svc.Upload(r.Context(), bootstrap.ActorOf(r), scans.UploadInput{PatientID: r.PathValue("patientId"), ScanID: id,
			Eye: q.Get("eye"), LensType: q.Get("lensType"), Rx: q.Get("rx"), Vertex: q.Get("vertex"), HVID: q.Get("hvid"), File: file,
			GridUnits: q.Get("gridUnits"), GridReference: q.Get("gridReference"), GridBFS: q.Get("gridBfs"),
			HeightSign: q.Get("heightSign"), OrthoKOverride: q.Get("orthokOverride")})
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/scans/"+sc.ID)
		httpkit.JSON(w, http.StatusCreated, view(sc))
	})
	get := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, err := svc.Get(r.Context(), bootstrap.ActorOf(r), r.PathValue("scanId"))
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, view(sc))
	})
	design := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := svc.GetDesign(r.Context(), bootstrap.ActorOf(r), r.PathValue("scanId"))
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, d)
	})
	topography := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := svc.Map(r.Context(), bootstrap.ActorOf(r), r.PathValue("scanId"))
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, m)
	})
	list := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scs, err := svc.PatientScans(r.Context(), bootstrap.ActorOf(r), r.PathValue("patientId"))
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		out := make([]ScanView, 0, len(scs))
		for _, sc := range scs {
			out = append(out, view(sc))
		}
		httpkit.JSON(w, http.StatusOK, map[string]any{"scans": out})
	})
	tearLayer := func(r *http.Request) (*scans.TearLayer, error) {
		o, err := scans.ParseTearLayerQuery(r.URL.Query())
		if err != nil {
			return nil, err
		}
		return svc.TearLayer(r.Context(), bootstrap.ActorOf(r), r.PathValue("scanId"), o)
	}
	tearLayerJSON := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tl, err := tearLayer(r)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		httpkit.JSON(w, http.StatusOK, tl.JSON())
	})
	tearLayerPNG := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tl, err := tearLayer(r)
		if err != nil {
			httpkit.Error(w, r, err)
			return
		}
		var buf bytes.Buffer
		if err := fluorescein.PNG(&buf, tl.Map, tl.Model); err != nil {
			httpkit.Error(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store") // patient data
		_, _ = w.Write(buf.Bytes())
	})
	practitioners := []auth.Role{auth.RolePractitioner}
	return map[string]http.Handler{
		routeMap:    httpkit.Authenticate(app.Verifier, practitioners, topography),
		routeList:   httpkit.Authenticate(app.Verifier, practitioners, list),
		routeUpload: httpkit.Authenticate(app.Verifier, practitioners, upload),
		routeGet:    httpkit.Authenticate(app.Verifier, practitioners, get),
		routeDesign: httpkit.Authenticate(app.Verifier, practitioners, design),
		routeTear:   httpkit.Authenticate(app.Verifier, practitioners, tearLayerJSON),
		routeTearPN: httpkit.Authenticate(app.Verifier, practitioners, tearLayerPNG),
	}, nil
}
