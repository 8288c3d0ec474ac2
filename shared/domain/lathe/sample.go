package lathe

import (
	"math"
	"slices"

	"github.com/lensflow/lensflow/shared/errs"
)

// Profile is the sag of one meridian of a surface: z (mm) at the distance
// rMM from the centre, with z(0) = 0.
type Profile func(rMM float64) (zMM float64)

// SagFunc is the sag of a surface at the distance rMM from the centre
// along the meridian at meridianDeg; a design's SagMM method is one.
type SagFunc func(meridianDeg, rMM float64) (zMM float64)

// Sampling defaults.
const (
	// DefaultTolUM is the default sampling tolerance: linear interpolation
	// between consecutive points reproduces the profile to within 0.1 µm.
	DefaultTolUM = 0.1
	// DefaultMaxStepMM is the default largest x step between points, 5 µm:
	// about 1,040 points over the 5.2 mm of an ortho-k semi-diameter, close
	// to what the lab's lathes are fed. A smooth profile needs far fewer for
	// the tolerance; the cap keeps the file as dense as a lathe expects.
	DefaultMaxStepMM = 0.005
	// MinTolUM is the smallest tolerance the sampler accepts.
	MinTolUM = 0.001
	// minSplitMM is the shortest segment the sampler will split: a profile
	// still off by more than the tolerance over 1 nm is discontinuous.
	minSplitMM = 1e-6
)

// Sampler turns a profile into points whose linear interpolation
// reproduces it everywhere to within a tolerance. The zero Sampler uses
// the defaults.
type Sampler struct {
	// TolUM is the largest allowed difference, in microns, between the
	// profile and the linear interpolation of the points at any r. Zero
	// means DefaultTolUM; it may not be below MinTolUM.
	TolUM float64
	// MaxStepMM is the largest x step between consecutive points. Zero
	// means DefaultMaxStepMM; a scleral file is typically made with about
	// 0.0028 (about 3,100 points over 8.75 mm).
	MaxStepMM float64
	// Breaks are the radii where the profile's slope may jump (zone
	// junctions). Each becomes a point, so the kink costs nothing; breaks
	// outside (0, rMax) are ignored. Kinks not listed are still found by
	// refinement, at the cost of more points around them.
	Breaks []float64
}

// Sample samples p from rMaxMM (the edge) to the centre with the default
// step and the tolerance tolUM (0 for DefaultTolUM): linear interpolation
// between consecutive points reproduces p at every r in [0, rMaxMM] to
// within tolUM microns. Points come edge first, ending at the centre
// (0, 0); p(0) must be 0.
func Sample(p Profile, rMaxMM, tolUM float64) ([]Point, error) {
	return Sampler{TolUM: tolUM}.Sample(p, rMaxMM)
}

// SampleWithBreaks is Sample with the radii where p's slope may jump (zone
// junctions), each of which becomes a point.
func SampleWithBreaks(p Profile, rMaxMM, tolUM float64, breaks []float64) ([]Point, error) {
	return Sampler{TolUM: tolUM, Breaks: breaks}.Sample(p, rMaxMM)
}

const opSample = "lathe.Sample"

// Sample samples p over [0, rMaxMM], edge first. Every interval between
// breaks is cut into equal steps of at most MaxStepMM, and any step whose
// chord misses the profile at its midpoint by more than 0.4 of the
// tolerance is halved until none does. For a smooth profile the midpoint
// miss is the largest one; for a slope change (a junction not given as a
// break) anywhere inside the step, the largest miss is at most twice the
// midpoint's; so every step stays within 0.8 of the tolerance. A profile
// is evaluated about twice per point.
//
// Errors (errs.Invalid): a bad rMaxMM, tolerance or step; a profile value
// that is not finite; a profile that cannot be followed to the tolerance
// with steps down to 1 nm (a jump, or a vertical tangent); more than
// MaxPoints points.
func (s Sampler) Sample(p Profile, rMaxMM float64) ([]Point, error) {
	tolMM, step, err := s.settings(rMaxMM)
	if err != nil {
		return nil, err
	}
	knots := make([]float64, 0, len(s.Breaks)+2)
	knots = append(knots, 0)
	for i, b := range s.Breaks {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return nil, errs.Field(opSample, "breaks["+itoa(i)+"]", "%g is not a finite radius", b)
		}
		if b > 0 && b < rMaxMM {
			knots = append(knots, b)
		}
	}
	knots = append(knots, rMaxMM)
	slices.Sort(knots[1 : len(knots)-1])
	knots = slices.Compact(knots)

	sm := sampling{p: p, limit: midpointShare * tolMM}
	estimate := int(rMaxMM/step) + len(knots) + 1
	if estimate > MaxPoints {
		return nil, errs.Field(opSample, "maxStep", "%g mm over %g mm needs more than %d points", step, rMaxMM, MaxPoints)
	}
	sm.pts = make([]Point, 0, estimate+estimate/16)
	z0, err := sm.eval(0)
	if err != nil {
		return nil, err
	}
	if math.Abs(z0) > CentreTolMM {
		return nil, errs.Field(opSample, "profile", "sag at the centre is %g mm, not 0", z0)
	}
	sm.pts = append(sm.pts, Point{0, 0})
	for k := 1; k < len(knots); k++ {
		a, b := knots[k-1], knots[k]
		n := int(math.Ceil((b - a) / step))
		if n < 1 {
			n = 1
		}
		for i := 1; i <= n; i++ {
			x := a + (b-a)*float64(i)/float64(n)
			if i == n {
				x = b
			}
			z, err := sm.eval(x)
			if err != nil {
				return nil, err
			}
			if err := sm.refine(sm.pts[len(sm.pts)-1], Point{x, z}); err != nil {
				return nil, err
			}
		}
	}
	// Edge first, as the file lists them.
	slices.Reverse(sm.pts)
	return sm.pts, nil
}

// settings validates the sampler and rMaxMM and returns the tolerance and
// step in millimetres.
func (s Sampler) settings(rMaxMM float64) (tolMM, step float64, err error) {
	if !(rMaxMM > 0 && rMaxMM <= MaxAbsMM) {
		return 0, 0, errs.Field(opSample, "rMax", "%g mm is not in (0, %g]", rMaxMM, MaxAbsMM)
	}
	tol := s.TolUM
	if tol == 0 {
		tol = DefaultTolUM
	}
	if !(tol >= MinTolUM) || math.IsInf(tol, 0) {
		return 0, 0, errs.Field(opSample, "tol", "%g µm is not a tolerance of at least %g µm", s.TolUM, MinTolUM)
	}
	step = s.MaxStepMM
	if step == 0 {
		step = DefaultMaxStepMM
	}
	if !(step >= 10*minSplitMM) || math.IsInf(step, 0) {
		return 0, 0, errs.Field(opSample, "maxStep", "%g mm is not a step of at least %g mm", s.MaxStepMM, 10*minSplitMM)
	}
	return tol / 1000, step, nil
}

type sampling struct {
	p     Profile
	limit float64 // the midpoint test threshold, mm
	pts   []Point // ascending x
}

// midpointShare is the share of the tolerance the interpolation may miss
// the profile by at a step's midpoint. A smooth profile is furthest from
// its chord near the midpoint; a single slope change at a fraction t of
// the step is off by at most 2(1-t) times its midpoint error. So 0.4 keeps
// every step within 0.8 of the tolerance.
const midpointShare = 0.4

func (sm *sampling) eval(x float64) (float64, error) {
	z := sm.p(x)
	if math.IsNaN(z) || math.IsInf(z, 0) || math.Abs(z) > MaxAbsMM {
		return 0, errs.Field(opSample, "profile", "sag %g mm at r = %.6f mm is not finite or beyond %g mm", z, x, MaxAbsMM)
	}
	return z, nil
}

// refine appends the points after a (already appended) up to and
// including b, halving [a, b] until the interpolation at its midpoint is
// within the test threshold.
func (sm *sampling) refine(a, b Point) error {
	h := b.XMM - a.XMM
	x := a.XMM + h/2
	z, err := sm.eval(x)
	if err != nil {
		return err
	}
	off := math.Abs(z - lerp(b, a, x))
	if off <= sm.limit {
		return sm.add(b)
	}
	if h/2 < minSplitMM {
		return errs.Field(opSample, "profile", "cannot follow the sag to the tolerance near r = %.6f mm (off by %.3g µm over 1 nm): it jumps or is vertical there; the profile must be continuous", x, off*1000)
	}
	m := Point{x, z}
	if err := sm.refine(a, m); err != nil {
		return err
	}
	return sm.refine(m, b)
}

func (sm *sampling) add(p Point) error {
	if len(sm.pts) >= MaxPoints {
		return errs.Field(opSample, "profile", "more than %d points are needed for the tolerance", MaxPoints)
	}
	sm.pts = append(sm.pts, p)
	return nil
}

// Meridians samples n meridians of sag, equally spaced around the full
// turn from firstDeg (see the package comment), each from rMaxMM to the
// centre, for Surface.Meridians. n is 1 for a rotationally symmetric
// surface and at least 4 for a toric one.
func (s Sampler) Meridians(sag SagFunc, n int, firstDeg, rMaxMM float64) ([]Meridian, error) {
	if n < 1 || n > MaxMeridians {
		return nil, errs.Field(opSample, "meridians", "%d is not in [1, %d]", n, MaxMeridians)
	}
	if !(firstDeg >= 0 && firstDeg < 360) {
		return nil, errs.Field(opSample, "firstAngle", "%g deg is not in [0, 360)", firstDeg)
	}
	ms := make([]Meridian, n)
	for i := range ms {
		a := MeridianAngleDeg(firstDeg, i, n)
		pts, err := s.Sample(func(r float64) float64 { return sag(a, r) }, rMaxMM)
		if err != nil {
			return nil, errs.Field(opSample, "meridians["+itoa(i)+"]", "at %g deg: %w", a, err)
		}
		ms[i] = Meridian{AngleDeg: a, Points: pts}
	}
	return ms, nil
}
