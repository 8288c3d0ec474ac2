package cornea

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
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
	// FitDecentration frees the apex position in x and y as well as in z,
	// and FitTilt the tilt of the corneal axis (see Pose). Leave them off
	// for maps already centred on the apex; turn them on for maps centred
	// on the instrument axis, as real exams are. A tilt is only told apart
	// from a decentration by the cornea's asphericity: on a near-sphere
	// the two trade off freely and the apex is poorly defined.
	FitDecentration bool
	FitTilt         bool
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

	p.free = [nParams]bool{iR0: true, iP: freeP, iZ0: true, iX0: o.FitDecentration, iY0: o.FitDecentration,
		iTA: o.FitTilt, iTB: o.FitTilt}
	theta, err := p.initial()
	if err != nil {
		return Conic{}, errs.E(op, errs.Invalid, err)
	}
	theta, ssr, iters, err := p.levenbergMarquardt(theta)
	if err != nil {
		return Conic{}, errs.E(op, errs.Invalid, err)
	}
	pose := p.pose(theta)
	return Conic{
		R0MM: theta[iR0], P: theta[iP],
		ApexXMM: pose.XMM, ApexYMM: pose.YMM, ApexZMM: pose.ZMM, TiltXDeg: pose.TiltXDeg, TiltYDeg: pose.TiltYDeg,
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

// Parameters of the conic height model: in the cornea's own frame (see
// Pose), w = conic(R0, p; u^2 + v^2), with the apex at (x0, y0, z0) on the
// map and the corneal axis tilted by the angles alpha (about x) and beta
// (about y).
const (
	iR0 = iota
	iP
	iZ0
	iX0
	iY0
	iTA // alpha, radians
	iTB // beta, radians
	nParams
)

type problem struct {
	x, y, z []float64
	free    [nParams]bool
	// work, when set, lends initial its tables (see lmWork).
	work *lmWork
}

// initial solves the linearised model
//
//	x^2 + y^2 = a + b*z + c*z^2 [+ d*x + e*y]
//
// which is exact for an untilted conic with apex offset z0 and
// decentration (d/2, e/2) up to a constant absorbed by a: c = -p, b = 2*R0
// + 2*p*z0, a = -2*R0*z0 - p*z0^2 (+ x0^2 + y0^2). For a sphere fit p is
// fixed at 1. A tilt starts at zero: a small tilt looks like a
// decentration to this model, and the refinement separates the two.
func (p *problem) initial() ([nParams]float64, error) {
	// Unknowns, in order: a, b, [c], [d, e].
	cols := 2
	if p.free[iP] {
		cols++
	}
	if p.free[iX0] {
		cols += 2
	}
	sol, err := linearLeastSquares(p.work, cols, p.x, p.y, p.z, func(ne *normalEq, bx, by, bz []float64) {
		m := len(bx)
		one, zc, rhs := ne.g[0][:m], ne.g[1][:m], ne.res[:m]
		for i, z := range bz {
			one[i], zc[i], rhs[i] = 1, z, bx[i]*bx[i]+by[i]*by[i]
		}
		k := 2
		if p.free[iP] {
			zz := ne.g[k][:m]
			for i, z := range bz {
				zz[i] = z * z
			}
			k++
		} else {
			for i, z := range bz {
				rhs[i] += z * z // p = 1: move -p*z^2 to the left-hand side
			}
		}
		if p.free[iX0] {
			copy(ne.g[k][:m], bx)
			copy(ne.g[k+1][:m], by)
		}
	})
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

// normal implements lsqProblem: the residuals w - conic(u^2 + v^2) of the
// points in the cornea's frame, and the model's derivatives.
func (p *problem) normal(th []float64, ne *normalEq) (float64, bool) {
	r0, pp := th[iR0], th[iP]
	if !(r0 > 0) {
		return 0, false
	}
	f := frameOf(th[iX0], th[iY0], th[iZ0], th[iTA], th[iTB])
	tilted := th[iTA] != 0 || th[iTB] != 0 || p.free[iTA] || p.free[iTB]
	r02 := r0 * r0
	xs, ys, zs := p.x, p.y[:len(p.x)], p.z[:len(p.x)]
	ssr := tiltPriorPerPoint * float64(len(xs)) * (th[iTA]*th[iTA] + th[iTB]*th[iTB])
	if ne == nil {
		for i := range xs {
			u, v, w, _ := f.own(xs[i], ys[i], zs[i])
			uu := u*u + v*v
			disc := r02 - pp*uu
			if disc <= 0 {
				return 0, false
			}
			res := w - uu/(r0+math.Sqrt(disc))
			ssr += res * res
		}
		return ssr, true
	}
	ne.reset()
	g := ne.g
	for start := 0; start < len(xs); start += lmBlock {
		m := min(lmBlock, len(xs)-start)
		bx, by, bz := xs[start:start+m], ys[start:start+m], zs[start:start+m]
		gR, gP, gZ, gX, gY, gA, gB := g[iR0][:m], g[iP][:m], g[iZ0][:m], g[iX0][:m], g[iY0][:m], g[iTA][:m], g[iTB][:m]
		rv := ne.res[:m]
		for i := range bx {
			u, v, w, ez := f.place(bx[i], by[i], bz[i], tilted)
			uu := u*u + v*v
			disc := r02 - pp*uu
			if disc <= 0 {
				return 0, false
			}
			sq := math.Sqrt(disc)
			inv := 1 / (r0 + sq)
			isq := 1 / sq
			h := uu * inv
			res := w - h
			ssr += res * res
			rv[i] = res
			fd2 := h * inv // uu / (R0 + sq)^2
			gR[i] = -fd2 * (1 + r0*isq)
			gP[i] = 0.5 * fd2 * uu * isq
			// The slopes: d h / d(uu) = inv + p fd2 / (2 sq).
			dh := 2 * (inv + 0.5*pp*fd2*isq)
			fu, fv := dh*u, dh*v
			gX[i], gY[i], gZ[i], gA[i], gB[i] = f.grads(tilted, u, v, w, ez, fu, fv)
		}
		ne.add(m)
	}
	ne.addPrior(iTA, th, tiltPriorPerPoint*float64(len(xs)))
	ne.addPrior(iTB, th, tiltPriorPerPoint*float64(len(xs)))
	return ssr, true
}

// levenbergMarquardt refines th on the height residuals. It returns the
// parameters, their sum of squared residuals and the iterations taken.
func (p *problem) levenbergMarquardt(th [nParams]float64) ([nParams]float64, float64, int, error) {
	th, res, err := p.refine(th, p.settings())
	return th, res.ssr, res.iters, err
}

// settings are the solver's settings for the conic: its few parameters
// converge in a handful of steps, so they run to the precision of the
// arithmetic (a best-fit sphere is a reference other maps are drawn
// against).
func (p *problem) settings() lmSettings {
	return lmSettings{maxIter: 100, relTol: 1e-12, points: len(p.x)}
}

// refine is levenbergMarquardt with the solver's settings given.
func (p *problem) refine(th [nParams]float64, s lmSettings) ([nParams]float64, lmResult, error) {
	free := freeIndices(p.free[:]...)
	res, err := levenbergMarquardt(p, th[:], free, s)
	if errors.Is(err, errStartOutside) {
		// The start (a linear estimate) puts some point outside the
		// conic: start from a sphere large enough to hold every point.
		th = [nParams]float64{iR0: 7.8, iP: 1, iX0: th[iX0], iY0: th[iY0]}
		for ok := false; !ok && th[iR0] < 1e3; th[iR0] *= 2 {
			_, ok = p.normal(th[:], nil)
			if ok {
				break
			}
		}
		if _, ok := p.normal(th[:], nil); !ok {
			return th, lmResult{}, fmt.Errorf("surface does not fit a conic")
		}
		s.exactFirst = false
		res, err = levenbergMarquardt(p, th[:], free, s)
	}
	if err != nil {
		return th, res, fmt.Errorf("surface does not determine a conic: %w", err)
	}
	return th, res, nil
}

func (p *problem) pose(th [nParams]float64) Pose {
	return Pose{XMM: th[iX0], YMM: th[iY0], ZMM: th[iZ0], TiltXDeg: th[iTB] * 180 / math.Pi, TiltYDeg: -th[iTA] * 180 / math.Pi}
}
