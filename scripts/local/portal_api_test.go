package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/orders"
)

// portalK is a keratometry reading of the design JSON.
type portalK struct {
	FlatKD      float64 `json:"flatK_D"`
	SteepKD     float64 `json:"steepK_D"`
	FlatAxisDeg float64 `json:"flatAxis_deg"`
	ZoneMM      float64 `json:"zone_mm"`
}

// portalDesign is what the portal reads of GET /v1/scans/{scanId}/design.
type portalDesign struct {
	Layout    []string `json:"layout"`
	Warnings  []string `json:"warnings"`
	Screening *struct {
		Pattern, Table, Override string
		Reasons                  []string
	} `json:"screening"`
	Cornea struct {
		SimK, ApicalK, DeviceSimK *portalK
		Apex                      *struct{ XMM, YMM, TiltDeg float64 }
	} `json:"cornea"`
	Lens struct {
		KReading   string `json:"k_reading"`
		Refraction *struct {
			SphereD   float64 `json:"sphere_D"`
			CylinderD float64 `json:"cylinder_D"`
			AxisDeg   float64 `json:"axis_deg"`
			VertexMM  float64 `json:"vertex_mm"`
		} `json:"refraction"`
		RGP *struct {
			Form                string                       `json:"form"`
			ResidualAstigmatism *struct{ CylinderD float64 } `json:"residual_astigmatism"`
		} `json:"rgp"`
		Clearance []struct {
			Label       string  `json:"label"`
			MeridianDeg float64 `json:"meridian_deg"`
		} `json:"clearance"`
	} `json:"lens"`
}

// portalMap is the answer of GET /v1/scans/{scanId}/map.
type portalMap struct {
	ScanID           string     `json:"scanId"`
	N                int        `json:"n"`
	ExtentMM         float64    `json:"extent_mm"`
	AxialD           []*float64 `json:"axial_D"`
	ElevationUM      []*float64 `json:"elevation_um"`
	BFSRadiusMM      float64    `json:"bfs_radius_mm"`
	FlatMeridianDeg  float64    `json:"flat_meridian_deg"`
	SteepMeridianDeg float64    `json:"steep_meridian_deg"`
	FlatKD           float64    `json:"flat_k_D"` // Sim-K
	SteepKD          float64    `json:"steep_k_D"`
	ApicalFlatKD     float64    `json:"apical_flat_k_D"`
	ApicalSteepKD    float64    `json:"apical_steep_k_D"`
	AxialRangeD      []float64  `json:"axial_range_D"`
	ElevationRangeUM []float64  `json:"elevation_range_um"`
}

// TestPortalAPI walks the clinic portal's read routes on the local stack:
// a patient, the sample scan (conic R0 7.80 mm, p 0.75) and its map, the
// patient and scan lists, an order taken to dispatch, the order list and
// the follow-ups it brings; and what another clinic sees of each.
func TestPortalAPI(t *testing.T) {
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	north, south, lab := st.Tokens["demo-north"], st.Tokens["demo-south"], st.LabToken
	getJSON := func(path, token string, want int, v any) []byte {
		t.Helper()
		s, b, h := c.do("GET", path, token, nil)
		if s != want {
			t.Fatalf("GET %s: %d, want %d: %s", path, s, want, b)
		}
		if s == 200 && v != nil {
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("GET %s: content type %q", path, ct)
			}
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("GET %s: %v: %s", path, err, b)
			}
		}
		return b
	}

	s, b, _ := c.do("POST", "/v1/patients", north, []byte(`{"name":"Ada Example","birthDate":"1984-03-02"}`), "Content-Type", "application/json")
	if s != 201 {
		t.Fatalf("create patient: %d %s", s, b)
	}
	var p struct{ ID string }
	_ = json.Unmarshal(b, &p)
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	// The refraction as practitioners write it, sphero-cylinder at a vertex
	// distance: the scan gives it back in canonical form.
	s, b, _ = c.do("POST", "/v1/patients/"+p.ID+"/scans?eye=OD&lensType=rgp&rx="+url.QueryEscape("-3.00/-1.25x180")+"&vertex=12&hvid=11.8", north, sample,
		"Content-Type", "text/csv", "Idempotency-Key", "portal-1")
	if s != 201 {
		t.Fatalf("upload: %d %s", s, b)
	}
	var sc struct{ ID string }
	_ = json.Unmarshal(b, &sc)
	v, _ := c.waitDesigned(north, sc.ID, 20*time.Second)
	designID, _ := v["designId"].(string)
	if v["status"] != "designed" || designID == "" {
		t.Fatalf("scan: %v", v)
	}
	if v["rx"] != "-3.00 / -1.25 x 180" || v["vertexMM"] != 12.0 {
		t.Errorf("scan rx %v at %v mm, want -3.00 / -1.25 x 180 at 12", v["rx"], v["vertexMM"])
	}

	// What the portal shows of the design: the screening, both Ks, the
	// warnings, the refraction.
	var d portalDesign
	getJSON("/v1/scans/"+sc.ID+"/design", north, 200, &d)
	if d.Screening == nil || d.Screening.Pattern != "regular" || d.Screening.Table == "" {
		t.Errorf("screening %+v, want a regular pattern and its table", d.Screening)
	}
	apicalK := 337.5 / 7.8
	simK := 337.5 / math.Sqrt(7.8*7.8+0.25*1.5*1.5) // axial radius on the 3 mm ring of R0 7.80, e 0.5
	if d.Cornea.SimK == nil || d.Cornea.ApicalK == nil || d.Cornea.SimK.ZoneMM != 3 || d.Cornea.ApicalK.ZoneMM != 0 ||
		math.Abs(d.Cornea.SimK.FlatKD-simK) > 0.08 || math.Abs(d.Cornea.ApicalK.FlatKD-apicalK) > 0.05 {
		t.Errorf("keratometry: Sim-K %+v (want flat %.2f), apical K %+v (want flat %.2f)", d.Cornea.SimK, simK, d.Cornea.ApicalK, apicalK)
	}
	if r := d.Lens.Refraction; r == nil || r.SphereD != -3 || r.CylinderD != -1.25 || r.AxisDeg != 180 || r.VertexMM != 12 || d.Lens.KReading != "sim-k" {
		t.Errorf("lens refraction %+v, k_reading %q", d.Lens.Refraction, d.Lens.KReading)
	}
	if len(d.Warnings) == 0 || d.Lens.RGP == nil || d.Lens.RGP.Form == "" || d.Lens.RGP.ResidualAstigmatism == nil {
		t.Errorf("warnings %q, rgp %+v: want the warnings, the RGP form and the residual astigmatism", d.Warnings, d.Lens.RGP)
	}
	t.Logf("design: pattern %s, warnings %q, rgp %+v", d.Screening.Pattern, d.Warnings, d.Lens.RGP)

	// The map.
	var m portalMap
	getJSON("/v1/scans/"+sc.ID+"/map", north, 200, &m)
	if m.ScanID != sc.ID || m.N != 61 || m.ExtentMM != 4.5 || len(m.AxialD) != 61*61 || len(m.ElevationUM) != 61*61 {
		t.Fatalf("map of %s: n %d, extent %g, %d and %d cells", m.ScanID, m.N, m.ExtentMM, len(m.AxialD), len(m.ElevationUM))
	}
	measured := 0
	for k := range m.AxialD {
		if (m.AxialD[k] == nil) != (m.ElevationUM[k] == nil) {
			t.Fatalf("cell %d is null in one map only", k)
		}
		if a := m.AxialD[k]; a != nil {
			measured++
			if *a < m.AxialRangeD[0]-0.001 || *a > m.AxialRangeD[1]+0.001 || *m.ElevationUM[k] < m.ElevationRangeUM[0]-0.001 ||
				*m.ElevationUM[k] > m.ElevationRangeUM[1]+0.001 {
				t.Fatalf("cell %d (%g D, %g um) outside the ranges %v %v", k, *a, *m.ElevationUM[k], m.AxialRangeD, m.ElevationRangeUM)
			}
		}
	}
	centre := m.AxialD[30*61+30]
	if centre == nil || math.Abs(*centre-337.5/7.8) > 0.05 {
		t.Fatalf("axial at the centre %v, want %.2f D (R 7.80 mm)", centre, 337.5/7.8)
	}
	// The sample scan reaches 7 mm: every cell, corners included, is measured.
	// A prolate cornea flattens outwards: 43.3 D at the centre, about 40 D
	// at the corners (6.4 mm out), and stands well above its sphere there.
	if measured != 61*61 || m.AxialRangeD[1] > 43.5 || m.AxialRangeD[0] < 39.5 || m.AxialRangeD[0] > 41 ||
		m.ElevationRangeUM[0] > 0 || m.ElevationRangeUM[1] < 50 {
		t.Fatalf("%d cells measured; axial %v D, elevation %v um", measured, m.AxialRangeD, m.ElevationRangeUM)
	}
	// K on the map is Sim-K (the 3 mm ring), flatter than the apical K of
	// this prolate cornea; both are given.
	if math.Abs(m.FlatKD-simK) > 0.08 || math.Abs(m.SteepKD-m.FlatKD) > 0.1 || m.BFSRadiusMM < 7.8 || m.BFSRadiusMM > 8.1 ||
		math.Abs(m.ApicalFlatKD-apicalK) > 0.05 || math.Abs(m.ApicalSteepKD-m.ApicalFlatKD) > 0.1 || m.ApicalFlatKD <= m.FlatKD ||
		math.Abs(math.Mod(m.SteepMeridianDeg-m.FlatMeridianDeg+180, 180)-90) > 1e-6 {
		t.Fatalf("Sim-K %.2f/%.2f D at %.1f/%.1f, apical K %.2f/%.2f D, BFS %.3f mm", m.FlatKD, m.SteepKD, m.FlatMeridianDeg, m.SteepMeridianDeg,
			m.ApicalFlatKD, m.ApicalSteepKD, m.BFSRadiusMM)
	}
	t.Logf("map: centre %.3f D, axial %v D, elevation %v um, BFS %.3f mm, Sim-K %.2f/%.2f D, apical K %.2f/%.2f D", *centre, m.AxialRangeD,
		m.ElevationRangeUM, m.BFSRadiusMM, m.FlatKD, m.SteepKD, m.ApicalFlatKD, m.ApicalSteepKD)

	// The lists, before any order.
	var pl struct {
		Patients []struct{ ID, Name, BirthDate, Created string }
	}
	getJSON("/v1/patients", north, 200, &pl)
	if len(pl.Patients) == 0 || pl.Patients[0].ID != p.ID || pl.Patients[0].Name != "Ada Example" || pl.Patients[0].BirthDate != "1984-03-02" ||
		pl.Patients[0].Created == "" {
		t.Fatalf("patients: %+v", pl)
	}
	var sl struct {
		Scans []struct {
			ID, Status, PatientID, DesignID string
			Links                           map[string]string
		}
	}
	getJSON("/v1/patients/"+p.ID+"/scans", north, 200, &sl)
	if len(sl.Scans) != 1 || sl.Scans[0].ID != sc.ID || sl.Scans[0].Status != "designed" || sl.Scans[0].DesignID != designID ||
		sl.Scans[0].PatientID != p.ID || sl.Scans[0].Links["self"] != "/v1/scans/"+sc.ID {
		t.Fatalf("scans: %+v", sl)
	}

	// Order, manufacture, dispatch.
	s, b, _ = c.do("POST", "/v1/orders", north, []byte(`{"designId":"`+designID+`","quantity":2}`), "Content-Type", "application/json")
	if s != 201 {
		t.Fatalf("order: %d %s", s, b)
	}
	var o struct{ ID string }
	_ = json.Unmarshal(b, &o)
	jobID := ""
	for deadline := time.Now().Add(20 * time.Second); jobID == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var q struct{ Jobs []orders.Job }
		getJSON("/v1/lab/jobs?status=queued", lab, 200, &q)
		for _, j := range q.Jobs {
			if j.OrderID == o.ID {
				jobID = j.ID
			}
		}
	}
	if jobID == "" {
		t.Fatal("no job for the order")
	}
	for _, status := range []string{"cutting", "inspection", "dispatched"} {
		if s, b, _ := c.do("POST", "/v1/lab/jobs/"+jobID+"/status", lab, []byte(`{"status":"`+status+`"}`), "Content-Type", "application/json"); s != 200 {
			t.Fatalf("job %s: %d %s", status, s, b)
		}
	}

	var ol struct {
		Orders []struct {
			ID, Status, DesignID, ScanID, PatientID string
			Quantity                                int
			Created, Updated                        time.Time
		}
	}
	getJSON("/v1/orders", north, 200, &ol)
	if len(ol.Orders) != 1 || ol.Orders[0].ID != o.ID || ol.Orders[0].Status != "dispatched" || ol.Orders[0].DesignID != designID ||
		ol.Orders[0].ScanID != sc.ID || ol.Orders[0].PatientID != p.ID || ol.Orders[0].Quantity != 2 || !ol.Orders[0].Updated.After(ol.Orders[0].Created) {
		t.Fatalf("orders: %+v", ol)
	}
	// An RGP lens dispatched today: its first visit, week 1, is upcoming.
	var fl struct {
		FollowUps []struct {
			OrderID, PatientID, Visit, State string
			Due                              time.Time
		}
	}
	getJSON("/v1/follow-ups", north, 200, &fl)
	if len(fl.FollowUps) != 1 || fl.FollowUps[0].OrderID != o.ID || fl.FollowUps[0].PatientID != p.ID || fl.FollowUps[0].Visit != "week-1" ||
		fl.FollowUps[0].State != "upcoming" || !fl.FollowUps[0].Due.After(time.Now()) {
		t.Fatalf("follow-ups: %+v", fl)
	}

	// Another clinic: its own (empty) lists, 404 for our patient and scan.
	for _, path := range []string{"/v1/patients", "/v1/orders", "/v1/follow-ups"} {
		b := getJSON(path, south, 200, nil)
		for _, id := range []string{p.ID, sc.ID, o.ID, designID, "Ada Example"} {
			if strings.Contains(string(b), id) {
				t.Fatalf("GET %s as demo-south holds %q: %s", path, id, b)
			}
		}
	}
	getJSON("/v1/patients/"+p.ID+"/scans", south, 404, nil)
	getJSON("/v1/scans/"+sc.ID+"/map", south, 404, nil)
	getJSON("/v1/patients", lab, 403, nil)
	getJSON("/v1/scans/"+sc.ID+"/map", "", 401, nil)

	// A keratoconic cornea for ortho-k: refused, with the reason naming the
	// override; the override on another lens type is refused at upload;
	// with it the design is made, and the scan and the design record it.
	kc := topotest.Cornea{R0MM: 7.6, P: 0.8, NoiseUM: 1, Eye: topo.OD, ConeUM: 60, ConeXMM: -0.4, ConeYMM: -1.2}.CSV()
	var kcScan struct{ ID string }
	upload := func(query, key string) (int, []byte) {
		s, b, _ := c.do("POST", "/v1/patients/"+p.ID+"/scans?"+query, north, kc, "Content-Type", "text/csv", "Idempotency-Key", key)
		return s, b
	}
	s, b = upload("eye=OD&lensType=rgp&rx=-2&orthokOverride=true", "portal-kc-rgp")
	if s != 400 || !strings.Contains(string(b), `"field":"orthokOverride"`) {
		t.Errorf("orthokOverride on an RGP: %d %s, want 400 naming orthokOverride", s, b)
	}
	s, b = upload("eye=OD&lensType=orthok&rx=-2", "portal-kc-1")
	if s != 201 {
		t.Fatalf("upload the keratoconic cornea: %d %s", s, b)
	}
	_ = json.Unmarshal(b, &kcScan)
	v, _ = c.waitDesigned(north, kcScan.ID, 20*time.Second)
	if reason, _ := v["reason"].(string); v["status"] != "failed" || !strings.Contains(reason, "orthokOverride=true") || !strings.Contains(reason, "keratocon") {
		t.Errorf("ortho-k on a keratoconic cornea: %v, want failed with a reason naming keratoconus and orthokOverride=true", v)
	}
	s, b = upload("eye=OD&lensType=orthok&rx=-2&orthokOverride=true", "portal-kc-2")
	if s != 201 {
		t.Fatalf("upload with the override: %d %s", s, b)
	}
	_ = json.Unmarshal(b, &kcScan)
	v, _ = c.waitDesigned(north, kcScan.ID, 20*time.Second)
	if v["status"] != "designed" || v["orthokOverride"] != true {
		t.Fatalf("ortho-k with the override: %v", v)
	}
	getJSON("/v1/scans/"+kcScan.ID+"/design", north, 200, &d)
	steepest := false
	for _, p := range d.Lens.Clearance {
		steepest = steepest || p.Label == "steepest"
	}
	if d.Screening == nil || d.Screening.Pattern != "keratoconus" || d.Screening.Override == "" || len(d.Screening.Reasons) == 0 || !steepest {
		t.Errorf("design with the override: screening %+v, a steepest profile %v", d.Screening, steepest)
	}
}
