package topo

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// polarPoints collects the points of a polar export (the cso and cso-raw
// formats) into a Surface: a point lies at radius rho on semi-meridian j
// of m, at j * 360/m degrees counterclockwise from the examiner's right,
// so x = rho cos, y = rho sin. The points at radius 0 (the centre, written
// once per semi-meridian) become one point at the mean of their heights,
// the first of the surface.
type polarPoints struct {
	s         *Surface
	cos, sin  []float64
	centreSum float64
	centreN   int
}

// newPolarPoints readies s for at most n points (the centre's copies
// counted) on m semi-meridians; more than opts.MaxPoints is an
// errs.TooLarge error.
func newPolarPoints(op string, s *Surface, m, n int, opts Options) (*polarPoints, error) {
	if n > opts.MaxPoints {
		return nil, errs.Ef(op, errs.TooLarge, "more than %d points", opts.MaxPoints)
	}
	p := &polarPoints{s: s, cos: make([]float64, m), sin: make([]float64, m)}
	for j := range m {
		p.sin[j], p.cos[j] = math.Sincos(2 * math.Pi * float64(j) / float64(m))
	}
	s.X = make([]float64, 1, n+1) // slot 0 is the centre, dropped if it has no data
	s.Y = make([]float64, 1, n+1)
	s.Z = make([]float64, 1, n+1)
	return p, nil
}

// add adds the height z (mm) at radius rho (mm) on semi-meridian j.
func (p *polarPoints) add(rho float64, j int, z float64) {
	if rho == 0 {
		p.centreSum += z
		p.centreN++
		return
	}
	p.s.X = append(p.s.X, rho*p.cos[j])
	p.s.Y = append(p.s.Y, rho*p.sin[j])
	p.s.Z = append(p.s.Z, z)
}

// finish places the centre and checks that there are points enough: none
// says why a surface without any has none.
func (p *polarPoints) finish(op string, opts Options, none string) error {
	s := p.s
	if p.centreN > 0 {
		s.Z[0] = p.centreSum / float64(p.centreN)
	} else {
		s.X, s.Y, s.Z = s.X[1:], s.Y[1:], s.Z[1:]
	}
	switch {
	case len(s.X) == 0:
		return errs.Ef(op, errs.Invalid, "no points: %s", none)
	case len(s.X) < opts.MinPoints:
		return errs.Ef(op, errs.Invalid, "only %d points; at least %d are needed", len(s.X), opts.MinPoints)
	}
	return nil
}
