package lens

import (
	"cmp"
	"errors"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// A rigid lens pressed onto the eye through its centre (by the lids, or
// by its own weight under a settling scleral lens) sinks until it can sink
// no further: it tilts until it rests on three points around its centre,
// or two on either side of it, or its centre. Lowering it straight down
// finds only the first touch; on an eye that is not symmetric about the
// lens centre (a decentred lens, a cone, a sclera higher on one side) the
// lens then rocks onto its resting points.
//
// With gap g_k = lens sag - eye depth at cell p_k = (x_k, y_k) of the lens
// (mm), the lens tilted by t = (a, b) and raised by h leaves a film
//
//	f_k = h - g_k - t . p_k  (mm),
//
// to first order in the tilt (see maxRestTiltDeg for its error). The rest is
// the least h for which every f_k >= 0: minimise h(t) = max_k g_k + t.p_k,
// a linear programme in (h, a, b). Its dual has three equality rows and a
// column per cell,
//
//	maximise sum_k w_k g_k  subject to  sum w_k = 1, sum w_k p_k = 0, w >= 0,
//
// which gonum's simplex solves directly: the cells with w_k > 0 are where
// the lens rests. (A hand-written solver is not needed; the primal in
// standard form would need a slack per cell, a matrix too large to hold.)

// maxRestTiltDeg is the largest tilt the rest accepts: the first-order
// model shears the lens rather than turning it, and misplaces the film by
// about S'(r) (S(r) - S_rest) tan(tilt), some 10 microns at 3 degrees.
const maxRestTiltDeg = 3.0

// errNoRest is returned when the programme cannot be solved; callers fall
// back to lowering the lens straight down.
var errNoRest = errors.New("lens: no resting tilt found")

// rockingRest finds the tilt (a, b) of the lens whose gaps g at cells
// (xs, ys) lets it sink deepest, and the points it rests on. start holds
// the cell at the lens centre and the cells beside it to the right and
// above (a feasible first basis: the centre alone).
//
// Most cells are nowhere near touching, so the programme is solved on a
// coarse subset of them first and then on every cell the solution leaves
// below the lens (constraint generation); it ends when no cell is, which
// makes the answer the one over every cell.
func rockingRest(xs, ys, g []float64, start [3]int) (a, b float64, rests [][2]float64, err error) {
	n := len(g)
	in := make([]bool, n)
	var cand []int
	add := func(k int) {
		if !in[k] {
			in[k] = true
			cand = append(cand, k)
		}
	}
	for _, k := range start {
		add(k)
	}
	for k := range n {
		if k%7 == 0 {
			add(k)
		}
	}
	for range 20 {
		w, h, err := restLP(xs, ys, g, cand)
		if err != nil {
			return 0, 0, nil, err
		}
		a, b, rests = tiltThrough(xs, ys, g, cand, w)
		added := 0
		for k := range n {
			if !in[k] && g[k]+a*xs[k]+b*ys[k] > h+1e-9 {
				add(k)
				added++
			}
		}
		if added == 0 {
			return a, b, rests, nil
		}
	}
	return 0, 0, nil, errNoRest
}

// restLP solves the dual programme over the cells cand: the weights of
// the cells and the least height h.
func restLP(xs, ys, g []float64, cand []int) (w []float64, h float64, err error) {
	m := len(cand)
	rows := make([]float64, 3*m)
	c := make([]float64, m)
	for i, k := range cand {
		rows[i], rows[m+i], rows[2*m+i] = 1, xs[k], ys[k]
		c[i] = -g[k]
	}
	opt, w, err := lp.Simplex(c, mat.NewDense(3, m, rows), []float64{1, 0, 0}, 1e-10, []int{0, 1, 2})
	if err != nil || w == nil {
		return nil, 0, errNoRest
	}
	return w, -opt, nil
}

// tiltThrough is the tilt that levels the resting cells (weights w over
// cand), and those cells, the most loaded first.
func tiltThrough(xs, ys, g []float64, cand []int, w []float64) (a, b float64, rests [][2]float64) {
	var idx []int // into cand and w
	for i, v := range w {
		if v > 1e-9 {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(i, j int) int { return cmp.Compare(w[j], w[i]) })
	support := make([]int, len(idx))
	for n, i := range idx {
		support[n] = cand[i]
	}
	for _, k := range support {
		rests = append(rests, [2]float64{xs[k], ys[k]})
	}
	switch len(support) {
	case 0, 1:
		return 0, 0, rests // resting on its centre: no tilt
	case 2:
		a, b = twoPointTilt(xs, ys, g, support[0], support[1])
		return a, b, rests
	}
	// Three points: g_k + t.p_k equal at each.
	i, j, k := support[0], support[1], support[2]
	m := mat.NewDense(2, 2, []float64{xs[j] - xs[i], ys[j] - ys[i], xs[k] - xs[i], ys[k] - ys[i]})
	rhs := mat.NewVecDense(2, []float64{g[i] - g[j], g[i] - g[k]})
	var t mat.VecDense
	if err := t.SolveVec(m, rhs); err != nil || math.IsNaN(t.AtVec(0)) || math.IsNaN(t.AtVec(1)) {
		a, b = twoPointTilt(xs, ys, g, i, j)
		return a, b, rests
	}
	return t.AtVec(0), t.AtVec(1), rests
}

// twoPointTilt is the least tilt that levels cells i and j: along the line
// through them only.
func twoPointTilt(xs, ys, g []float64, i, j int) (a, b float64) {
	dx, dy := xs[i]-xs[j], ys[i]-ys[j]
	d2 := dx*dx + dy*dy
	if d2 == 0 {
		return 0, 0
	}
	s := (g[j] - g[i]) / d2
	return s * dx, s * dy
}
