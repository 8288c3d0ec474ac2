package topo

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// collinearRatio is how flat the cloud of (x, y) positions may be, as the
// ratio of its smallest to its largest spread (variance along the principal
// axes), before it counts as one straight line: 1e-10 leaves 0.1 um across
// a 10 mm line, well below any topographer's sampling.
const collinearRatio = 1e-10

// checkSpread refuses a surface no corneal fit can use however its heights
// look: all points at one position, no extent in x or in y, all on one
// straight line, or fewer distinct (x, y) positions than minPoints (the
// fit needs that many; points repeated at one position add nothing). Every
// format's surface passes through it (parseWith), so such a file is
// refused at upload with the reason, instead of failing its design later.
// The messages quote nothing from the file.
func checkSpread(s *Surface, minPoints int) error {
	const op = "topo.Parse"
	n := len(s.X)
	if n == 0 {
		return nil // each format says "no points" itself
	}
	// The extremes by comparisons rather than min and max: the values
	// are finite, and they are only compared with ==, for which the sign
	// of a zero (all min and max would add) does not count. Each new
	// extreme is rare, so the branches are well predicted, and the loop
	// does not wait on a chain of min instructions.
	minX, maxX, minY, maxY := s.X[0], s.X[0], s.Y[0], s.Y[0]
	var mx, my float64
	y := s.Y[:n]
	for i, x := range s.X {
		if x < minX {
			minX = x
		}
		if x > maxX {
			maxX = x
		}
		if y[i] < minY {
			minY = y[i]
		}
		if y[i] > maxY {
			maxY = y[i]
		}
		mx += x
		my += y[i]
	}
	switch {
	case minX == maxX && minY == maxY:
		return errs.Ef(op, errs.Invalid, "all %d points are at one (x, y) position: a scan needs points spread over the cornea", n)
	case minX == maxX:
		return errs.Ef(op, errs.Invalid, "every point has the same x: the points have no extent in x")
	case minY == maxY:
		return errs.Ef(op, errs.Invalid, "every point has the same y: the points have no extent in y")
	}
	mx, my = mx/float64(n), my/float64(n)
	var sxx, syy, sxy float64
	for i := range s.X {
		dx, dy := s.X[i]-mx, s.Y[i]-my
		sxx += dx * dx
		syy += dy * dy
		sxy += dx * dy
	}
	half, r := (sxx+syy)/2, math.Hypot((sxx-syy)/2, sxy)
	if lo, hi := half-r, half+r; lo <= collinearRatio*hi {
		return errs.Ef(op, errs.Invalid, "the points lie on one straight line: a scan needs points spread over the cornea")
	}
	seen := make(map[[2]float64]struct{}, minPoints)
	for i := range s.X {
		seen[[2]float64{s.X[i], s.Y[i]}] = struct{}{}
		if len(seen) >= minPoints {
			return nil
		}
	}
	return errs.Ef(op, errs.Invalid, "only %d distinct (x, y) positions among %d points; a fit needs at least %d", len(seen), n, minPoints)
}
