package cornea

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/topo"
)

// Defaults for ConicOptions.
const (
	// DefaultZoneDiameterMM is the zone fitted when none is given: 8 mm, the
	// handbook's typical best-fit-sphere zone, the chord where ortho-k lands,
	// and the zone devices usually quote asphericity over (Pentacam's "Q 8
	// mm"). Sag at wider chords (10 mm and beyond) is then an extrapolation
	// of the conic; fit a wider zone when the scan covers it.
	DefaultZoneDiameterMM = 8.0
	// DefaultMinCoverage is the smallest fraction of the zone area that
	// must hold data. An upper lid cropping the map at y = 2 mm still leaves
	// 80% of an 8 mm zone.
	DefaultMinCoverage = 0.6
	// DefaultMinPoints is the fewest points in the zone a fit accepts.
	DefaultMinPoints = 50
)

// ConicOptions tunes FitConic. The zero value uses the defaults.
type ConicOptions struct {
	// ZoneDiameterMM is the diameter of the zone fitted, centred on the
	// surface's x = y = 0 (default DefaultZoneDiameterMM). Data must reach
	// the zone edge (within 5% of its radius, at most 0.2 mm).
	ZoneDiameterMM float64
	// FitDecentration frees the apex position in x and y as well as in z.
	// Leave it off for maps already centred on the apex; turn it on for
	// maps centred on the instrument axis.
	FitDecentration bool
	// MinCoverage is the smallest fraction of the zone area that must hold
	// data (default DefaultMinCoverage).
	MinCoverage float64
	// MinPoints is the fewest points in the zone (default DefaultMinPoints).
	MinPoints int
}

func (o ConicOptions) withDefaults() ConicOptions {
	if o.ZoneDiameterMM == 0 {
		o.ZoneDiameterMM = DefaultZoneDiameterMM
	}
	if o.MinCoverage == 0 {
		o.MinCoverage = DefaultMinCoverage
	}
	if o.MinPoints == 0 {
		o.MinPoints = DefaultMinPoints
	}
	return o
}

// FitConic fits a rotationally symmetric conic to the surface's points
// inside the zone, by least squares on the heights: z = z0 + conic(r),
// with the apex depth z0 always free and the apex x, y free when
// opts.FitDecentration is set.
//
// The first estimate comes from the linearisation r^2 = 2*R0*z - p*z^2 (a
// linear least squares problem, solved with gonum); it is biased when the
// heights are noisy because the noise enters both sides. Levenberg-Marquardt
// on the height residuals then removes that bias. A toric cornea yields the
// mean conic of its meridians (the toric fit comes later) with a residual
// RMS that shows the toricity.
//
// The fit refuses, with an errs.Invalid error saying what is missing, when
// the zone has too few points, data do not reach the zone edge, or too
// little of the zone area holds data.
func FitConic(s *topo.Surface, opts ConicOptions) (Conic, error) {
	return fit("cornea.FitConic", s, opts.withDefaults(), true)
}

// BestFitSphere fits a sphere (a conic with p = 1) to the surface's points
// inside a zone of the given diameter (mm; 0 means DefaultZoneDiameterMM),
// by least squares on the heights with a free apex depth. It applies the
// same data requirements as FitConic with the default options.
func BestFitSphere(s *topo.Surface, zoneDiameterMM float64) (Conic, error) {
	return fit("cornea.BestFitSphere", s, ConicOptions{ZoneDiameterMM: zoneDiameterMM}.withDefaults(), false)
}

func fit(op string, s *topo.Surface, o ConicOptions, freeP bool) (Conic, error) {
	if s == nil || len(s.X) != len(s.Y) || len(s.X) != len(s.Z) {
		return Conic{}, errs.Ef(op, errs.Invalid, "surface is nil or its coordinate slices differ in length")
	}
	if !(o.ZoneDiameterMM > 0 && o.ZoneDiameterMM <= 2*topo.MaxAbsXYMM) {
		return Conic{}, errs.Field(op, "zoneDiameterMM", "must be more than 0 and at most %g mm", 2*topo.MaxAbsXYMM)
	}
	if !(o.MinCoverage > 0 && o.MinCoverage <= 1) {
		return Conic{}, errs.Field(op, "minCoverage", "must be more than 0 and at most 1")
	}
	zr := o.ZoneDiameterMM / 2

	// Points in the zone (a NaN or infinite x or y is never in it), and the
	// zone's coverage.
	var n int
	for i := range s.X {
		if s.X[i]*s.X[i]+s.Y[i]*s.Y[i] <= zr*zr {
			if math.IsNaN(s.Z[i]) || math.IsInf(s.Z[i], 0) {
				return Conic{}, errs.Ef(op, errs.Invalid, "point %d has no finite height", i)
			}
			n++
		}
	}
	if n < o.MinPoints {
		return Conic{}, errs.Ef(op, errs.Invalid, "only %d valid points within the %s zone; at least %d are needed",
			n, mmString(o.ZoneDiameterMM), o.MinPoints)
	}
	p := &problem{x: make([]float64, 0, n), y: make([]float64, 0, n), z: make([]float64, 0, n)}
	var cov coverage
	cov.init(zr)
	for i := range s.X {
		x, y := s.X[i], s.Y[i]
		if x*x+y*y <= zr*zr {
			p.x, p.y, p.z = append(p.x, x), append(p.y, y), append(p.z, s.Z[i])
			cov.add(x, y)
		}
	}
	if err := cov.check(op, o); err != nil {
		return Conic{}, err
	}

	p.free = [nParams]bool{iR0: true, iP: freeP, iZ0: true, iX0: o.FitDecentration, iY0: o.FitDecentration}
	theta, err := p.initial()
	if err != nil {
		return Conic{}, errs.E(op, errs.Invalid, err)
	}
	theta, ssr, iters, err := p.levenbergMarquardt(theta)
	if err != nil {
		return Conic{}, errs.E(op, errs.Invalid, err)
	}
	return Conic{
		R0MM: theta[iR0], P: theta[iP],
		ApexXMM: theta[iX0], ApexYMM: theta[iY0], ApexZMM: theta[iZ0],
		ZoneDiameterMM: o.ZoneDiameterMM,
		MaxRadiusMM:    cov.maxR,
		Points:         len(p.x),
		Coverage:       cov.fraction(),
		ResidualRMSUM:  math.Sqrt(ssr/float64(len(p.x))) * 1000,
		Iterations:     iters,
	}, nil
}

// Coverage is counted in polar bins of equal area: coverageRings rings
// (boundaries at zr*sqrt(k/coverageRings)) by coverageSectors sectors.
const (
	coverageRings   = 8
	coverageSectors = 24
)

type coverage struct {
	zr, zr2 float64
	maxR2   float64
	maxR    float64
	bins    [coverageRings][coverageSectors]bool
}

func (c *coverage) init(zr float64) { c.zr, c.zr2 = zr, zr*zr }

func (c *coverage) add(x, y float64) {
	r2 := x*x + y*y
	c.maxR2 = max(c.maxR2, r2)
	ring := min(int(r2/c.zr2*coverageRings), coverageRings-1)
	sector := 0
	if r2 > 0 {
		sector = sectorOf(diamondAngle(x, y))
	}
	c.bins[ring][sector] = true
}

// diamondAngle maps a direction to [0, 4), increasing with its TABO angle
// (0 at +x, 1 at +y, 2 at -x, 3 at -y): a cheap, exact stand-in for atan2
// when only comparisons between angles are needed.
func diamondAngle(x, y float64) float64 {
	if y >= 0 {
		if x >= 0 {
			return y / (x + y)
		}
		return 1 - x/(y-x)
	}
	if x < 0 {
		return 2 - y/(-x-y)
	}
	return 3 + x/(x-y)
}

// sectorStarts holds the diamond angle of each sector's first boundary:
// sector k spans TABO angles [k, k+1) * 360/coverageSectors degrees.
var sectorStarts = func() (t [coverageSectors]float64) {
	for k := range t {
		a := float64(k) * 2 * math.Pi / coverageSectors
		t[k] = diamondAngle(math.Cos(a), math.Sin(a))
	}
	t[0] = 0
	return t
}()

func sectorOf(d float64) int {
	lo, hi := 0, coverageSectors // sectorStarts[lo] <= d < sectorStarts[hi]
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if sectorStarts[mid] <= d {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func (c *coverage) fraction() float64 {
	var k int
	for r := range c.bins {
		for _, b := range c.bins[r] {
			if b {
				k++
			}
		}
	}
	return float64(k) / (coverageRings * coverageSectors)
}

// check refuses data that do not reach the zone edge or cover too little of
// the zone, saying what is missing.
func (c *coverage) check(op string, o ConicOptions) error {
	c.maxR = math.Sqrt(c.maxR2)
	need := c.zr - min(0.05*c.zr, 0.2)
	zone := mmString(o.ZoneDiameterMM)
	if c.maxR < need {
		return errs.Ef(op, errs.Invalid, "no valid data beyond %.1f mm from the apex; the %s zone needs data to %.1f mm",
			c.maxR, zone, c.zr)
	}
	if f := c.fraction(); f < o.MinCoverage {
		msg := fmt.Sprintf("valid data cover %.0f%% of the %s zone; at least %.0f%% is needed", 100*f, zone, 100*o.MinCoverage)
		if gaps := c.outerGaps(); gaps != "" {
			msg += "; no data " + gaps
		}
		return errs.E(op, errs.Invalid, errors.New(msg))
	}
	return nil
}

// outerGaps describes the empty sectors of the outer half of the zone
// area as TABO angle ranges (counterclockwise from the examiner's right).
func (c *coverage) outerGaps() string {
	var empty [coverageSectors]bool
	any := false
	for s := range coverageSectors {
		empty[s] = true
		for r := coverageRings / 2; r < coverageRings; r++ {
			if c.bins[r][s] {
				empty[s] = false
				break
			}
		}
		any = any || empty[s]
	}
	if !any {
		return ""
	}
	step := 360 / coverageSectors // sector s spans TABO angles s*step to (s+1)*step
	var ranges []string
	start := -1
	// Begin the scan at a non-empty sector so runs that wrap stay whole.
	first := 0
	for first < coverageSectors && empty[first] {
		first++
	}
	if first == coverageSectors {
		return fmt.Sprintf("beyond %.1f mm from the apex in any direction", c.zr*math.Sqrt(0.5))
	}
	for k := 1; k <= coverageSectors; k++ {
		s := (first + k) % coverageSectors
		if empty[s] && start < 0 {
			start = s
		}
		if !empty[s] && start >= 0 {
			from, to := start*step, s*step
			if to == 0 {
				to = 360
			}
			ranges = append(ranges, fmt.Sprintf("%d-%d", from, to))
			start = -1
		}
	}
	return fmt.Sprintf("between %.1f mm and the zone edge at %s degrees (TABO)", c.zr*math.Sqrt(0.5), strings.Join(ranges, ", "))
}

func mmString(d float64) string { return fmt.Sprintf("%g mm", d) }

// Parameters of the height model z = z0 + conic(R0, p; (x-x0)^2 + (y-y0)^2).
const (
	iR0 = iota
	iP
	iZ0
	iX0
	iY0
	nParams
)

type problem struct {
	x, y, z []float64
	free    [nParams]bool
}

// initial solves the linearised model
//
//	x^2 + y^2 = a + b*z + c*z^2 [+ d*x + e*y]
//
// which is exact for a conic with apex offset z0 and decentration
// (d/2, e/2) up to a constant absorbed by a: c = -p, b = 2*R0 + 2*p*z0,
// a = -2*R0*z0 - p*z0^2 (+ x0^2 + y0^2). For a sphere fit p is fixed at 1.
func (p *problem) initial() ([nParams]float64, error) {
	// Unknowns, in order: a, b, [c], [d, e].
	cols := 2
	if p.free[iP] {
		cols++
	}
	if p.free[iX0] {
		cols += 2
	}
	ata := make([]float64, cols*cols)
	atb := make([]float64, cols)
	row := make([]float64, cols)
	for i := range p.x {
		x, y, z := p.x[i], p.y[i], p.z[i]
		rhs := x*x + y*y
		row[0], row[1] = 1, z
		k := 2
		if p.free[iP] {
			row[k] = z * z
			k++
		} else {
			rhs += z * z // p = 1: move -p*z^2 to the left-hand side
		}
		if p.free[iX0] {
			row[k], row[k+1] = x, y
		}
		for r := range cols {
			atb[r] += row[r] * rhs
			for c := r; c < cols; c++ {
				ata[r*cols+c] += row[r] * row[c]
			}
		}
	}
	sol, err := solveSym(cols, ata, atb)
	if err != nil {
		return [nParams]float64{}, fmt.Errorf("surface does not determine a conic: %w", err)
	}
	var th [nParams]float64
	a, b := sol[0], sol[1]
	th[iP] = 1
	k := 2
	if p.free[iP] {
		th[iP] = -sol[2]
		k++
	}
	if p.free[iX0] {
		th[iX0], th[iY0] = sol[k]/2, sol[k+1]/2
		a -= th[iX0]*th[iX0] + th[iY0]*th[iY0]
	}
	pp := th[iP]
	if d := b*b + 4*pp*a; d >= 0 && b > 0 {
		th[iZ0] = -2 * a / (b + math.Sqrt(d)) // the root near the apex
	}
	th[iR0] = b/2 - pp*th[iZ0]
	if !(th[iR0] > 0) || math.IsNaN(pp) || math.IsInf(pp, 0) || math.Abs(th[iZ0]) > topo.MaxAbsZMM {
		// A wild linear estimate (very noisy data): start from a sphere through the data instead.
		th = [nParams]float64{iR0: 7.8, iP: 1}
	}
	return th, nil
}

// eval computes the sum of squared residuals at th and, when jtj is not nil,
// the Gauss-Newton normal equations J'J (upper triangle, all parameters,
// row major nParams by nParams) and J'r; rows and columns of fixed
// parameters are ignored by the caller. It reports false if th leaves the
// conic's domain at some point. This loop is the cost of a fit: it is
// written out by hand, without branches on the free parameters.
func (p *problem) eval(th *[nParams]float64, jtj *[nParams * nParams]float64, jtr *[nParams]float64) (float64, bool) {
	r0, pp, z0, x0, y0 := th[iR0], th[iP], th[iZ0], th[iX0], th[iY0]
	if !(r0 > 0) {
		return 0, false
	}
	r02 := r0 * r0
	xs, ys, zs := p.x, p.y[:len(p.x)], p.z[:len(p.x)]
	var ssr float64
	if jtj == nil {
		for i := range xs {
			dx, dy := xs[i]-x0, ys[i]-y0
			u := dx*dx + dy*dy
			disc := r02 - pp*u
			if disc <= 0 {
				return 0, false
			}
			res := zs[i] - z0 - u/(r0+math.Sqrt(disc))
			ssr += res * res
		}
		return ssr, true
	}
	decentred := p.free[iX0] || p.free[iY0]
	// Sums of the products of the derivatives gR, gP, gZ (= 1), gX, gY.
	var sRR, sRP, sRZ, sPP, sPZ, sZZ, sRr, sPr, sZr float64
	var sRX, sRY, sPX, sPY, sZX, sZY, sXX, sXY, sYY, sXr, sYr float64
	for i := range xs {
		dx, dy := xs[i]-x0, ys[i]-y0
		u := dx*dx + dy*dy
		disc := r02 - pp*u
		if disc <= 0 {
			return 0, false
		}
		sq := math.Sqrt(disc)
		inv := 1 / (r0 + sq)
		isq := 1 / sq
		f := u * inv
		res := zs[i] - z0 - f
		ssr += res * res
		fd2 := f * inv // u / (R0 + sq)^2
		gR := -fd2 * (1 + r0*isq)
		gP := 0.5 * fd2 * u * isq
		sRR += gR * gR
		sRP += gR * gP
		sRZ += gR
		sPP += gP * gP
		sPZ += gP
		sZZ++
		sRr += gR * res
		sPr += gP * res
		sZr += res
		if decentred {
			fu := -2 * (inv + 0.5*pp*fd2*isq)
			gX, gY := fu*dx, fu*dy
			sRX += gR * gX
			sRY += gR * gY
			sPX += gP * gX
			sPY += gP * gY
			sZX += gX
			sZY += gY
			sXX += gX * gX
			sXY += gX * gY
			sYY += gY * gY
			sXr += gX * res
			sYr += gY * res
		}
	}
	const n = nParams
	*jtj = [n * n]float64{
		iR0*n + iR0: sRR, iR0*n + iP: sRP, iR0*n + iZ0: sRZ, iR0*n + iX0: sRX, iR0*n + iY0: sRY,
		iP*n + iP: sPP, iP*n + iZ0: sPZ, iP*n + iX0: sPX, iP*n + iY0: sPY,
		iZ0*n + iZ0: sZZ, iZ0*n + iX0: sZX, iZ0*n + iY0: sZY,
		iX0*n + iX0: sXX, iX0*n + iY0: sXY,
		iY0*n + iY0: sYY,
	}
	*jtr = [n]float64{iR0: sRr, iP: sPr, iZ0: sZr, iX0: sXr, iY0: sYr}
	return ssr, true
}

// levenbergMarquardt refines th on the height residuals. It returns the
// parameters, their sum of squared residuals and the iterations taken.
func (p *problem) levenbergMarquardt(th [nParams]float64) ([nParams]float64, float64, int, error) {
	const (
		maxIter = 100
		relTol  = 1e-12
	)
	var idx []int
	for a := range nParams {
		if p.free[a] {
			idx = append(idx, a)
		}
	}
	k := len(idx)
	var jtj [nParams * nParams]float64
	var jtr [nParams]float64
	ssr, ok := p.eval(&th, &jtj, &jtr)
	if !ok {
		// The linear estimate puts some point outside the conic: start from
		// a sphere large enough to hold every point.
		th = [nParams]float64{iR0: 7.8, iP: 1, iX0: th[iX0], iY0: th[iY0]}
		for ; !ok && th[iR0] < 1e3; th[iR0] *= 2 {
			ssr, ok = p.eval(&th, &jtj, &jtr)
		}
		if !ok {
			return th, 0, 0, fmt.Errorf("surface does not fit a conic")
		}
	}
	a := make([]float64, k*k)
	b := make([]float64, k)
	lambda := 1e-3
	iter := 0
	for iter < maxIter {
		iter++
		improved := false
		for !improved {
			for r := range k {
				b[r] = jtr[idx[r]]
				for c := r; c < k; c++ {
					a[r*k+c] = jtj[idx[r]*nParams+idx[c]]
				}
				a[r*k+r] *= 1 + lambda
			}
			step, err := solveSym(k, a, b)
			if err != nil {
				return th, 0, iter, fmt.Errorf("surface does not determine a conic: %w", err)
			}
			// Stop when the step is negligible or promises a negligible
			// decrease (J'r . step is the Gauss-Newton predicted decrease).
			trial := th
			small := true
			var predicted float64
			for r, ai := range idx {
				trial[ai] += step[r]
				predicted += step[r] * b[r]
				if math.Abs(step[r]) > 1e-12*(1+math.Abs(th[ai])) {
					small = false
				}
			}
			if small || predicted <= relTol*ssr {
				return th, ssr, iter, nil
			}
			var tj [nParams * nParams]float64
			var tr [nParams]float64
			tssr, ok := p.eval(&trial, &tj, &tr)
			if ok && tssr <= ssr {
				done := ssr-tssr <= relTol*ssr
				th, ssr, jtj, jtr = trial, tssr, tj, tr
				lambda = max(lambda/10, 1e-12)
				improved = true
				if done {
					return th, ssr, iter, nil
				}
			} else {
				lambda *= 10
				if lambda > 1e12 {
					return th, ssr, iter, nil // no step improves: at the minimum within rounding
				}
			}
		}
	}
	return th, ssr, iter, nil
}

// solveSym solves the symmetric positive definite system A x = b, with A's
// upper triangle in a (row major, k by k), by Cholesky factorisation.
func solveSym(k int, a, b []float64) ([]float64, error) {
	sym := mat.NewSymDense(k, nil)
	for r := range k {
		for c := r; c < k; c++ {
			sym.SetSym(r, c, a[r*k+c])
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(sym) {
		return nil, fmt.Errorf("the normal equations are singular (points too few or degenerate)")
	}
	var x mat.VecDense
	if err := chol.SolveVecTo(&x, mat.NewVecDense(k, append([]float64(nil), b...))); err != nil {
		return nil, err
	}
	return x.RawVector().Data, nil
}
