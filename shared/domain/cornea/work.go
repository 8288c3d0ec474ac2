package cornea

import "sync"

// fitWork is the scratch memory of one Fit: the points it selects, the
// subsample it starts from, the points in the biconic's frame, the
// solver's normal equations, the Zernike moments' tables and the residual
// map's blur. Fits borrow it from a pool and give it back, so that a fit
// allocates little more than the Model it returns, and a server under load
// keeps a few workspaces instead of collecting one per scan. Every buffer
// is written before it is read, so a borrowed workspace changes no result.
type fitWork struct {
	// Points in the largest zone, in the examiner's view, and each one's
	// reach sector (see reachSector).
	cx, cy, cz []float64
	csec       []uint8
	// The zone points, nested zones innermost first (see fitModel), and the
	// subsample the fit starts from.
	xs, ys, zs []float64
	sub        subsample
	// The zone points in the biconic's frame (the mean conic).
	u, v, w []float64
	// A block of points in the cornea's frame and their residuals (the
	// residual map).
	bu, bv, br []float64

	lm      lmWork
	hessian []float64 // the subsample's J'J, scaled to every point
	zern    zernikeWork
	grid    gridWork
}

var fitWorkPool = sync.Pool{New: func() any { return new(fitWork) }}

// maxPooledPoints bounds the workspaces the pool keeps: one grown for a
// scan of more candidate points than this (the largest uploads hold half
// a million) is left to the collector rather than held for the next fit.
const maxPooledPoints = 1 << 17

func getFitWork() *fitWork { return fitWorkPool.Get().(*fitWork) }

func (w *fitWork) release() {
	if cap(w.cx) > maxPooledPoints || cap(w.xs) > maxPooledPoints {
		return
	}
	fitWorkPool.Put(w)
}

// grow returns s with length n, reusing its array when large enough. The
// contents are not cleared.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
