package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

const testdata = "../../shared/domain/topo/testdata/"

func TestCalculatorDesignsEveryFormat(t *testing.T) {
	for _, tc := range []struct {
		file, lens string
		extra      []string
	}{
		{"sample-od.csv", "rgp", []string{"-rx", "-2.5", "-hvid", "11.8"}},
		{"sample-cso-od.csv", "orthok", []string{"-rx", "-3", "-format", "cso"}},
		{"sample-pentacam-od.csv", "scleral", []string{"-hvid", "11.8"}},
	} {
		t.Run(tc.file+"/"+tc.lens, func(t *testing.T) {
			dir := t.TempDir()
			var out, errb bytes.Buffer
			pattern := filepath.Join(dir, "tear-layer.png")
			args := append(append([]string{"-lens", tc.lens, "-lathe", dir, "-tear-layer", pattern}, tc.extra...), testdata+tc.file)
			if code := run(args, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var v struct {
				Eye    string
				Cornea map[string]any
				Lens   map[string]any
			}
			if err := json.Unmarshal(out.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			if v.Eye != "OD" || v.Lens["type"] != tc.lens {
				t.Fatalf("eye %q lens %v", v.Eye, v.Lens["type"])
			}
			for _, k := range []string{"apicalRadius_mm", "shapeFactorP", "eccentricity", "flatK_mm", "steepK_mm", "flatK_D", "steepK_D", "flatAxis_deg", "sag_mm", "rmsResidual_um", "coverage_mm"} {
				if _, ok := v.Cornea[k]; !ok {
					t.Errorf("cornea.%s missing", k)
				}
			}
			for _, k := range []string{"type", "nomogram", "bozr_mm", "bozd_mm", "td_mm", "sag_mm", "power_D", "toric"} {
				if _, ok := v.Lens[k]; !ok {
					t.Errorf("lens.%s missing", k)
				}
			}
			sag := v.Cornea["sag_mm"].(map[string]any)
			if _, ok := sag["15"]; ok != (tc.lens == "scleral") {
				t.Errorf("sag_mm keys %v", sag)
			}
			name := strings.TrimSuffix(tc.file, ".csv") + ".V5B"
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := lathe.Parse(b); err != nil {
				t.Fatalf("point file: %v", err)
			}
			f, err := os.Open(pattern)
			if err != nil {
				t.Fatalf("no tear-layer picture: %v", err)
			}
			defer f.Close()
			if _, err := png.Decode(f); err != nil || !strings.Contains(errb.String(), "tear film") {
				t.Fatalf("tear-layer picture: %v; stderr %s", err, errb.String())
			}
		})
	}
}

func TestCalculatorBadInput(t *testing.T) {
	dir := t.TempDir()
	ragged := filepath.Join(dir, "ragged.csv")
	_ = os.WriteFile(ragged, []byte("x,y,z\n0,0,0\n1,2\n"), 0o644)
	junk := filepath.Join(dir, "junk.bin")
	_ = os.WriteFile(junk, []byte{0x89, 'P', 'N', 'G', 0, 0, 1, 2}, 0o644)
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no lens", []string{testdata + "sample-od.csv"}, "-lens must be"},
		{"bad lens", []string{"-lens", "soft", testdata + "sample-od.csv"}, "-lens must be"},
		{"no file", []string{"-lens", "rgp"}, "exactly one scan file"},
		{"missing file", []string{"-lens", "rgp", filepath.Join(dir, "nope.csv")}, "no such file"},
		{"bad format", []string{"-lens", "rgp", "-format", "dicom", testdata + "sample-od.csv"}, "-format must be"},
		{"ragged", []string{"-lens", "rgp", ragged}, "line 3"},
		{"binary", []string{"-lens", "rgp", junk}, "no parser accepts this file"},
		{"eye contradicts", []string{"-lens", "rgp", "-eye", "OS", testdata + "sample-od.csv"}, "contradicts"},
		{"rx out of range", []string{"-lens", "rgp", "-rx", "-45", testdata + "sample-od.csv"}, "-rx: sphere -45.00 D"},
		{"rx without an axis", []string{"-lens", "rgp", "-rx", "-2/-1.25", testdata + "sample-od.csv"}, "has no axis"},
		{"vertex without rx", []string{"-lens", "rgp", "-vertex", "12", testdata + "sample-od.csv"}, "-vertex is given without -rx"},
		{"wrong format forced", []string{"-lens", "rgp", "-format", "pentacam", testdata + "sample-od.csv"}, "never guessed"},
		{"unknown flag", []string{"-lens", "rgp", "-zzz", testdata + "sample-od.csv"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.msg) {
				t.Fatalf("stderr %q lacks %q", errb.String(), tc.msg)
			}
			if out.Len() != 0 {
				t.Fatalf("stdout not empty: %q", out.String())
			}
			for _, param := range []string{"gridUnits", "gridReference", "gridBfs", "heightSign", "orthokOverride", "rx:"} {
				if strings.Contains(errb.String(), " "+param) || strings.Contains(errb.String(), "("+param) {
					t.Errorf("stderr %q names the API parameter %s, not the calculator's flag", errb.String(), param)
				}
			}
		})
	}
}

// TestMessagesNameFlags: the engine's messages name its options by the
// upload's query parameters; the calculator says its own flags.
func TestMessagesNameFlags(t *testing.T) {
	for in, want := range map[string]string{
		`line 3: the file does not state its height units (set gridUnits to "mm" or "um"), nor what its heights are measured from (set gridReference to "apex" or "bfs", and gridBfs in mm for "bfs")`: `line 3: the file does not state its height units (set -units to "mm" or "um"), nor what its heights are measured from (set -reference to "apex" or "bfs", and -bfs in mm for "bfs")`,
		`heightSign: cannot tell the sign of the heights: flat; set heightSign to "depth"`:                                                                                                             `-sign: cannot tell the sign of the heights: flat; set -sign to "depth"`,
		`orthokOverride: keratoconus contraindicates ortho-k; send orthokOverride=true to design it anyway`:                                                                                            `-orthok-override: keratoconus contraindicates ortho-k; send -orthok-override to design it anyway`,
		`rx: sphere -45.00 D is outside -30 to +30 D`:                              `-rx: sphere -45.00 D is outside -30 to +30 D`,
		`topo.Parse: vertex: must be 0 to 20 mm; the vertex distance of the pupil`: `topo.Parse: -vertex: must be 0 to 20 mm; the vertex distance of the pupil`,
	} {
		if got := flagWords(in); got != want {
			t.Errorf("flagWords(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

// calc runs the calculator and decodes its JSON.
func calc(t *testing.T, args ...string) (int, map[string]any, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	var v map[string]any
	if code == 0 {
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
	}
	return code, v, errb.String()
}

// Real exams: a CSO export as the device writes it, a keratoconic cornea
// refused ortho-k unless overridden, a sphero-cylinder refraction.
func TestCalculatorRealExams(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := write("exam.txt", topotest.Cornea{R0MM: 7.8, R0YMM: 7.6, P: 0.78, NoiseUM: 1, Eye: topo.OD, ApexXMM: 0.3, ApexYMM: -0.2}.CSORawFile())
	cone := write("cone.csv", topotest.Cornea{R0MM: 7.6, P: 0.8, NoiseUM: 1, Eye: topo.OS, ConeUM: 70, ConeXMM: 0.4, ConeYMM: -1.1}.CSV())
	toric := write("toric.csv", topotest.Cornea{R0MM: 7.85, R0YMM: 7.35, P: 0.75, NoiseUM: 0.5, Eye: topo.OD}.CSV())
	grid := write("grid.csv", topotest.Cornea{R0MM: 7.7, P: 0.8, NoiseUM: 1, Eye: topo.OS}.PentacamFile(topotest.TabHeader(), topotest.Missing("-1000")))

	code, v, stderr := calc(t, "-lens", "scleral", grid)
	if code != 0 || v["format"] != topo.FormatPentacam || !strings.Contains(fmt.Sprint(v["layout"]), topo.LayoutTabHeader) {
		t.Errorf("Pentacam grid with tabs and -1000: exit %d (%s), format %v, layout %v", code, stderr, v["format"], v["layout"])
	}

	code, v, stderr = calc(t, "-lens", "rgp", "-rx", "-1.50", raw)
	if code != 0 {
		t.Fatalf("raw export: exit %d: %s", code, stderr)
	}
	if v["format"] != topo.FormatCSORaw || !strings.Contains(fmt.Sprint(v["layout"]), topo.LayoutDecimalComma) {
		t.Errorf("format %v, layout %v", v["format"], v["layout"])
	}
	cornea := v["cornea"].(map[string]any)
	for _, k := range []string{"simK", "apicalK", "deviceSimK", "apex"} {
		if _, ok := cornea[k]; !ok {
			t.Errorf("cornea.%s missing", k)
		}
	}
	if _, ok := v["screening"].(map[string]any)["pattern"]; !ok {
		t.Errorf("no screening pattern: %v", v["screening"])
	}

	code, _, stderr = calc(t, "-lens", "orthok", "-rx", "-2", cone)
	if code != 2 || !strings.Contains(stderr, "-orthok-override") {
		t.Errorf("ortho-k on a cone: exit %d, %q", code, stderr)
	}
	code, v, stderr = calc(t, "-lens", "orthok", "-rx", "-2", "-orthok-override", cone)
	if code != 0 || v["screening"].(map[string]any)["override"] == nil {
		t.Errorf("ortho-k with the override: exit %d, %q", code, stderr)
	}

	code, v, stderr = calc(t, "-lens", "rgp", "-rx", "-2.00/-3.25x180", "-vertex", "12", "-lathe", dir, toric)
	if code != 0 {
		t.Fatalf("bitoric: exit %d: %s", code, stderr)
	}
	if l := v["lens"].(map[string]any); l["toric"] != true || l["rgp"].(map[string]any)["bitoric"] == nil {
		t.Errorf("lens %v", l)
	}
	if !strings.Contains(stderr, "toric.V5F") {
		t.Errorf("no front point file written: %q", stderr)
	}
}
