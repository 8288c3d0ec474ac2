package cornea_test

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
)

func TestFitConicRecovers(t *testing.T) {
	noisy := func(c topotest.Cornea, um float64, seed uint64) topotest.Cornea {
		c.NoiseUM, c.Seed = um, seed
		return c
	}
	ref := topotest.Reference()
	lid := ref
	lid.Lid, lid.LidYMM = true, 3.5
	lid2 := noisy(ref, 2, 7)
	lid2.Lid, lid2.LidYMM = true, 2
	steep := ref
	steep.R0MM, steep.P = 7.2, 0.6
	oblate := ref
	oblate.P = 1.2
	decentred := ref
	decentred.ApexXMM, decentred.ApexYMM, decentred.ApexZMM = 0.3, -0.2, 0.01
	raised := ref
	raised.ApexZMM = -0.005

	tests := []struct {
		name       string
		c          topotest.Cornea
		opts       cornea.ConicOptions
		wantR0     float64
		wantP      float64
		tolR0      float64
		tolP       float64
		maxRMSUM   float64
		minCover   float64
		checkApex  bool
		wantApexXY [2]float64
	}{
		{name: "noise-free", c: ref, wantR0: 7.8, wantP: 0.75, tolR0: 1e-6, tolP: 1e-6, maxRMSUM: 1e-3, minCover: 1},
		{name: "noise-free 10 mm zone", c: ref, opts: cornea.ConicOptions{ZoneDiameterMM: 10}, wantR0: 7.8, wantP: 0.75, tolR0: 1e-6, tolP: 1e-6, maxRMSUM: 1e-3, minCover: 1},
		{name: "noise-free steep", c: steep, wantR0: 7.2, wantP: 0.6, tolR0: 1e-6, tolP: 1e-6, maxRMSUM: 1e-3, minCover: 1},
		{name: "noise-free oblate", c: oblate, wantR0: 7.8, wantP: 1.2, tolR0: 1e-6, tolP: 1e-6, maxRMSUM: 1e-3, minCover: 1},
		{name: "apex below z=0", c: raised, wantR0: 7.8, wantP: 0.75, tolR0: 1e-6, tolP: 1e-6, maxRMSUM: 1e-3, minCover: 1},
		{name: "2 micron noise, seed 1", c: noisy(ref, 2, 1), wantR0: 7.8, wantP: 0.75, tolR0: 0.01, tolP: 0.02, maxRMSUM: 2.2, minCover: 1},
		{name: "2 micron noise, seed 2", c: noisy(ref, 2, 2), wantR0: 7.8, wantP: 0.75, tolR0: 0.01, tolP: 0.02, maxRMSUM: 2.2, minCover: 1},
		{name: "2 micron noise, seed 3, 10 mm", c: noisy(ref, 2, 3), opts: cornea.ConicOptions{ZoneDiameterMM: 10}, wantR0: 7.8, wantP: 0.75, tolR0: 0.01, tolP: 0.02, maxRMSUM: 2.2, minCover: 1},
		{name: "5 micron noise", c: noisy(ref, 5, 4), wantR0: 7.8, wantP: 0.75, tolR0: 0.02, tolP: 0.05, maxRMSUM: 5.3, minCover: 1},
		{name: "eyelid above 3.5 mm", c: lid, wantR0: 7.8, wantP: 0.75, tolR0: 1e-6, tolP: 1e-6, maxRMSUM: 1e-3, minCover: 0.95},
		{name: "eyelid above 2 mm, noisy", c: lid2, wantR0: 7.8, wantP: 0.75, tolR0: 0.015, tolP: 0.03, maxRMSUM: 2.2, minCover: 0.75},
		{name: "decentred apex", c: decentred, opts: cornea.ConicOptions{FitDecentration: true}, wantR0: 7.8, wantP: 0.75, tolR0: 1e-6, tolP: 1e-6,
			maxRMSUM: 1e-3, minCover: 1, checkApex: true, wantApexXY: [2]float64{0.3, -0.2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cornea.FitConic(tt.c.Surface(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !near(c.R0MM, tt.wantR0, tt.tolR0) || !near(c.P, tt.wantP, tt.tolP) {
				t.Errorf("R0 %.7f p %.7f, want %g +- %g, %g +- %g", c.R0MM, c.P, tt.wantR0, tt.tolR0, tt.wantP, tt.tolP)
			}
			if c.ResidualRMSUM > tt.maxRMSUM {
				t.Errorf("residual RMS %.4f microns > %g", c.ResidualRMSUM, tt.maxRMSUM)
			}
			if c.Coverage < tt.minCover {
				t.Errorf("coverage %.3f < %g", c.Coverage, tt.minCover)
			}
			zone := tt.opts.ZoneDiameterMM
			if zone == 0 {
				zone = cornea.DefaultZoneDiameterMM
			}
			if c.ZoneDiameterMM != zone || !near(c.MaxRadiusMM, zone/2, 0.01) || c.Points < 1000 {
				t.Errorf("zone %g, max radius %g, %d points", c.ZoneDiameterMM, c.MaxRadiusMM, c.Points)
			}
			if tt.checkApex && (!near(c.ApexXMM, tt.wantApexXY[0], 1e-6) || !near(c.ApexYMM, tt.wantApexXY[1], 1e-6) || !near(c.ApexZMM, tt.c.ApexZMM, 1e-8)) {
				t.Errorf("apex %g %g %g", c.ApexXMM, c.ApexYMM, c.ApexZMM)
			}
		})
	}
}

func TestFitConicToric(t *testing.T) {
	// K 7.80 / 7.60 mm, both p 0.75: the symmetric fit is their mean, and
	// the residual shows the toricity (about 32 microns of sag difference at y = 4).
	c := topotest.Reference()
	c.R0YMM = 7.6
	fit, err := cornea.FitConic(c.Surface(), cornea.ConicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fit.R0MM <= 7.6 || fit.R0MM >= 7.8 || !near(fit.R0MM, 7.7, 0.03) {
		t.Errorf("toric mean R0 = %.4f, want about 7.70", fit.R0MM)
	}
	if fit.ResidualRMSUM < 5 {
		t.Errorf("residual RMS %.2f microns hides the toricity", fit.ResidualRMSUM)
	}
}

func TestFitConicRefuses(t *testing.T) {
	small := topotest.Reference()
	small.RadiusMM = 3.1
	half := topotest.Reference()
	half.Lid, half.LidYMM = true, -0.5
	sparse := topotest.Reference()
	sparse.StepMM = 1.5
	tests := []struct {
		name string
		s    *topo.Surface
		opts cornea.ConicOptions
		msg  string
	}{
		{"data end at 3.1 mm", small.Surface(), cornea.ConicOptions{}, "no valid data beyond 3.1 mm from the apex; the 8 mm zone needs data to 4.0 mm"},
		{"10 mm zone on a 7 mm scan", topotest.Reference().Surface(), cornea.ConicOptions{ZoneDiameterMM: 16}, "the 16 mm zone needs data to 8.0 mm"},
		{"lower half only", half.Surface(), cornea.ConicOptions{}, "valid data cover 49% of the 8 mm zone; at least 60% is needed; no data between 2.8 mm and the zone edge at 0-180 degrees (TABO)"},
		{"too few points", sparse.Surface(), cornea.ConicOptions{}, "only 21 valid points within the 8 mm zone; at least 50 are needed"},
		{"empty", &topo.Surface{}, cornea.ConicOptions{}, "only 0 valid points"},
		{"bad zone", topotest.Reference().Surface(), cornea.ConicOptions{ZoneDiameterMM: -1}, "must be more than 0"},
		{"bad coverage", topotest.Reference().Surface(), cornea.ConicOptions{MinCoverage: 2}, "must be more than 0 and at most 1"},
		{"invalid surface", &topo.Surface{X: []float64{1}}, cornea.ConicOptions{}, "differ in length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cornea.FitConic(tt.s, tt.opts)
			if !errs.Is(errs.Invalid, err) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Errorf("err = %v\nwant invalid containing %q", err, tt.msg)
			}
		})
	}
}

func TestFitConicNotAConic(t *testing.T) {
	// A flat plane and random heights must fail cleanly or fit something
	// finite, never panic or return NaN.
	plane := topotest.Reference().Surface()
	for i := range plane.Z {
		plane.Z[i] = 0
	}
	wave := topotest.Reference().Surface()
	for i := range wave.Z {
		wave.Z[i] = 0.5 * math.Sin(7*wave.X[i]) * math.Cos(5*wave.Y[i])
	}
	for name, s := range map[string]*topo.Surface{"plane": plane, "wave": wave} {
		t.Run(name, func(t *testing.T) {
			c, err := cornea.FitConic(s, cornea.ConicOptions{})
			if err != nil {
				if !errs.Is(errs.Invalid, err) {
					t.Errorf("err = %v, want invalid", err)
				}
				return
			}
			if math.IsNaN(c.R0MM) || math.IsNaN(c.P) || math.IsNaN(c.ResidualRMSUM) || !(c.R0MM > 0) {
				t.Errorf("fit = %+v", c)
			}
		})
	}
}

func TestBestFitSphere(t *testing.T) {
	// A sphere is recovered exactly, with its depth offset.
	sp := topotest.Reference()
	sp.R0MM, sp.P, sp.ApexZMM = 8.4, 1, 0.02
	got, err := cornea.BestFitSphere(sp.Surface(), 8)
	if err != nil {
		t.Fatal(err)
	}
	if !near(got.R0MM, 8.4, 1e-7) || got.P != 1 || !near(got.ApexZMM, 0.02, 1e-9) || got.ResidualRMSUM > 1e-3 {
		t.Errorf("sphere fit = %+v", got)
	}
	// The reference cornea's BFS over 8 mm is flatter than R0 (prolate), and
	// must reproduce an independent least squares solution: for a fixed R
	// the best offset is the mean residual, so scan R finely.
	ref := topotest.Reference().Surface()
	bfs, err := cornea.BestFitSphere(ref, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Golden-section search on R: the SSR is unimodal around the minimum.
	lo, hi := 7.5, 8.5
	g := (math.Sqrt(5) - 1) / 2
	for hi-lo > 1e-7 {
		a, b := hi-g*(hi-lo), lo+g*(hi-lo)
		if sphereSSR(ref, a, 4) < sphereSSR(ref, b, 4) {
			hi = b
		} else {
			lo = a
		}
	}
	best := (lo + hi) / 2
	if !near(bfs.R0MM, best, 1e-6) || bfs.R0MM <= 7.8 || bfs.ZoneDiameterMM != 8 {
		t.Errorf("BFS R = %.6f, brute force %.6f", bfs.R0MM, best)
	}
	if _, err := cornea.BestFitSphere(ref, 20); !errs.Is(errs.Invalid, err) {
		t.Errorf("BFS over a 20 mm zone of a 14 mm scan: %v", err)
	}
}

func sphereSSR(s *topo.Surface, r, zr float64) float64 {
	var res []float64
	var mean float64
	for i := range s.X {
		u := s.X[i]*s.X[i] + s.Y[i]*s.Y[i]
		if u > zr*zr {
			continue
		}
		d := s.Z[i] - u/(r+math.Sqrt(r*r-u))
		res = append(res, d)
		mean += d
	}
	mean /= float64(len(res))
	var ssr float64
	for _, d := range res {
		ssr += (d - mean) * (d - mean)
	}
	return ssr
}

func TestFitSampleFile(t *testing.T) {
	data, err := os.ReadFile("../topo/testdata/sample-od.csv")
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := topo.Parse(data, topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cornea.FitConic(s, cornea.ConicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !near(c.R0MM, 7.8, 0.01) || !near(c.P, 0.75, 0.02) || !near(c.ResidualRMSUM, 1, 0.1) {
		t.Errorf("sample fit R0 %.4f p %.4f RMS %.3f", c.R0MM, c.P, c.ResidualRMSUM)
	}
}

var sink cornea.Conic

func BenchmarkFitConic(b *testing.B) {
	c := topotest.Reference()
	c.NoiseUM = 2
	s := c.Surface()
	for _, bc := range []struct {
		name string
		opts cornea.ConicOptions
	}{
		{"zone8", cornea.ConicOptions{}},
		{"zone8-decentration", cornea.ConicOptions{FitDecentration: true}},
		{"zone10", cornea.ConicOptions{ZoneDiameterMM: 10}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if sink, err = cornea.FitConic(s, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
