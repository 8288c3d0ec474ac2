// Package lathe writes and reads the point files a contact-lens lathe cuts
// from: the DAC ALM format, .V5B for the back surface and .V5F for the
// front surface, and samples a design's sag profile into them.
//
// A point file is plain text. Each line is a value, padded to 20 columns,
// then "\ comment"; a line starting with "\" is a comment:
//
//	BR                  \ side: BR back surface, FR front surface
//	0                   \ rotational symmetry: 0 symmetric, 1 not
//	1                   \ number of continuous surfaces
//	8.54                \ base curve radius, horizontal meridian (mm, information only)
//	8.54                \ base curve radius, vertical meridian (mm, information only)
//	6.0                 \ base curve optic zone diameter (mm)
//	10.4                \ lens diameter (mm)
//	1                   \ number of parts to cut
//	1.8144467351        \ sag without edge radius (mm, information only)
//	\-- SURFACE DEFINITION #1 --
//	0                   \ rotational symmetry: 0 symmetric, 1 not
//	5.2                 \ x start: distance from centre (mm)
//	0.0                 \ x end (mm)
//	0.0                 \ junction blend radius (mm)
//	0                   \ angular filtering (MAF iterations)
//	1                   \ number of meridians
//	0.0                 \ rotation angle of the first meridian (deg)
//	\ --- radial definition ---
//	1041                \ number of points, meridian 1 at 0.0 deg
//	5.2000000000 ; 1.8144467351
//	...
//	0.0000000000 ; 0.0000000000
//
// Header values are written with up to ten decimals, points as "x ; z" in
// millimetres with exactly ten. Each meridian lists its points from the
// edge (largest x) to the centre (x = 0). A rotationally symmetric surface
// has one meridian; a toric or quadrant-specific surface lists several,
// equally spaced around the full turn: meridian i (from 0) lies at the
// first meridian's rotation angle + i * 360 / n degrees, so a toric
// surface needs at least four (0, 90, 180 and 270 degrees from its axis)
// and a two-meridian file describes the two halves of one meridian (for
// example nasal and temporal).
//
// In memory a Surface always holds the design's sag: z = 0 at the centre,
// increasing towards the edge. A front surface file carries every z offset
// by the centre thickness (its centre point is at z = CT); Write adds the
// offset and Parse removes it.
//
// The package is pure: no I/O beyond the io.Writer and []byte it is given.
package lathe

import (
	"math"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// Limits on what a point file may hold. They bound memory for hostile
// input and keep every value inside the fixed-point range the writer uses.
const (
	// MaxMeridians is the largest number of meridians in one surface.
	MaxMeridians = 360
	// MaxPoints is the largest number of points in one meridian.
	MaxPoints = 100_000
	// MaxAbsMM bounds every x and z coordinate (and header length).
	MaxAbsMM = 100.0
	// MaxCenterThicknessMM bounds the centre thickness of a front surface.
	MaxCenterThicknessMM = 10.0
	// MinStepMM is the smallest x distance between consecutive points: ten
	// times the file's resolution (1e-10 mm), so that writing with ten
	// decimals can never merge or reorder two points.
	MinStepMM = 1e-9
	// CentreTolMM is how far the centre point may be from (0, 0) (or from
	// (0, CT) on a front surface file); Write writes it exactly.
	CentreTolMM = 1e-9
	// MaxParts bounds the number of parts to cut.
	MaxParts = 10_000
	// MaxMAFIterations bounds the angular filtering iterations.
	MaxMAFIterations = 1_000
)

// Side says which surface of the lens a point file describes.
type Side int

// The two sides. The zero Side is invalid, so that a surface never becomes
// a back surface by omission.
const (
	Back  Side = iota + 1 // back (ocular) surface, .V5B, marker BR
	Front                 // front surface, .V5F, marker FR
)

// String returns "back" or "front".
func (s Side) String() string {
	switch s {
	case Back:
		return "back"
	case Front:
		return "front"
	}
	return "invalid side"
}

// Marker returns the side marker of the file's first line: "BR" or "FR".
func (s Side) Marker() string {
	switch s {
	case Back:
		return "BR"
	case Front:
		return "FR"
	}
	return ""
}

// Ext returns the file extension for the side: ".V5B" or ".V5F".
func (s Side) Ext() string {
	switch s {
	case Back:
		return ".V5B"
	case Front:
		return ".V5F"
	}
	return ""
}

func (s Side) valid() bool { return s == Back || s == Front }

// Point is one profile point: x is the distance from the centre and z the
// sag, both in millimetres.
type Point struct {
	XMM, ZMM float64
}

// Meridian is the profile of one meridian, from the edge (largest x) to the
// centre (0, 0).
type Meridian struct {
	AngleDeg float64 // rotation angle of this meridian, degrees in [0, 360)
	Points   []Point
}

// SagMM returns the sag at the distance rMM from the centre by linear
// interpolation between the meridian's points, as a lathe reads them. ok is
// false when rMM lies outside [0, x of the first point] or the meridian has
// no points.
func (m Meridian) SagMM(rMM float64) (zMM float64, ok bool) {
	p := m.Points
	n := len(p)
	if n == 0 || !(rMM >= p[n-1].XMM && rMM <= p[0].XMM) {
		return math.NaN(), false
	}
	// Points run from the edge (index 0) to the centre: find the first index
	// whose x is <= rMM.
	lo, hi := 0, n-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p[mid].XMM > rMM {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 || p[lo].XMM == rMM {
		return p[lo].ZMM, true
	}
	return lerp(p[lo-1], p[lo], rMM), true
}

// lerp interpolates linearly between a (outer) and b (inner) at r. Sample
// and Verify use the same formula, so the sampler's error estimate is the
// error Verify measures.
func lerp(a, b Point, r float64) float64 {
	t := (r - b.XMM) / (a.XMM - b.XMM)
	return b.ZMM + (a.ZMM-b.ZMM)*t
}

// Surface is one lens surface as a lathe cuts it: header information and
// the profile of each meridian.
type Surface struct {
	Side Side
	// Meridians, equally spaced around the full turn from the first (see the
	// package comment). One meridian means rotationally symmetric.
	Meridians []Meridian

	BaseCurveHMM float64 // base curve radius in the horizontal meridian (information only)
	BaseCurveVMM float64 // base curve radius in the vertical meridian (information only)
	OpticZoneMM  float64 // base curve optic zone diameter
	DiameterMM   float64 // lens (total) diameter
	Parts        int     // number of parts to cut, at least 1
	SagMM        float64 // sag without edge radius (information only)

	// CenterThicknessMM is the front surface's z offset: the centre
	// thickness. It must be zero on a back surface.
	CenterThicknessMM float64

	BlendRadiusMM float64 // junction blend radius, 0 for none
	MAFIterations int     // angular filtering iterations, 0 for none
}

// Symmetric reports whether the surface is rotationally symmetric (one
// meridian).
func (s Surface) Symmetric() bool { return len(s.Meridians) == 1 }

// XStartMM returns the surface's x start: the distance from the centre of
// the first (edge) point, or 0 when there is none.
func (s Surface) XStartMM() float64 {
	if len(s.Meridians) == 0 || len(s.Meridians[0].Points) == 0 {
		return 0
	}
	return s.Meridians[0].Points[0].XMM
}

// MeridianAngleDeg returns the rotation angle of meridian i of n when the
// first lies at firstDeg: firstDeg + i*360/n, reduced to [0, 360).
func MeridianAngleDeg(firstDeg float64, i, n int) float64 {
	a := firstDeg + float64(i)*360/float64(n)
	a = math.Mod(a, 360)
	if a < 0 {
		a += 360
	}
	if a >= 360 { // -tiny + 360 rounds to 360
		a = 0
	}
	return a
}

// angleTolDeg is how far a meridian's angle may be from its place in the
// equal spacing; header angles are written with six decimals.
const angleTolDeg = 1e-6

const opValidate = "lathe.Validate"

// Validate checks that the surface can be written and cut: a valid side;
// 1 to MaxMeridians meridians, equally spaced from the first (angle in
// [0, 360)); in every meridian 2 to MaxPoints finite points, x strictly
// decreasing from the edge (at least MinStepMM apart) to a centre point at
// (0, 0), every meridian starting at the same x, no coordinate beyond
// MaxAbsMM; header values finite and in range, the edge inside the lens
// diameter, the optic zone inside the lens, and a centre thickness on front
// surfaces only. Errors are errs.Invalid and name the field.
func (s Surface) Validate() error {
	if !s.Side.valid() {
		return errs.Field(opValidate, "side", "must be Back or Front, got %d", int(s.Side))
	}
	if err := s.validateHeader(); err != nil {
		return err
	}
	n := len(s.Meridians)
	if n < 1 {
		return errs.Field(opValidate, "meridians", "at least one meridian is required")
	}
	if n > MaxMeridians {
		return errs.Field(opValidate, "meridians", "%d meridians, at most %d are allowed", n, MaxMeridians)
	}
	first := s.Meridians[0].AngleDeg
	if !(first >= 0 && first < 360) {
		return errs.Field(opValidate, "meridians[0].angle", "%g deg is not in [0, 360)", first)
	}
	xStart := s.XStartMM()
	for i, m := range s.Meridians {
		field := "meridians[" + itoa(i) + "]"
		want := MeridianAngleDeg(first, i, n)
		if d := math.Abs(m.AngleDeg - want); !(d <= angleTolDeg || math.Abs(d-360) <= angleTolDeg) {
			return errs.Field(opValidate, field+".angle", "%g deg, want %g: meridians must be equally spaced, %g deg apart, from the first", m.AngleDeg, want, 360/float64(n))
		}
		if err := validatePoints(m.Points, field); err != nil {
			return err
		}
		if x := m.Points[0].XMM; math.Abs(x-xStart) > CentreTolMM {
			return errs.Field(opValidate, field+".points[0]", "starts at x = %g mm but meridian 0 starts at %g mm: all meridians must start at the same x", x, xStart)
		}
	}
	if xStart > s.DiameterMM/2+1e-6 {
		return errs.Field(opValidate, "diameter", "profile reaches x = %g mm, beyond the lens edge at %g mm", xStart, s.DiameterMM/2)
	}
	return nil
}

func (s Surface) validateHeader() error {
	checks := []struct {
		name     string
		v        float64
		min, max float64
	}{
		{"baseCurveH", s.BaseCurveHMM, 0, MaxAbsMM},
		{"baseCurveV", s.BaseCurveVMM, 0, MaxAbsMM},
		{"opticZone", s.OpticZoneMM, 0, MaxAbsMM},
		{"diameter", s.DiameterMM, 0, MaxAbsMM},
		{"sag", s.SagMM, -MaxAbsMM, MaxAbsMM},
		{"blendRadius", s.BlendRadiusMM, 0, MaxAbsMM},
	}
	for _, c := range checks {
		if !(c.v >= c.min && c.v <= c.max) {
			return errs.Field(opValidate, c.name, "%g mm is not in [%g, %g]", c.v, c.min, c.max)
		}
	}
	if !(s.DiameterMM > 0) {
		return errs.Field(opValidate, "diameter", "must be positive")
	}
	if s.OpticZoneMM > s.DiameterMM {
		return errs.Field(opValidate, "opticZone", "%g mm is larger than the lens diameter %g mm", s.OpticZoneMM, s.DiameterMM)
	}
	if s.Parts < 1 || s.Parts > MaxParts {
		return errs.Field(opValidate, "parts", "%d is not in [1, %d]", s.Parts, MaxParts)
	}
	if s.MAFIterations < 0 || s.MAFIterations > MaxMAFIterations {
		return errs.Field(opValidate, "mafIterations", "%d is not in [0, %d]", s.MAFIterations, MaxMAFIterations)
	}
	switch s.Side {
	case Back:
		if s.CenterThicknessMM != 0 {
			return errs.Field(opValidate, "centerThickness", "a back surface carries no centre thickness offset, got %g mm", s.CenterThicknessMM)
		}
	case Front:
		if !(s.CenterThicknessMM > 0 && s.CenterThicknessMM <= MaxCenterThicknessMM) {
			return errs.Field(opValidate, "centerThickness", "%g mm is not in (0, %g]: a front surface needs its centre thickness", s.CenterThicknessMM, MaxCenterThicknessMM)
		}
	}
	return nil
}

// validatePoints checks one meridian's profile; field names the meridian.
func validatePoints(p []Point, field string) error {
	n := len(p)
	if n < 2 {
		return errs.Field(opValidate, field+".points", "%d points, at least 2 are required (edge and centre)", n)
	}
	if n > MaxPoints {
		return errs.Field(opValidate, field+".points", "%d points, at most %d are allowed", n, MaxPoints)
	}
	for j, q := range p {
		if !(math.Abs(q.XMM) <= MaxAbsMM && math.Abs(q.ZMM) <= MaxAbsMM) {
			return errs.Field(opValidate, pointField(field, j), "(%g, %g) is not finite or beyond %g mm", q.XMM, q.ZMM, MaxAbsMM)
		}
		if j > 0 && !(p[j-1].XMM-q.XMM >= MinStepMM) {
			return errs.Field(opValidate, pointField(field, j), "x = %.10f mm does not decrease from the previous point's %.10f mm by at least %g mm: points run from the edge to the centre", q.XMM, p[j-1].XMM, MinStepMM)
		}
	}
	if c := p[n-1]; c.XMM != 0 || math.Abs(c.ZMM) > CentreTolMM {
		return errs.Field(opValidate, pointField(field, n-1), "the last point must be the centre (0, 0), got (%g, %g)", c.XMM, c.ZMM)
	}
	return nil
}

func pointField(meridian string, j int) string {
	return meridian + ".points[" + itoa(j) + "]"
}

func itoa(i int) string {
	var b [20]byte
	return string(appendInt(b[:0], int64(i)))
}

// FileName returns the point file's name for a job or design: id followed
// by ".V5B" (back) or ".V5F" (front). The id must be an opaque identifier,
// never anything that identifies a patient. Characters other than ASCII
// letters, digits, '-' and '_' are replaced by '_' so that the name is
// always one plain file name. It returns "" for an invalid side.
func FileName(jobOrDesignID string, side Side) string {
	ext := side.Ext()
	if ext == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(jobOrDesignID) + 4)
	for _, r := range jobOrDesignID {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteByte('_')
	}
	b.WriteString(ext)
	return b.String()
}
