package cornea

import (
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

// coarseCorneas are maps as real exams give them, for the coarse-to-fine
// fit to be held against the fit of every point from the start: the
// reference; a noisy toric cornea; a lid-cut, decentred, tilted toric map
// (data to 3 mm vertically); the keratoconic CSO export as the device
// writes it (24 rings of 256 semi-meridians, decimal comma, a cone off
// centre, an upper lid); and decentred keratoconic cones of 20 to 100
// microns with a lash shadow beside them.
func coarseCorneas(t testing.TB) map[string]*topo.Surface {
	t.Helper()
	out := map[string]*topo.Surface{}
	out["reference"] = topotest.Reference().Surface()
	toric := topotest.Reference()
	toric.NoiseUM, toric.R0YMM = 2, 7.6
	out["toric, 2 microns"] = toric.Surface()
	out["lid-cut, decentred, tilted"] = topotest.Cornea{R0MM: 7.75, R0YMM: 7.6, P: 0.78, RadiusMM: 5.5, NoiseUM: 1.5, Eye: topo.OD,
		Lid: true, LidYMM: 3, LowerLid: true, LowerLidYMM: -3, ApexXMM: 0.3, ApexYMM: -0.35, TiltXDeg: 1, TiltYDeg: -0.8}.Surface()
	cone := topotest.Cornea{R0MM: 7.6, P: 0.8, NoiseUM: 1, Eye: topo.OD, ApexXMM: 0.3, ApexYMM: -0.4, TiltXDeg: 1,
		ConeUM: 60, ConeXMM: -0.4, ConeYMM: -1.2, Lid: true, LidYMM: 3.5}
	s, _, err := topo.Parse(cone.CSORawFile(), topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out["keratoconus, CSO raw export"] = s
	for _, um := range []float64{20, 40, 60, 100} {
		c := topotest.Cornea{R0MM: 7.7, P: 0.8, RadiusMM: 6, NoiseUM: 1, Eye: topo.OS, ApexXMM: -0.2, ApexYMM: -0.3,
			ConeUM: um, ConeXMM: 0.5, ConeYMM: -1.2, ConeSigmaMM: 1.0, Gaps: []topotest.Gap{{FromDeg: 255, ToDeg: 265, BeyondMM: 2.5}}}
		out[fmt.Sprintf("keratoconus, %g micron cone", um)] = c.Surface()
	}
	return out
}

// TestCoarseToFineMatchesFullFit: the fit that starts on a subsample and
// refines on every point lands where the fit of every point from the
// start does. Both stop within a tenth of a standard error of the same
// minimum (about 0.0002 mm in R0 and 0.001 in Q with microns of noise;
// more on a keratoconic cornea, whose misfit is a cone rather than noise),
// so they agree far inside what a design can tell: 0.001 mm of R0 is
// 0.006 D of K and a fiftieth of a lens's BOZR tolerance; 0.005 of Q
// moves the sag at the 10 mm chord by about a micron; 0.1 micron of
// residual RMS is a twentieth of what a good fit leaves; 0.01 mm of apex
// position is a thirtieth of a typical decentration; 0.01 D of Sim-K a
// twenty-fifth of the quarter dioptre a practitioner reads. The closest
// call is the principal meridians of the keratoconic CSO export, a cornea
// with almost no toricity to tell them apart (0.0007 mm).
func TestCoarseToFineMatchesFullFit(t *testing.T) {
	for name, s := range coarseCorneas(t) {
		t.Run(name, func(t *testing.T) {
			coarse, err := fitModel(s, ModelOptions{}, true)
			if err != nil {
				t.Fatal(err)
			}
			full, err := fitModel(s, ModelOptions{}, false)
			if err != nil {
				t.Fatal(err)
			}
			q := func(p float64) float64 { return p - 1 }
			var worst float64
			defer func() { t.Logf("worst difference: %.2f of its tolerance", worst) }()
			for _, c := range []struct {
				what      string
				got, want float64
				tol       float64
			}{
				{"mean R0 (mm)", coarse.Mean.R0MM, full.Mean.R0MM, 0.001},
				{"mean Q", q(coarse.Mean.P), q(full.Mean.P), 0.005},
				{"flat R0 (mm)", coarse.Biconic.FlatR0MM, full.Biconic.FlatR0MM, 0.001},
				{"steep R0 (mm)", coarse.Biconic.SteepR0MM, full.Biconic.SteepR0MM, 0.001},
				{"flat Q", q(coarse.Biconic.FlatP), q(full.Biconic.FlatP), 0.005},
				{"steep Q", q(coarse.Biconic.SteepP), q(full.Biconic.SteepP), 0.005},
				{"apex x (mm)", coarse.Pose.XMM, full.Pose.XMM, 0.01},
				{"apex y (mm)", coarse.Pose.YMM, full.Pose.YMM, 0.01},
				{"residual RMS (microns)", coarse.ResidualRMSUM, full.ResidualRMSUM, 0.1},
				{"mean conic RMS (microns)", coarse.Mean.ResidualRMSUM, full.Mean.ResidualRMSUM, 0.1},
				{"flat Sim-K (D)", coarse.SimK.Flat.Dioptres, full.SimK.Flat.Dioptres, 0.01},
				{"steep Sim-K (D)", coarse.SimK.Steep.Dioptres, full.SimK.Steep.Dioptres, 0.01},
			} {
				worst = max(worst, math.Abs(c.got-c.want)/c.tol)
				if d := math.Abs(c.got - c.want); !(d <= c.tol) {
					t.Errorf("%s: %.6f coarse to fine, %.6f from every point (differ by %.2g, tolerance %g)", c.what, c.got, c.want, d, c.tol)
				}
			}
			if coarse.Biconic.SteepR0MM < coarse.Biconic.FlatR0MM-0.01 {
				if d := axisDiff(coarse.Biconic.FlatAxisDeg, full.Biconic.FlatAxisDeg); d > 0.5 {
					t.Errorf("flat axis %.2f coarse to fine, %.2f from every point", coarse.Biconic.FlatAxisDeg, full.Biconic.FlatAxisDeg)
				}
			}
			t.Logf("R0 %.6f/%.6f Q %.6f/%.6f flat %.6f/%.6f RMS %.4f/%.4f apex %.4f,%.4f/%.4f,%.4f iterations %d/%d",
				coarse.Mean.R0MM, full.Mean.R0MM, q(coarse.Mean.P), q(full.Mean.P), coarse.Biconic.FlatR0MM, full.Biconic.FlatR0MM,
				coarse.ResidualRMSUM, full.ResidualRMSUM, coarse.Pose.XMM, coarse.Pose.YMM, full.Pose.XMM, full.Pose.YMM,
				coarse.Biconic.Iterations, full.Biconic.Iterations)
		})
	}
}

func axisDiff(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 180)
	return min(d, 180-d)
}

// TestFitIsDeterministic: fits borrow their buffers from a pool, and a
// borrowed buffer changes nothing. The same scan gives the same model, bit
// for bit, fitted first, after other scans, and while others are fitted
// at the same time.
func TestFitIsDeterministic(t *testing.T) {
	scans := coarseCorneas(t)
	first := map[string]*Model{}
	for name, s := range scans {
		m, err := Fit(s, ModelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		first[name] = m
	}
	var wg sync.WaitGroup
	for range 4 {
		for name, s := range scans {
			wg.Go(func() {
				m, err := Fit(s, ModelOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				if !reflect.DeepEqual(m, first[name]) {
					t.Errorf("%s: a second fit differs from the first:\n%v\n%v", name, m, first[name])
				}
			})
		}
	}
	wg.Wait()
}
