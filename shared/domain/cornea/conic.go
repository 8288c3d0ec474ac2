// Package cornea fits corneal shape models to a topography Surface and
// evaluates them: a rotationally symmetric conic (apical radius R0 and
// shape factor p), the best-fit sphere, the biconic (toric) fit with its
// principal meridians and Sim-K, the OSA/ANSI Zernike expansion, and the
// Model that gathers them for lens design: sag at a chord along any
// meridian, tangent angle, axial and tangential radius, keratometry in
// dioptres, and labelled extrapolation beyond the measured data.
//
// Conventions follow the lab handbook: the conic is
//
//	z(y) = y^2 / (R0 + sqrt(R0^2 - p*y^2)),  y = semi-chord (mm)
//
// with p = 1 - e^2 and asphericity Q = p - 1 (a prolate cornea has p < 1,
// Q < 0; a sphere has p = 1). Chords are full diameters, semi-chords half
// of one. Keratometric dioptres are index / r with the index written as
// (n - 1) * 1000, 337.5 by default (ISO 19980); it is always an explicit
// argument because some labs print 337.0.
//
// The package is pure: no I/O, no logging, no global state.
package cornea

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// StandardKeratometricIndex is the keratometric index 1.3375 written as
// (n - 1) * 1000, so that K (D) = index / r (mm). ISO 19980.
const StandardKeratometricIndex = 337.5

// KeratometricDioptres converts a radius of curvature (mm) to keratometric
// dioptres: index / rMM, with index as (n - 1) * 1000 (337.5 is standard).
func KeratometricDioptres(rMM, index float64) float64 { return index / rMM }

// KeratometricRadiusMM converts keratometric dioptres back to a radius
// (mm): index / dioptres.
func KeratometricRadiusMM(dioptres, index float64) float64 { return index / dioptres }

// K is a keratometry reading: a radius and its dioptric power under the
// stated keratometric index.
type K struct {
	RadiusMM float64
	Dioptres float64
	Index    float64 // (n - 1) * 1000, e.g. 337.5
}

// PFromE returns the shape factor p for a signed eccentricity e (negative
// for an oblate surface): p = 1 - e*|e|. It inverts Conic.E.
func PFromE(e float64) float64 { return 1 - e*math.Abs(e) }

// Conic is a rotationally symmetric conic surface, as fitted by FitConic or
// BestFitSphere or written by hand (only R0MM and P are needed to evaluate
// it; the other fields describe a fit).
type Conic struct {
	R0MM float64 // apical radius of curvature, mm
	P    float64 // shape factor p = 1 - e^2 (1 for a sphere)

	// The fit's apex in the surface frame: the lateral decentration (zero
	// unless fitted) and the depth offset of the apex below z = 0; and the
	// tilt of its axis (zero unless fitted; see Pose).
	ApexXMM, ApexYMM, ApexZMM float64
	TiltXDeg, TiltYDeg        float64

	ZoneDiameterMM float64 // diameter of the zone fitted, centred on x = y = 0
	MaxRadiusMM    float64 // distance from the zone centre of the furthest point used
	Points         int     // number of points used
	Coverage       float64 // fraction (0..1) of the zone's area that holds data
	ResidualRMSUM  float64 // root mean square of the height residuals, microns
	Iterations     int     // Levenberg-Marquardt iterations taken
}

// E returns the signed eccentricity: sqrt(1 - p) for p <= 1 (prolate,
// spherical), -sqrt(p - 1) for an oblate surface. Not to be confused with
// the ANSI Z80.23 shape factor E = e^2 (that is 1 - P).
func (c Conic) E() float64 {
	return eOf(c.P)
}

// Pose returns where the fit placed the conic's apex on the map.
func (c Conic) Pose() Pose {
	return Pose{XMM: c.ApexXMM, YMM: c.ApexYMM, ZMM: c.ApexZMM, TiltXDeg: c.TiltXDeg, TiltYDeg: c.TiltYDeg}
}

func eOf(p float64) float64 {
	if p <= 1 {
		return math.Sqrt(1 - p)
	}
	return -math.Sqrt(p - 1)
}

// Q returns the asphericity Q = p - 1 (-e^2 for a prolate surface).
func (c Conic) Q() float64 { return c.P - 1 }

// MaxChordMM returns the widest chord on which the conic is defined: for
// p > 0 the surface turns vertical at semi-chord R0 / sqrt(p); for p <= 0
// (paraboloid, hyperboloid) every chord is defined (+Inf).
func (c Conic) MaxChordMM() float64 {
	if c.P <= 0 {
		return math.Inf(1)
	}
	return 2 * c.R0MM / math.Sqrt(c.P)
}

func (c Conic) check(op string) error {
	if !(c.R0MM > 0) || math.IsInf(c.R0MM, 0) || math.IsNaN(c.P) || math.IsInf(c.P, 0) {
		return errs.Ef(op, errs.Invalid, "conic needs a positive finite R0 and a finite p")
	}
	return nil
}

// semi checks a semi-chord and returns R0^2 - p*y^2.
func (c Conic) semi(op string, y float64, what string) (float64, error) {
	if err := c.check(op); err != nil {
		return 0, err
	}
	if !(y >= 0) || math.IsInf(y, 0) {
		return 0, errs.Ef(op, errs.Invalid, "%s must be a finite, non-negative number of mm", what)
	}
	disc := c.R0MM*c.R0MM - c.P*y*y
	if disc < 0 {
		return 0, errs.Ef(op, errs.Invalid, "a %.2f mm chord exceeds what this conic supports (R0 %.2f mm, p %.3f: at most %.2f mm)",
			2*y, c.R0MM, c.P, c.MaxChordMM())
	}
	return disc, nil
}

// Sag returns the sagittal height (mm) of the conic at a full chord (mm):
// its depth between the apex and the circle of that diameter. Chords wider
// than MaxChordMM are an errs.Invalid error. Use Extrapolates to know
// whether the chord is beyond the data a fitted conic came from.
func (c Conic) Sag(chordMM float64) (float64, error) {
	y := chordMM / 2
	disc, err := c.semi("cornea.Conic.Sag", y, "chord")
	if err != nil {
		return 0, err
	}
	return y * y / (c.R0MM + math.Sqrt(disc)), nil
}

// SlopeAt returns dz/dy at a semi-chord (mm): y / sqrt(R0^2 - p*y^2). It is
// +Inf where the surface turns vertical.
func (c Conic) SlopeAt(semiChordMM float64) (float64, error) {
	disc, err := c.semi("cornea.Conic.SlopeAt", semiChordMM, "semi-chord")
	if err != nil {
		return 0, err
	}
	if disc == 0 {
		return math.Inf(1), nil
	}
	return semiChordMM / math.Sqrt(disc), nil
}

// TangentAngleDeg returns the angle (degrees) between the surface tangent
// at a semi-chord (mm) and the apex tangent plane: atan(dz/dy). It drives
// landing-zone angles.
func (c Conic) TangentAngleDeg(semiChordMM float64) (float64, error) {
	disc, err := c.semi("cornea.Conic.TangentAngleDeg", semiChordMM, "semi-chord")
	if err != nil {
		return 0, err
	}
	return math.Atan2(semiChordMM, math.Sqrt(disc)) * 180 / math.Pi, nil
}

// AxialRadiusMM returns the sagittal (axial) radius of curvature at a
// semi-chord (mm): sqrt(R0^2 + e^2*y^2), the radius a Placido axial map
// shows there.
func (c Conic) AxialRadiusMM(semiChordMM float64) (float64, error) {
	if _, err := c.semi("cornea.Conic.AxialRadiusMM", semiChordMM, "semi-chord"); err != nil {
		return 0, err
	}
	return math.Sqrt(c.R0MM*c.R0MM + (1-c.P)*semiChordMM*semiChordMM), nil
}

// TangentialRadiusMM returns the tangential (instantaneous) radius of
// curvature at a semi-chord (mm): axial^3 / R0^2.
func (c Conic) TangentialRadiusMM(semiChordMM float64) (float64, error) {
	a, err := c.AxialRadiusMM(semiChordMM)
	if err != nil {
		return 0, err
	}
	return a * a * a / (c.R0MM * c.R0MM), nil
}

// FlatK returns the flat keratometry of the conic under the given
// keratometric index ((n - 1) * 1000; StandardKeratometricIndex is 337.5):
// its apical radius R0 and index / R0. A rotationally symmetric fit is the
// mean of the meridians, so flat and steep K coincide here; the toric fit
// separates them. For a Sim-K-like reading over the central 3 mm, use
// AxialRadiusMM(1.5) with KeratometricDioptres.
func (c Conic) FlatK(index float64) K {
	return K{RadiusMM: c.R0MM, Dioptres: KeratometricDioptres(c.R0MM, index), Index: index}
}

// Extrapolates reports whether a chord (mm) reaches beyond the data the
// conic was fitted to (wider than twice MaxRadiusMM), so that the sag there
// is the fitted conic's extrapolation rather than a measured height. It is
// true for any chord of a conic not produced by a fit. Design output should
// say when it relied on extrapolation.
func (c Conic) Extrapolates(chordMM float64) bool { return chordMM/2 > c.MaxRadiusMM }
