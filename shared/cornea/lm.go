package cornea

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
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
}

// exactPointTol is the height residual (mm) at which a fit counts as
// exact: 0.1 nm, below the rounding of any file. A run stops when a step
// would lower the sum of squares by less than this squared per point.
const exactPointTol = 1e-7

// lmFit are the settings of the biconic's fit on n points: stop within a
// tenth of a standard error, or at 1e-10 of the sum of squares, or at
// exactness.
func lmFit(n int) lmSettings {
	return lmSettings{maxIter: 100, relTol: 1e-10, points: n, statTol: 0.1}
}

// stopBelow is the least decrease of the sum of squares ssr worth another
// step.
func (s lmSettings) stopBelow(ssr float64) float64 {
	t := s.relTol * ssr
	if s.points > 0 {
		t = max(t, s.statTol*s.statTol*ssr/float64(s.points), float64(s.points)*exactPointTol*exactPointTol)
	}
	return t
}

// levenbergMarquardt minimises p's sum of squares over the free entries
// of th, in place. It returns the sum of squares at the solution and the
// iterations taken; an error only when the start lies outside the model
// or no step can be solved for.
func levenbergMarquardt(p lsqProblem, th []float64, free []int, s lmSettings) (float64, int, error) {
	k := len(free)
	ne := newNormalEq(len(th), free)
	trialNE := newNormalEq(len(th), free)
	ssr, ok := p.normal(th, ne)
	if !ok {
		return 0, 0, fmt.Errorf("the starting model does not cover every point")
	}
	a := mat.NewSymDense(k, nil)
	b := mat.NewVecDense(k, nil)
	var chol mat.Cholesky
	var step mat.VecDense
	trial := make([]float64, len(th))
	lambda := 1e-3
	iter := 0
	for iter < s.maxIter {
		iter++
		// A floor on the damping keeps the system definite where a
		// parameter has no effect (the axis of a spherical cornea).
		var maxDiag float64
		for r := range k {
			maxDiag = max(maxDiag, ne.a[r*k+r])
		}
		improved := false
		for !improved {
			for r := range k {
				b.SetVec(r, ne.b[r])
				for c := r; c < k; c++ {
					a.SetSym(r, c, ne.a[r*k+c])
				}
				a.SetSym(r, r, ne.a[r*k+r]*(1+lambda)+lambda*1e-15*maxDiag)
			}
			if !chol.Factorize(a) || chol.SolveVecTo(&step, b) != nil {
				if lambda *= 10; lambda > 1e12 {
					return ssr, iter, nil
				}
				continue
			}
			copy(trial, th)
			small := true
			var predicted float64
			for r, i := range free {
				d := step.AtVec(r)
				trial[i] += d
				predicted += d * ne.b[r]
				if math.Abs(d) > 1e-12*(1+math.Abs(th[i])) {
					small = false
				}
			}
			// J'r . step is the decrease Gauss-Newton predicts.
			if small || predicted <= s.stopBelow(ssr) {
				return ssr, iter, nil
			}
			tssr, ok := p.normal(trial, trialNE)
			if ok && tssr <= ssr {
				done := ssr-tssr <= s.stopBelow(ssr)
				copy(th, trial)
				ssr = tssr
				ne, trialNE = trialNE, ne
				lambda = max(lambda/10, 1e-12)
				improved = true
				if done {
					return ssr, iter, nil
				}
			} else if lambda *= 10; lambda > 1e12 {
				return ssr, iter, nil // no step improves: at the minimum within rounding
			}
		}
	}
	return ssr, iter, nil
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
}

// lmBlock is the number of points tabulated at once: the tables of the
// largest model (ten parameters) stay in the L1 cache.
const lmBlock = 320

func newNormalEq(n int, free []int) *normalEq {
	buf := make([]float64, (n+1)*lmBlock)
	ne := &normalEq{free: free, g: make([][]float64, n), res: buf[n*lmBlock:],
		a: make([]float64, len(free)*len(free)), b: make([]float64, len(free))}
	for j := range n {
		ne.g[j] = buf[j*lmBlock : (j+1)*lmBlock]
	}
	return ne
}

func (ne *normalEq) reset() {
	clear(ne.a)
	clear(ne.b)
}

// add accumulates the first m points of the tables.
func (ne *normalEq) add(m int) {
	k := len(ne.free)
	rv := ne.res[:m]
	for r, j := range ne.free {
		gj := ne.g[j][:m]
		ne.b[r] += floats.Dot(gj, rv)
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
			ne.a[r*k+r] += w
			ne.b[r] -= w * th[j]
		}
	}
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
