package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/localstack"
)

// TestTearLayerAPI: a designed scan's tear layer is served as JSON (the
// grid to the lens edge, the resting position, the least and greatest
// film) and as the fluorescein picture, for the current design and by
// version, centred or decentred; a version the scan does not have is 400 naming it, and another
// clinic gets 404.
func TestTearLayerAPI(t *testing.T) {
	st, err := localstack.Start(context.Background(), localstack.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Shutdown() })
	c := client{base: st.URL, t: t}
	north, south := st.Tokens["demo-north"], st.Tokens["demo-south"]
	pid := c.createPatient(north)
	sample, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	code, b, _ := c.do("POST", "/v1/patients/"+pid+"/scans?eye=OD&lensType=rgp&rx=-2.50", north, sample)
	if code != 201 {
		t.Fatalf("upload: %d %s", code, b)
	}
	var sc struct{ ID string }
	_ = json.Unmarshal(b, &sc)
	c.waitDesigned(north, sc.ID, time.Minute)

	base := "/v1/scans/" + sc.ID + "/design/tear-layer"
	code, b, h := c.do("GET", base, north, nil)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("tear layer: %d %s", code, b)
	}
	var tl struct {
		Version     int
		Model       struct{ Version string }
		PitchMM     float64      `json:"pitch_mm"`
		AxisMM      []float64    `json:"axis_mm"`
		ThicknessUM [][]*float64 `json:"thickness_um"`
		Rest        struct {
			Method          string
			ApexClearanceUM float64 `json:"apex_clearance_um"`
		}
		MinUM float64 `json:"min_um"`
		MaxUM float64 `json:"max_um"`
	}
	if err := json.Unmarshal(b, &tl); err != nil {
		t.Fatal(err)
	}
	n := len(tl.AxisMM)
	if tl.Version != 1 || tl.PitchMM > 0.1 || n < 80 || len(tl.ThicknessUM) != n || tl.Model.Version == "" || tl.Rest.Method == "" {
		t.Fatalf("tear layer: version %d, pitch %g, %d cells a side, model %q, rest %+v", tl.Version, tl.PitchMM, n, tl.Model.Version, tl.Rest)
	}
	centre := tl.ThicknessUM[n/2][n/2]
	if centre == nil || *centre != tl.Rest.ApexClearanceUM || tl.MinUM != 0 || !(tl.MaxUM > tl.MinUM) || tl.ThicknessUM[0][0] != nil {
		t.Fatalf("film: centre %v, apex %g, min %g, max %g, corner %v", centre, tl.Rest.ApexClearanceUM, tl.MinUM, tl.MaxUM, tl.ThicknessUM[0][0])
	}

	code, b, h = c.do("GET", base+".png?version=1", north, nil)
	if code != 200 || h.Get("Content-Type") != "image/png" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("picture: %d %v", code, h)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("picture: %v", err)
	}
	// Decentred 0.3 mm down, the lens rests elsewhere and says so; a
	// decentration that is not a number, or one the lens cannot take (off
	// the lens, or tilting it more than the simulation models), is 400
	// naming the parameter.
	code, b, _ = c.do("GET", base+"?decentrationY=-0.3", north, nil)
	var moved struct {
		Rest struct {
			Method          string
			DecentrationYMM float64 `json:"decentration_y_mm"`
			ApexClearanceUM float64 `json:"apex_clearance_um"`
		}
	}
	if err := json.Unmarshal(b, &moved); code != 200 || err != nil || moved.Rest.DecentrationYMM != -0.3 ||
		!strings.HasPrefix(moved.Rest.Method, "decentred") || moved.Rest.ApexClearanceUM == tl.Rest.ApexClearanceUM {
		t.Fatalf("decentred: %d %s", code, b)
	}
	for q, field := range map[string]string{"?decentrationX=left": "decentrationX", "?decentrationY=4.5": "decentration", "?decentrationX=1.2": "decentration", "?version=first": "version"} {
		if code, b, _ = c.do("GET", base+q, north, nil); code != 400 || !strings.Contains(string(b), `"field":"`+field+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", q, code, b, field)
		}
	}
	code, b, _ = c.do("GET", base+"?version=2", north, nil)
	if code != 400 || !strings.Contains(string(b), `"field":"version"`) {
		t.Fatalf("a version the scan does not have: %d %s", code, b)
	}
	if code, b, _ = c.do("GET", base+".png", south, nil); code != 404 {
		t.Fatalf("another clinic: %d %s", code, b)
	}
}
