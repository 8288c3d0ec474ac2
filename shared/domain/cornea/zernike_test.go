package cornea_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
)

// The OSA/ANSI Z80.28 table of the first 45 terms (order 8): index, n, m
// and the normalised polynomial written out as in the standard's Table 2.
func TestZernikeTable(t *testing.T) {
	s3, s5, s6, s7, s8, s10 := math.Sqrt(3), math.Sqrt(5), math.Sqrt(6), math.Sqrt(7), math.Sqrt(8), math.Sqrt(10)
	p := math.Pow
	tests := []struct {
		j, n, m int
		f       func(r, th float64) float64
	}{
		{0, 0, 0, func(r, th float64) float64 { return 1 }},
		{1, 1, -1, func(r, th float64) float64 { return 2 * r * math.Sin(th) }},
		{2, 1, 1, func(r, th float64) float64 { return 2 * r * math.Cos(th) }},
		{3, 2, -2, func(r, th float64) float64 { return s6 * r * r * math.Sin(2*th) }},
		{4, 2, 0, func(r, th float64) float64 { return s3 * (2*r*r - 1) }},
		{5, 2, 2, func(r, th float64) float64 { return s6 * r * r * math.Cos(2*th) }},
		{6, 3, -3, func(r, th float64) float64 { return s8 * p(r, 3) * math.Sin(3*th) }},
		{7, 3, -1, func(r, th float64) float64 { return s8 * (3*p(r, 3) - 2*r) * math.Sin(th) }},
		{8, 3, 1, func(r, th float64) float64 { return s8 * (3*p(r, 3) - 2*r) * math.Cos(th) }},
		{9, 3, 3, func(r, th float64) float64 { return s8 * p(r, 3) * math.Cos(3*th) }},
		{10, 4, -4, func(r, th float64) float64 { return s10 * p(r, 4) * math.Sin(4*th) }},
		{11, 4, -2, func(r, th float64) float64 { return s10 * (4*p(r, 4) - 3*r*r) * math.Sin(2*th) }},
		{12, 4, 0, func(r, th float64) float64 { return s5 * (6*p(r, 4) - 6*r*r + 1) }},
		{13, 4, 2, func(r, th float64) float64 { return s10 * (4*p(r, 4) - 3*r*r) * math.Cos(2*th) }},
		{14, 4, 4, func(r, th float64) float64 { return s10 * p(r, 4) * math.Cos(4*th) }},
		{17, 5, -1, func(r, th float64) float64 { return math.Sqrt(12) * (10*p(r, 5) - 12*p(r, 3) + 3*r) * math.Sin(th) }},
		{18, 5, 1, func(r, th float64) float64 { return math.Sqrt(12) * (10*p(r, 5) - 12*p(r, 3) + 3*r) * math.Cos(th) }},
		{24, 6, 0, func(r, th float64) float64 { return s7 * (20*p(r, 6) - 30*p(r, 4) + 12*r*r - 1) }},
		{30, 7, -3, func(r, th float64) float64 { return 4 * (21*p(r, 7) - 30*p(r, 5) + 10*p(r, 3)) * math.Sin(3*th) }},
		{40, 8, 0, func(r, th float64) float64 { return 3 * (70*p(r, 8) - 140*p(r, 6) + 90*p(r, 4) - 20*r*r + 1) }},
		{44, 8, 8, func(r, th float64) float64 { return math.Sqrt(18) * p(r, 8) * math.Cos(8*th) }},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("j=%d", tt.j), func(t *testing.T) {
			if n, m := cornea.ZernikeNM(tt.j); n != tt.n || m != tt.m {
				t.Errorf("ZernikeNM(%d) = (%d, %d), want (%d, %d)", tt.j, n, m, tt.n, tt.m)
			}
			if j := cornea.ZernikeIndex(tt.n, tt.m); j != tt.j {
				t.Errorf("ZernikeIndex(%d, %d) = %d", tt.n, tt.m, j)
			}
			for _, r := range []float64{0, 0.3, 0.7, 1} {
				for _, th := range []float64{0, 0.4, 2.5, 5} {
					got, want := cornea.ZernikeValue(tt.j, r, th), tt.f(r, th)
					if math.Abs(got-want) > 1e-12*max(1, math.Abs(want)) {
						t.Errorf("Z%d(%g, %g) = %.15g, want %.15g", tt.j, r, th, got, want)
					}
				}
			}
		})
	}
	// The whole ordering to order 8: by n, then m from -n to n in steps of 2.
	j := 0
	for n := 0; n <= 8; n++ {
		for m := -n; m <= n; m += 2 {
			if gn, gm := cornea.ZernikeNM(j); gn != n || gm != m || cornea.ZernikeIndex(n, m) != j {
				t.Errorf("j %d: got (%d, %d), want (%d, %d)", j, gn, gm, n, m)
			}
			wantNorm := math.Sqrt(2 * float64(n+1))
			if m == 0 {
				wantNorm = math.Sqrt(float64(n + 1))
			}
			if got := cornea.ZernikeNorm(n, m); math.Abs(got-wantNorm) > 1e-15 {
				t.Errorf("norm(%d, %d) = %g, want %g", n, m, got, wantNorm)
			}
			j++
		}
	}
	if j != 45 || cornea.ZernikeTerms(8) != 45 {
		t.Errorf("order 8 has %d terms, ZernikeTerms says %d", j, cornea.ZernikeTerms(8))
	}
	for _, bad := range [][2]int{{-1, 0}, {2, 1}, {2, 4}, {3, -5}} {
		if cornea.ZernikeIndex(bad[0], bad[1]) != -1 {
			t.Errorf("ZernikeIndex(%d, %d) accepted", bad[0], bad[1])
		}
	}
}

// The mean of Z_j Z_k over the unit disk is delta_jk: Gauss-Legendre in
// rho (exact for the polynomial degree) and equal steps in theta (exact for
// the trigonometric degree).
func TestZernikeOrthonormal(t *testing.T) {
	const order = 10
	nt := cornea.ZernikeTerms(order)
	// 16-point Gauss-Legendre on [0, 1] integrates rho^k exactly for k <= 31.
	nodes, weights := gaussLegendre(16)
	const nTheta = 64
	gram := make([]float64, nt*nt)
	vals := make([]float64, nt)
	for a, u := range nodes {
		rho := (u + 1) / 2
		w := weights[a] / 2 * rho // area element rho drho dtheta
		for b := range nTheta {
			th := 2 * math.Pi * float64(b) / nTheta
			for j := range nt {
				vals[j] = cornea.ZernikeValue(j, rho, th)
			}
			for j := range nt {
				for k := range nt {
					gram[j*nt+k] += w * (2 * math.Pi / nTheta) * vals[j] * vals[k] / math.Pi
				}
			}
		}
	}
	for j := range nt {
		for k := range nt {
			want := 0.0
			if j == k {
				want = 1
			}
			if math.Abs(gram[j*nt+k]-want) > 1e-12 {
				t.Errorf("<Z%d, Z%d> = %.3g, want %g", j, k, gram[j*nt+k], want)
			}
		}
	}
}

// gaussLegendre returns the nodes and weights of n-point Gauss-Legendre
// quadrature on [-1, 1], by Newton's method on P_n.
func gaussLegendre(n int) (x, w []float64) {
	for i := range n {
		z := math.Cos(math.Pi * (float64(i) + 0.75) / (float64(n) + 0.5))
		var dp float64
		for range 100 {
			p0, p1 := 1.0, z
			for k := 2; k <= n; k++ {
				p0, p1 = p1, ((2*float64(k)-1)*z*p1-(float64(k)-1)*p0)/float64(k)
			}
			dp = float64(n) * (z*p1 - p0) / (z*z - 1)
			dz := p1 / dp
			z -= dz
			if math.Abs(dz) < 1e-16 {
				break
			}
		}
		x = append(x, z)
		w = append(w, 2/((1-z*z)*dp*dp))
	}
	return x, w
}

// zernikeSurface samples sum_j c_j Z_j (coefficients in microns, disk of
// radius rFit) on the reference grid, with optional noise and lid.
func zernikeSurface(coefUM map[int]float64, rFit, noiseUM float64, lidY float64, seed uint64) *topo.Surface {
	rng := rand.New(rand.NewPCG(seed, 9))
	s := &topo.Surface{Eye: topo.OD}
	for i := -70; i <= 70; i++ {
		for k := -70; k <= 70; k++ {
			x, y := float64(k)/10, float64(i)/10
			if x*x+y*y > rFit*rFit*1.0001 || y > lidY {
				continue
			}
			rho, th := math.Hypot(x, y)/rFit, math.Atan2(y, x)
			var z float64
			for j, c := range coefUM {
				z += c * cornea.ZernikeValue(j, min(rho, 1), th)
			}
			z += noiseUM * rng.NormFloat64()
			s.X, s.Y, s.Z = append(s.X, x), append(s.Y, y), append(s.Z, z/1000)
		}
	}
	return s
}

func TestFitZernikeRecovers(t *testing.T) {
	truth := map[int]float64{0: 500, 1: -3, 2: 4, 3: 12, 4: 600, 5: -25, 7: 2.5, 8: -1.5, 12: -3.3, 24: 0.8, 31: 0.4, 40: -0.25, 44: 0.1}
	tests := []struct {
		name    string
		s       *topo.Surface
		opts    cornea.ZernikeOptions
		tol     float64
		maxRMS  float64
		minCovr float64
	}{
		{"exact, 8 mm", zernikeSurface(truth, 4, 0, 99, 1), cornea.ZernikeOptions{}, 1e-6, 1e-3, 1},
		{"exact, order 12", zernikeSurface(truth, 4, 0, 99, 1), cornea.ZernikeOptions{Order: 12}, 1e-6, 1e-3, 1},
		{"exact, 6 mm, lid at 2 mm", zernikeSurface(truth, 3, 0, 2, 1), cornea.ZernikeOptions{ZoneDiameterMM: 6}, 1e-5, 1e-3, 0.8},
		{"2 micron noise", zernikeSurface(truth, 4, 2, 99, 2), cornea.ZernikeOptions{}, 0.2, 2.1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, err := cornea.FitZernike(tt.s, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for j, got := range z.CoefficientsUM {
				if want := truth[j]; math.Abs(got-want) > tt.tol {
					n, m := cornea.ZernikeNM(j)
					t.Errorf("Z%d (n %d, m %d) = %.9f microns, want %g", j, n, m, got, want)
				}
			}
			if z.ResidualRMSUM > tt.maxRMS || z.Coverage < tt.minCovr || z.Points < 1000 {
				t.Errorf("residual %.3g microns, coverage %.3f, %d points", z.ResidualRMSUM, z.Coverage, z.Points)
			}
			if got := z.Coefficient(2, 0); got != z.CoefficientsUM[4] {
				t.Errorf("Coefficient(2, 0) = %g", got)
			}
			// Evaluating the fit reproduces the surface.
			for _, pt := range [][2]float64{{0, 0}, {1, -1.5}, {-2, 0.5}} {
				h, err := z.HeightUM(pt[0], pt[1])
				if err != nil {
					t.Fatal(err)
				}
				rFit := z.ZoneDiameterMM / 2
				var want float64
				for j, c := range truth {
					want += c * cornea.ZernikeValue(j, math.Hypot(pt[0], pt[1])/rFit, math.Atan2(pt[1], pt[0]))
				}
				if math.Abs(h-want) > 20*tt.tol+1e-6 {
					t.Errorf("HeightUM(%g, %g) = %.6f, want %.6f", pt[0], pt[1], h, want)
				}
			}
		})
	}
}

func TestFitZernikeRefuses(t *testing.T) {
	ref := topotest.Reference().Surface()
	half := topotest.Reference()
	half.Lid, half.LidYMM = true, -0.5
	tests := []struct {
		name string
		s    *topo.Surface
		opts cornea.ZernikeOptions
		msg  string
	}{
		{"order too high", ref, cornea.ZernikeOptions{Order: 13}, "must be from 1 to 12"},
		{"negative order", ref, cornea.ZernikeOptions{Order: -1}, "must be from 1 to 12"},
		{"zone beyond data", ref, cornea.ZernikeOptions{ZoneDiameterMM: 16}, "no valid data beyond 7.0 mm from the apex; the 16 mm zone needs data to 8.0 mm"},
		{"half the zone", half.Surface(), cornea.ZernikeOptions{}, "valid data cover 49% of the 8 mm zone"},
		{"nil", nil, cornea.ZernikeOptions{}, "surface is nil"},
		{"bad zone", ref, cornea.ZernikeOptions{ZoneDiameterMM: math.NaN()}, "must be more than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cornea.FitZernike(tt.s, tt.opts)
			if !errs.Is(errs.Invalid, err) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Errorf("err = %v\nwant invalid containing %q", err, tt.msg)
			}
		})
	}
	z, err := cornea.FitZernike(ref, cornea.ZernikeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z.HeightUM(4.5, 0); !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "outside the 8 mm Zernike zone") {
		t.Errorf("HeightUM outside: %v", err)
	}
}

// A rotationally symmetric cornea has only m = 0 terms; a left eye in the
// nasal frame is expanded in the examiner's view, like the right eye.
func TestFitZernikeSymmetry(t *testing.T) {
	c := topotest.Reference()
	c.R0YMM = 7.6 // with-the-rule toricity: Z5 (cos 2 theta) negative for depth heights
	od, err := cornea.FitZernike(c.Surface(), cornea.ZernikeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Eye = topo.OS
	os, err := c.Surface().Nasal()
	if err != nil {
		t.Fatal(err)
	}
	osFit, err := cornea.FitZernike(os, cornea.ZernikeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for j := range od.CoefficientsUM {
		if math.Abs(od.CoefficientsUM[j]-osFit.CoefficientsUM[j]) > 1e-9 {
			t.Errorf("Z%d: OD %g, OS in the nasal frame %g", j, od.CoefficientsUM[j], osFit.CoefficientsUM[j])
		}
		if _, m := cornea.ZernikeNM(j); (m < 0 || m%2 != 0) && math.Abs(od.CoefficientsUM[j]) > 1e-6 {
			t.Errorf("Z%d = %g, want 0 (sine or odd term) for a biconic on the axes", j, od.CoefficientsUM[j])
		}
	}
	if od.CoefficientsUM[5] >= -1 || math.Abs(od.CoefficientsUM[3]) > 1e-6 {
		t.Errorf("Z3 %g, Z5 %g: want Z3 = 0 and Z5 clearly negative", od.CoefficientsUM[3], od.CoefficientsUM[5])
	}
}

var zernikeSink *cornea.Zernike

func BenchmarkZernike8(b *testing.B) {
	c := topotest.Reference()
	c.NoiseUM = 2
	s := c.Surface()
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if zernikeSink, err = cornea.FitZernike(s, cornea.ZernikeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
