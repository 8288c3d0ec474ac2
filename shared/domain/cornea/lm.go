package cornea

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// This file holds the one Levenberg-Marquardt solver every fit of the
// package uses (mean conic, best-fit sphere, biconic), and the
// accumulator of Gauss-Newton normal equations their model kernels share.
//
// Written here rather than taken from a library: gonum's optimize package
// has no Levenberg-Marquardt (its Newton method wants a full Hessian), and
// the fits need the normal equations J'J and J'r built in one pass over
// tens of thousands of points by a hand-written kernel per model, which is
// where the time goes. What is generic (the damping, the stopping rules,
// fixed parameters) lives here once.

// lsqProblem is a nonlinear least-squares problem over a parameter vector
// whose entries listed in free are varied and the others held.
type lsqProblem interface {
	// normal returns the sum of squared residuals at th and, when ne is
	// not nil, fills ne with the normal equations of the free parameters.
	// ok is false when th leaves the model's domain at some point.
	normal(th []float64, ne *normalEq) (ssr float64, ok bool)
}

// constrainedProblem is an lsqProblem whose parameters must stay on a
// subset of the space the normal equations span (the biconic: a general
// surface whose two toric parts are parallel). The solver hands it each
// damped Gauss-Newton step to take back onto the subset.
type constrainedProblem interface {
	lsqProblem
	// constrain writes into trial the point of the subset to step to
	// from th, given the normal equations at th and the step over the
	// free parameters solved from their damped system (chol, its Cholesky
	// factor U, upper triangle, row major), which it may overwrite; it
	// returns the decrease of the sum of squares the linearised model
	// predicts for the step to trial. ok is false when it finds none.
	constrain(th, trial []float64, ne *normalEq, chol, step []float64) (predicted float64, ok bool)
}

// lmSettings are a solver run's limits.
type lmSettings struct {
	maxIter int
	// relTol stops the run when a step would lower the sum of squares by
	// less than this fraction of it.
	relTol float64
	// points, when set, is the number of residuals, and the run also stops
	// when a step would lower the sum of squares by less than
	// statTol^2 times the residual variance (the sum over points): moving
	// every parameter by its standard error lowers the sum by about one
	// variance, so that is a step of under statTol standard errors, which
	// the data cannot tell from no step. Near-degenerate directions (the
	// axis of an almost spherical cornea, a tilt traded against a
	// decentration) would otherwise creep on for dozens of iterations.
	points  int
	statTol float64
	// exactTol, when set, stands in for exactPointTol: the height
	// residual (mm) at which the run counts its fit as exact.
	exactTol float64
	// lambda is the damping the run starts from; 0 means a cautious
	// 1e-3. A refinement that starts from a fit of the same model to a
	// subsample of the points starts from the damping that fit ended
	// with: the near-degenerate directions (a tilt traded against a
	// decentration) then move in one step instead of a step per tenfold
	// fall of the damping.
	lambda float64
	// exactFirst checks the sum of squares alone before building any
	// normal equations, and stops there when it is already below the
	// least decrease worth a step (stopBelow): no step can lower it by
	// more than it is. A refinement sets it when its start fitted the
	// subsample exactly.
	exactFirst bool
	// work, when set, lends the run its buffers (see lmWork).
	work *lmWork
	// hessian, when set, is J'J of the free parameters (k x k, upper
	// triangle, row major, priors included) for the whole run: each
	// evaluation then builds only J'r from the points (11 dot products a
	// block for the biconic's eleven parameters instead of 77). A
	// refinement on every point takes it from the fit to a subsample,
	// scaled to the number of points: J'J varies little over the step or
	// two that remain (the biconic's parameters are chosen so, see bCM),
	// and little from a well-spread subsample to every point, so the
	// steps differ from Gauss-Newton's by a few per cent and converge to
	// the same minimum (where J'r vanishes, whatever J'J is), each one
	// accepted only when the sum of squares over every point falls.
	hessian []float64
	// keepHessian asks the run to leave J'J at its solution in
	// lmWork.hessian (empty when it built none).
	keepHessian bool
}

// lmResult is what a solver run ends with.
type lmResult struct {
	ssr    float64 // sum of squared residuals at the solution
	iters  int     // iterations taken
	lambda float64 // the damping at the end
	evals  int     // evaluations of the sum of squares: passes over the points
}

// lmWork holds the buffers of a solver run, reused from run to run (see
// fitWork): two sets of normal equations, the damped system (factorised
// in place), the step and the trial parameters.
type lmWork struct {
	ne, trialNE  normalEq
	hessian      []float64 // see lmSettings.keepHessian
	damped, step []float64
	trial        []float64
	proj         []float64 // a constrainedProblem's scratch
}

// exactPointTol is the height residual (mm) at which a fit counts as
// exact: 0.1 nm, below the rounding of any file. A run stops when a step
// would lower the sum of squares by less than this squared per point.
const exactPointTol = 1e-7

// lmFit are the settings of the biconic's fit on n points: stop within a
// tenth of a standard error, or at 1e-10 of the sum of squares, or at
// exactness (to biconicExactTol).
func lmFit(n int) lmSettings {
	return lmSettings{maxIter: 100, relTol: 1e-10, points: n, statTol: 0.1, exactTol: biconicExactTol}
}

// biconicExactTol is exactPointTol for the biconic: 1 pm. Its
// near-degenerate directions can leave the heights of an exact surface
// within 0.1 nm of it while the radii stray by 3e-6 mm: the fit of
// screeningtest's exact toric cornea stopped there, 2e-5 D of apical K
// off, the step that would have finished it predicting too small a
// decrease to be taken. At 1 pm its K is exact to 1e-8 D. Only surfaces
// computed exactly come near either tolerance: the rounding of a file's
// heights leaves more.
const biconicExactTol = 1e-9

// stopBelow is the least decrease of the sum of squares ssr worth another
// step.
func (s lmSettings) stopBelow(ssr float64) float64 {
	t := s.relTol * ssr
	if s.points > 0 {
		e := s.exactTol
		if e == 0 {
			e = exactPointTol
		}
		t = max(t, s.statTol*s.statTol*ssr/float64(s.points), float64(s.points)*e*e)
	}
	return t
}

// errStartOutside is the solver's error for a start that leaves the
// model's domain at some point.
var errStartOutside = errors.New("the starting model does not cover every point")

// levenbergMarquardt minimises p's sum of squares over the free entries
// of th, in place. It returns the sum of squares at the solution, the
// iterations taken and the damping it ended with; an error only when the
// start lies outside the model or no step can be solved for.
func levenbergMarquardt(p lsqProblem, th []float64, free []int, s lmSettings) (lmResult, error) {
	k := len(free)
	w := s.work
	if w == nil {
		w = new(lmWork)
	}
	w.hessian = w.hessian[:0]
	if s.hessian != nil && len(s.hessian) != k*k {
		panic("cornea: a Hessian of the wrong size")
	}
	evals := 0
	if s.exactFirst {
		evals++
		ssr, ok := p.normal(th, nil)
		if !ok {
			return lmResult{}, errStartOutside
		}
		if ssr <= s.stopBelow(ssr) {
			return lmResult{ssr: ssr, lambda: s.lambda, evals: 1}, nil
		}
	}
	ne, trialNE := w.ne.init(len(th), free), w.trialNE.init(len(th), free)
	ne.hessian, trialNE.hessian = s.hessian, s.hessian
	defer func() { w.ne.hessian, w.trialNE.hessian = nil, nil }()
	evals++
	ssr, ok := p.normal(th, ne)
	if !ok {
		return lmResult{}, errStartOutside
	}
	if s.keepHessian {
		// ne holds the normal equations at th whenever the run returns.
		defer func() { w.hessian = append(w.hessian[:0], ne.a...) }()
	}
	w.damped, w.step = grow(w.damped, k*k), grow(w.step, k)
	damped, step := w.damped, w.step
	w.trial = grow(w.trial, len(th))
	trial := w.trial
	lambda := s.lambda
	if lambda == 0 {
		lambda = 1e-3
	}
	lambda = min(max(lambda, 1e-12), 1e12)
	iter := 0
	for iter < s.maxIter {
		iter++
		// A floor on the damping keeps the system definite where a
		// parameter has no effect.
		var maxDiag float64
		for r := range k {
			maxDiag = max(maxDiag, ne.a[r*k+r])
		}
		improved := false
		for !improved {
			copy(damped, ne.a)
			copy(step, ne.b)
			for r := range k {
				damped[r*k+r] = ne.a[r*k+r]*(1+lambda) + lambda*1e-15*maxDiag
			}
			if !solveSPD(k, damped, step) {
				if lambda *= 10; lambda > 1e12 {
					return lmResult{ssr, iter, lambda, evals}, nil
				}
				continue
			}
			small := true
			var predicted float64
			if cp, ok := p.(constrainedProblem); ok {
				if predicted, ok = cp.constrain(th, trial, ne, damped, step); !ok {
					if lambda *= 10; lambda > 1e12 {
						return lmResult{ssr, iter, lambda, evals}, nil
					}
					continue
				}
				for _, i := range free {
					if math.Abs(trial[i]-th[i]) > 1e-12*(1+math.Abs(th[i])) {
						small = false
					}
				}
			} else {
				copy(trial, th)
				for r, i := range free {
					d := step[r]
					trial[i] += d
					predicted += d * ne.b[r] // J'r . step is the decrease Gauss-Newton predicts
					if math.Abs(d) > 1e-12*(1+math.Abs(th[i])) {
						small = false
					}
				}
			}
			if small || predicted <= s.stopBelow(ssr) {
				return lmResult{ssr, iter, lambda, evals}, nil
			}
			evals++
			tssr, ok := p.normal(trial, trialNE)
			if ok && tssr <= ssr {
				done := ssr-tssr <= s.stopBelow(ssr)
				copy(th, trial)
				ssr = tssr
				ne, trialNE = trialNE, ne
				lambda = max(lambda/10, 1e-12)
				improved = true
				if done {
					return lmResult{ssr, iter, lambda, evals}, nil
				}
			} else if lambda *= 10; lambda > 1e12 {
				return lmResult{ssr, iter, lambda, evals}, nil // no step improves: at the minimum within rounding
			}
		}
	}
	return lmResult{ssr, iter, lambda, evals}, nil
}

// normalEq accumulates the Gauss-Newton normal equations of the free
// parameters, block by block: a model kernel writes the derivative of the
// model with respect to every parameter (free or not) for up to lmBlock
// points into the tables g, their residuals into res, and calls add. The
// products are then dot products of the tables (gonum's assembly kernel):
// far faster than dozens of running sums, which cannot stay in registers.
type normalEq struct {
	free []int
	g    [][]float64 // g[j][i]: d model / d parameter j at point i of the block
	res  []float64
	a, b []float64 // J'J (k x k, upper triangle) and J'r of the free parameters
	// aux are six more tables a kernel may fill and read within a block
	// (the biconic's: the points in the cornea's frame, their square roots
	// and divisions, computed in a loop of their own).
	aux [6][]float64
	buf []float64 // backs g, res, aux, a and b
	// hessian, when set, stands in for J'J (priors included): only J'r
	// is built from the points (see lmSettings.hessian).
	hessian []float64
}

// lmBlock is the number of points tabulated at once: the tables of the
// largest model (eleven parameters) stay in the L1 cache.
const lmBlock = 320

func newNormalEq(n int, free []int) *normalEq {
	return new(normalEq).init(n, free)
}

// init readies ne for n parameters of which free are varied, reusing its
// buffers when they are large enough.
func (ne *normalEq) init(n int, free []int) *normalEq {
	k := len(free)
	tables := (n + 7) * lmBlock // g, res and aux
	need := tables + k*k + k
	if cap(ne.buf) < need {
		ne.buf = make([]float64, need)
	}
	buf := ne.buf[:need]
	if cap(ne.g) < n {
		ne.g = make([][]float64, n)
	}
	ne.g = ne.g[:n]
	for j := range n {
		ne.g[j] = buf[j*lmBlock : (j+1)*lmBlock]
	}
	ne.free = free
	ne.res = buf[n*lmBlock : (n+1)*lmBlock]
	for i := range ne.aux {
		ne.aux[i] = buf[(n+1+i)*lmBlock : (n+2+i)*lmBlock]
	}
	ne.a = buf[tables : tables+k*k]
	ne.b = buf[tables+k*k:]
	return ne
}

func (ne *normalEq) reset() {
	if ne.hessian != nil {
		copy(ne.a, ne.hessian)
	} else {
		clear(ne.a)
	}
	clear(ne.b)
}

// add accumulates the first m points of the tables.
func (ne *normalEq) add(m int) {
	k := len(ne.free)
	rv := ne.res[:m]
	for r, j := range ne.free {
		gj := ne.g[j][:m]
		ne.b[r] += floats.Dot(gj, rv)
		if ne.hessian != nil {
			continue
		}
		for c := r; c < k; c++ {
			ne.a[r*k+c] += floats.Dot(gj, ne.g[ne.free[c]][:m])
		}
	}
}

// tiltPriorPerPoint weighs, per point, a prior of zero tilt with a
// standard deviation of 30 degrees against height residuals of 1 micron:
// 1e-6 mm^2 / (30 degrees in radians)^2. Where the data determine the tilt
// (an aspheric cornea: a tilt and a decentration differ only through the
// asphericity) it moves it by about 1%; where they cannot (a sphere, on
// which a tilt and a decentration are the same surface), it holds the tilt
// at zero instead of letting it wander with the noise.
const tiltPriorPerPoint = 1e-6 / ((30 * math.Pi / 180) * (30 * math.Pi / 180))

// addPrior adds a zero-mean Gaussian prior of weight w on parameter j to
// the objective and its normal equations, when j is free.
func (ne *normalEq) addPrior(j int, th []float64, w float64) {
	k := len(ne.free)
	for r, i := range ne.free {
		if i == j {
			if ne.hessian == nil {
				ne.a[r*k+r] += w
			}
			ne.b[r] -= w * th[j]
		}
	}
}

// identity lists every parameter of the largest model: its first k
// entries free the first k parameters.
var identity = [nBiconicParams]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

// scratchNormalEq returns normal equations to build a start's linear
// least squares in: w's when there is one (the solver run that follows
// readies them afresh), new ones otherwise.
func scratchNormalEq(w *lmWork) *normalEq {
	if w == nil {
		return new(normalEq)
	}
	return &w.ne
}

// linearLeastSquares solves a start's linear least squares in k unknowns
// over the points (xs, ys, zs), block by block as the solver builds its
// own normal equations, in w's scratch tables (see scratchNormalEq): rows
// tabulates, for the points of a block (bx, by, bz), each point's k
// regressors in ne.g[0..k) and its left-hand side in ne.res.
func linearLeastSquares(w *lmWork, k int, xs, ys, zs []float64, rows func(ne *normalEq, bx, by, bz []float64)) ([]float64, error) {
	ne := scratchNormalEq(w).init(k, identity[:k])
	ne.reset()
	ys, zs = ys[:len(xs)], zs[:len(xs)]
	for start := 0; start < len(xs); start += lmBlock {
		m := min(lmBlock, len(xs)-start)
		rows(ne, xs[start:start+m], ys[start:start+m], zs[start:start+m])
		ne.add(m)
	}
	return solveSym(k, ne.a, ne.b)
}

// freeIndices lists the parameters whose flag is set.
func freeIndices(flags ...bool) []int {
	var idx []int
	for i, f := range flags {
		if f {
			idx = append(idx, i)
		}
	}
	return idx
}

// solveSym solves the symmetric positive definite system A x = b, with A's
// upper triangle in a (row major, k by k), by Cholesky factorisation. It
// leaves a and b as they were.
func solveSym(k int, a, b []float64) ([]float64, error) {
	f, x := slices.Clone(a[:k*k]), slices.Clone(b[:k])
	if !solveSPD(k, f, x) {
		return nil, fmt.Errorf("the normal equations are singular (points too few or degenerate)")
	}
	return x, nil
}

// solveSPD solves the symmetric positive definite system A x = b in place
// with gonum's LAPACK: a holds A's upper triangle (row major, k by k) and
// is overwritten by its Cholesky factor U, b is overwritten by x. It
// reports false when A is not positive definite or when U's diagonal
// spans more than eight orders of magnitude: A's condition number is then
// above 1e16, where mat.Cholesky's solve refuses too. The solver's systems
// are at most 10 by 10 and solved a few times a fit, where mat.Cholesky's
// condition estimate would cost more than the factorisation.
func solveSPD(k int, a, b []float64) bool {
	u, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: k, Stride: k, Data: a[:k*k]})
	if !ok {
		return false
	}
	lo, hi := math.Inf(1), 0.0
	for i := range k {
		d := math.Abs(a[i*k+i])
		lo, hi = min(lo, d), max(hi, d)
	}
	if !(hi <= 1e8*lo) {
		return false
	}
	lapack64.Potrs(u, blas64.General{Rows: k, Cols: 1, Stride: 1, Data: b[:k]})
	return true
}
