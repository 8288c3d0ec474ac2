package topomap_test

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/domain/topomap"
	"github.com/lensflow/lensflow/shared/errs"
)

const index = cornea.StandardKeratometricIndex

// build fits the engine's model to s and builds its map.
func build(t *testing.T, s *topo.Surface, o topomap.Options) (*topomap.Map, *cornea.Model) {
	t.Helper()
	m, err := cornea.Fit(s, cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := topomap.Build(s, m, o)
	if err != nil {
		t.Fatal(err)
	}
	return mp, m
}

// stats are the worst and RMS deviation of a grid's measured cells from
// want(x, y), and how many cells are measured.
func stats(mp *topomap.Map, g topomap.Grid, want func(x, y float64) float64) (worst, rms float64, cells int) {
	var ss float64
	for i := range mp.N {
		for j := range mp.N {
			v := g[i*mp.N+j]
			if math.IsNaN(v) {
				continue
			}
			x, y := topomap.At(mp.N, mp.ExtentMM, i, j)
			d := v - want(x, y)
			worst = max(worst, math.Abs(d))
			ss += d * d
			cells++
		}
	}
	return worst, math.Sqrt(ss / float64(max(cells, 1))), cells
}

// conicAxialD is the axial power of a rotationally symmetric conic at rho.
func conicAxialD(r0, p, rho float64) float64 { return index / math.Sqrt(r0*r0+(1-p)*rho*rho) }

func TestRotationallySymmetric(t *testing.T) {
	for _, tc := range []struct {
		name      string
		c         topotest.Cornea
		axialTol  float64 // D, worst cell
		elevTol   float64 // microns, worst cell (sphere only)
		wantCells int     // at least
	}{
		{"sphere 7.8", topotest.Cornea{R0MM: 7.8, P: 1, Eye: topo.OD}, 0.01, 0.05, 61 * 61},
		{"sphere 7.8, 1 micron noise", topotest.Cornea{R0MM: 7.8, P: 1, NoiseUM: 1, Eye: topo.OD}, 0.1, 0.6, 61 * 61},
		{"reference conic p 0.75", topotest.Reference(), 0.01, -1, 61 * 61},
		{"reference conic, 1 micron noise", topotest.Cornea{R0MM: 7.8, P: 0.75, NoiseUM: 1, Eye: topo.OD}, 0.1, -1, 61 * 61},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp, _ := build(t, tc.c.Surface(), topomap.Options{})
			p := tc.c.P
			worst, rms, cells := stats(mp, mp.AxialD, func(x, y float64) float64 { return conicAxialD(7.8, p, math.Hypot(x, y)) })
			t.Logf("axial: worst %.4f D, RMS %.4f D over %d cells; centre %.3f D (want %.3f); range %v",
				worst, rms, cells, mp.AxialD[(mp.N/2)*mp.N+mp.N/2], index/7.8, mp.AxialRangeD)
			if cells < tc.wantCells {
				t.Errorf("%d measured cells, want %d", cells, tc.wantCells)
			}
			if worst > tc.axialTol {
				t.Errorf("axial off by %.4f D, want within %g", worst, tc.axialTol)
			}
			if c := mp.AxialD[(mp.N/2)*mp.N+mp.N/2]; math.Abs(c-index/7.8) > tc.axialTol {
				t.Errorf("centre %.4f D, want %.4f", c, index/7.8)
			}
			if tc.elevTol > 0 {
				ew, erms, _ := stats(mp, mp.ElevationUM, func(x, y float64) float64 { return 0 })
				t.Logf("elevation: worst %.3f um, RMS %.3f um; BFS %.4f mm", ew, erms, mp.BFSRadiusMM)
				if ew > tc.elevTol {
					t.Errorf("elevation of a sphere reaches %.3f um, want within %g", ew, tc.elevTol)
				}
				if math.Abs(mp.BFSRadiusMM-7.8) > 0.005 {
					t.Errorf("BFS %.4f mm, want 7.8", mp.BFSRadiusMM)
				}
			} else {
				// A prolate cornea stands above its sphere at the centre and the
				// edge of the zone, below it between: the centre is positive.
				if e := mp.ElevationUM[(mp.N/2)*mp.N+mp.N/2]; !(e > 0) {
					t.Errorf("prolate cornea's central elevation %.2f um, want > 0", e)
				}
			}
			if mp.AxialRangeD[0] > mp.AxialRangeD[1] || mp.ElevationRangeUM[0] > mp.ElevationRangeUM[1] {
				t.Errorf("ranges %v %v", mp.AxialRangeD, mp.ElevationRangeUM)
			}
		})
	}
}

// TestToricMeridians: a biconic cornea's axial map reads its flat K along
// the flat meridian and its steep K along the steep one, and the map
// reports both meridians and Ks.
func TestToricMeridians(t *testing.T) {
	for _, tc := range []struct {
		name         string
		flat, steep  float64 // mm
		axis         float64 // TABO degrees of the flat meridian
		noise        float64
		tolD, tolDeg float64
	}{
		{"with the rule", 7.9, 7.6, 0, 0, 0.02, 0.5},
		{"oblique 30", 8.0, 7.7, 30, 0, 0.02, 0.5},
		{"against the rule, noise", 7.7, 7.4, 90, 1, 0.1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := topotest.Cornea{R0MM: tc.flat, R0YMM: tc.steep, P: 0.8, AxisDeg: tc.axis, NoiseUM: tc.noise, Eye: topo.OD}
			s := c.Surface()
			mp, m := build(t, s, topomap.Options{})
			sm, err := topomap.NewSurfaceModel(s, m, topomap.Options{})
			if err != nil {
				t.Fatal(err)
			}
			flatK, steepK := index/tc.flat, index/tc.steep
			simFlat, simSteep := conicAxialD(tc.flat, 0.8, 1.5), conicAxialD(tc.steep, 0.8, 1.5)
			if d := axisDiff(mp.FlatMeridianDeg, tc.axis); d > tc.tolDeg {
				t.Errorf("flat meridian %.2f, want %.0f", mp.FlatMeridianDeg, tc.axis)
			}
			if d := axisDiff(mp.SteepMeridianDeg, tc.axis+90); d > tc.tolDeg {
				t.Errorf("steep meridian %.2f, want %.0f", mp.SteepMeridianDeg, tc.axis+90)
			}
			if math.Abs(mp.ApicalFlatKD-flatK) > tc.tolD || math.Abs(mp.ApicalSteepKD-steepK) > tc.tolD {
				t.Errorf("apical K %.3f/%.3f D, want %.3f/%.3f", mp.ApicalFlatKD, mp.ApicalSteepKD, flatK, steepK)
			}
			// Sim-K is the axial power on the 3 mm ring.
			if math.Abs(mp.FlatKD-simFlat) > tc.tolD || math.Abs(mp.SteepKD-simSteep) > tc.tolD {
				t.Errorf("Sim-K %.3f/%.3f D, want %.3f/%.3f", mp.FlatKD, mp.SteepKD, simFlat, simSteep)
			}
			// Near the centre along each principal meridian the axial power
			// is that meridian's K (the conic's axial radius grows by
			// e^2 rho^2 / (2 R0): about 0.02 D at 0.5 mm for p 0.8).
			for _, rho := range []float64{0.3, 0.5} {
				for _, side := range []float64{0, 180} {
					f := sm.AxialD(polar(rho, tc.axis+side))
					st := sm.AxialD(polar(rho, tc.axis+90+side))
					t.Logf("rho %.1f at %3.0f: flat %.3f D (want %.3f), steep %.3f D (want %.3f)", rho, tc.axis+side, f, flatK, st, steepK)
					if math.Abs(f-flatK) > tc.tolD+0.01 || math.Abs(st-steepK) > tc.tolD+0.01 {
						t.Errorf("rho %.1f: flat %.3f steep %.3f, want %.3f %.3f", rho, f, st, flatK, steepK)
					}
				}
			}
			// The centre is the mean of the principal curvatures.
			if c := mp.AxialD[(mp.N/2)*mp.N+mp.N/2]; math.Abs(c-(flatK+steepK)/2) > tc.tolD {
				t.Errorf("centre %.3f D, want %.3f", c, (flatK+steepK)/2)
			}
		})
	}
}

func polar(rho, deg float64) (float64, float64) {
	a := deg * math.Pi / 180
	return rho * math.Cos(a), rho * math.Sin(a)
}

func axisDiff(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 180)
	return min(d, 180-d)
}

// TestMeasuredArea: cells beyond the data's reach, in a gap with no
// points, or cut off by an eyelid are null; the rest are numbers.
func TestMeasuredArea(t *testing.T) {
	t.Run("small scan", func(t *testing.T) {
		c := topotest.Reference()
		c.RadiusMM = 4.2
		mp, _ := build(t, c.Surface(), topomap.Options{})
		for i := range mp.N {
			for j := range mp.N {
				x, y := topomap.At(mp.N, mp.ExtentMM, i, j)
				r := math.Hypot(x, y)
				null := math.IsNaN(mp.AxialD[i*mp.N+j]) && math.IsNaN(mp.ElevationUM[i*mp.N+j])
				if r > 4.25 && !null {
					t.Fatalf("cell at %.2f mm, beyond the 4.2 mm scan, has a value", r)
				}
				if r < 4.0 && null {
					t.Fatalf("cell at %.2f mm, inside the scan, is null", r)
				}
			}
		}
	})
	t.Run("upper lid at 2.5 mm", func(t *testing.T) {
		c := topotest.Reference()
		c.Lid, c.LidYMM = true, 2.5
		mp, _ := build(t, c.Surface(), topomap.Options{})
		for i := range mp.N {
			for j := range mp.N {
				x, y := topomap.At(mp.N, mp.ExtentMM, i, j)
				null := math.IsNaN(mp.AxialD[i*mp.N+j])
				if y > 3.1 && !null {
					t.Fatalf("cell (%.2f, %.2f) above the lid has a value", x, y)
				}
				if y < 2.4 && math.Hypot(x, y) < 4.4 && null {
					t.Fatalf("cell (%.2f, %.2f) below the lid is null", x, y)
				}
			}
		}
	})
	t.Run("hole with no points", func(t *testing.T) {
		s := topotest.Reference().Surface()
		keep := &topo.Surface{Eye: s.Eye, Format: s.Format}
		for i := range s.X {
			if math.Hypot(s.X[i]-2, s.Y[i]+2) < 1 {
				continue
			}
			keep.X, keep.Y, keep.Z = append(keep.X, s.X[i]), append(keep.Y, s.Y[i]), append(keep.Z, s.Z[i])
		}
		mp, _ := build(t, keep, topomap.Options{N: 91})
		null, inside := 0, 0
		for i := range mp.N {
			for j := range mp.N {
				x, y := topomap.At(mp.N, mp.ExtentMM, i, j)
				if d := math.Hypot(x-2, y+2); d < 0.45 {
					inside++
					if math.IsNaN(mp.AxialD[i*mp.N+j]) {
						null++
					}
				}
			}
		}
		if inside == 0 || null != inside {
			t.Errorf("%d of %d cells in the hole are null", null, inside)
		}
	})
}

// TestSampleScans maps the repository's sample scans, one per format (each
// a conic of R0 7.80 mm, p 0.75, with noise): the centre reads 43.27 D and
// the map follows the conic's axial power.
func TestSampleScans(t *testing.T) {
	for _, tc := range []struct {
		file     string
		minCells int
	}{
		{"sample-od.csv", 61 * 61},
		{"sample-cso-od.csv", 3600},
		{"sample-pentacam-od.csv", 61 * 61},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.ReadFile("../topo/testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			s, _, err := topo.Parse(f, topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			mp, _ := build(t, s, topomap.Options{})
			centre := mp.AxialD[(mp.N/2)*mp.N+mp.N/2]
			worst, rms, cells := stats(mp, mp.AxialD, func(x, y float64) float64 { return conicAxialD(7.8, 0.75, math.Hypot(x, y)) })
			t.Logf("%s: centre %.3f D, axial worst %.4f RMS %.4f D over %d cells, range %v D; elevation range %v um, BFS %.3f mm",
				tc.file, centre, worst, rms, cells, mp.AxialRangeD, mp.ElevationRangeUM, mp.BFSRadiusMM)
			if math.Abs(centre-index/7.8) > 0.05 || worst > 0.15 || cells < tc.minCells {
				t.Errorf("centre %.3f D, worst %.3f D, %d cells", centre, worst, cells)
			}
		})
	}
}

// TestLeftEyeNasalFrame: a left eye handed over in the nasal frame maps
// as the same eye in the examiner's view.
func TestLeftEyeNasalFrame(t *testing.T) {
	c := topotest.Cornea{R0MM: 7.9, R0YMM: 7.6, P: 0.8, AxisDeg: 30, Eye: topo.OS}
	s := c.Surface()
	want, _ := build(t, s, topomap.Options{N: 21})
	nasal, err := s.Nasal()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := build(t, nasal, topomap.Options{N: 21})
	for k := range want.AxialD {
		if d := math.Abs(got.AxialD[k] - want.AxialD[k]); d > 1e-6 || math.IsNaN(got.AxialD[k]) != math.IsNaN(want.AxialD[k]) {
			t.Fatalf("cell %d: %.4f in the nasal frame, %.4f in the examiner's view", k, got.AxialD[k], want.AxialD[k])
		}
	}
	if axisDiff(got.FlatMeridianDeg, 30) > 0.5 {
		t.Errorf("flat meridian %.1f, want 30", got.FlatMeridianDeg)
	}
}

func TestJSON(t *testing.T) {
	c := topotest.Reference()
	c.RadiusMM = 4.2
	mp, _ := build(t, c.Surface(), topomap.Options{N: 11})
	mp.ScanID = "s-1"
	b, err := json.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scanId", "n", "extent_mm", "axial_D", "elevation_um", "bfs_radius_mm", "flat_meridian_deg",
		"steep_meridian_deg", "flat_k_D", "steep_k_D", "axial_range_D", "elevation_range_um"} {
		if _, ok := v[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	ax := v["axial_D"].([]any)
	if len(ax) != 121 || ax[0] != nil || ax[60] == nil {
		t.Errorf("axial_D: %d cells, corner %v, centre %v", len(ax), ax[0], ax[60])
	}
	if !strings.Contains(string(b), "null") {
		t.Error("no null cell in the JSON")
	}
}

func TestErrors(t *testing.T) {
	good := topotest.Reference().Surface()
	m, err := cornea.Fit(good, cornea.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	few := &topo.Surface{X: []float64{0, 1, 0}, Y: []float64{0, 0, 1}, Z: []float64{0, 0.06, 0.06}}
	for _, tc := range []struct {
		name  string
		s     *topo.Surface
		m     *cornea.Model
		o     topomap.Options
		field string // the field named, or "" for a message containing want
		want  string
	}{
		{"nil surface", nil, m, topomap.Options{}, "", "surface is nil"},
		{"ragged surface", &topo.Surface{X: []float64{1}, Y: nil, Z: []float64{1}}, m, topomap.Options{}, "", "differ in length"},
		{"nil model", good, nil, topomap.Options{}, "", "no fit"},
		{"unfitted model", good, &cornea.Model{}, topomap.Options{}, "", "no fit"},
		{"three points", few, m, topomap.Options{}, "", "valid points"},
		{"n too small", good, m, topomap.Options{N: 1}, "n", ""},
		{"n too large", good, m, topomap.Options{N: 1000}, "n", ""},
		{"tiny extent", good, m, topomap.Options{ExtentMM: 0.01}, "extentMM", ""},
		{"NaN extent", good, m, topomap.Options{ExtentMM: math.NaN()}, "extentMM", ""},
		{"huge extent", good, m, topomap.Options{ExtentMM: 50}, "extentMM", ""},
		{"negative near", good, m, topomap.Options{NearMM: -1}, "nearMM", ""},
		{"order too high", good, m, topomap.Options{ZernikeOrder: 20}, "zernikeOrder", ""},
		{"grid between the data points", good, m, topomap.Options{N: 2, ExtentMM: 0.55, NearMM: 0.01}, "", "measured area"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := topomap.Build(tc.s, tc.m, tc.o)
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("error %v, want errs.Invalid", err)
			}
			if tc.field != "" && errs.FieldOf(err) != tc.field {
				t.Errorf("field %q, want %q (%v)", errs.FieldOf(err), tc.field, err)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}
