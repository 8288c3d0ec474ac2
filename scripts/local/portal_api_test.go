package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/orders"
)

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
	FlatKD           float64    `json:"flat_k_D"`
	ApicalFlatKD     float64    `json:"apical_flat_k_D"`
	SteepKD          float64    `json:"steep_k_D"`
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
	s, b, _ = c.do("POST", "/v1/patients/"+p.ID+"/scans?eye=OD&lensType=rgp&rx=-2.5&hvid=11.8", north, sample,
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
	// Sim-K is the axial power on the 3 mm ring: 337.5 / sqrt(7.8^2 + 0.25 * 1.5^2);
	// the apical K 337.5 / 7.8.
	if math.Abs(m.FlatKD-43.07) > 0.05 || math.Abs(m.SteepKD-m.FlatKD) > 0.1 || math.Abs(m.ApicalFlatKD-337.5/7.8) > 0.05 ||
		m.BFSRadiusMM < 7.8 || m.BFSRadiusMM > 8.1 ||
		math.Abs(math.Mod(m.SteepMeridianDeg-m.FlatMeridianDeg+180, 180)-90) > 1e-6 {
		t.Fatalf("K %.2f/%.2f D at %.1f/%.1f, BFS %.3f mm", m.FlatKD, m.SteepKD, m.FlatMeridianDeg, m.SteepMeridianDeg, m.BFSRadiusMM)
	}
	t.Logf("map: centre %.3f D, axial %v D, elevation %v um, BFS %.3f mm, K %.2f/%.2f D", *centre, m.AxialRangeD, m.ElevationRangeUM,
		m.BFSRadiusMM, m.FlatKD, m.SteepKD)

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
}
