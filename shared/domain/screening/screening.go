// Package screening reads a fitted cornea for signs of keratoconus, of a
// post-refractive (oblate) shape and of irregularity, and names the
// pattern the lab acts on: keratoconus and ectasia are the core of the
// scleral market and a contraindication for ortho-k, and an oblate cornea
// after myopic LASIK needs a different ortho-k approach.
//
// # Indices
//
// Screen computes the Rabinowitz/KISA family of Placido indices from the
// axial (sagittal) power map of the cornea, sampling it with 120 calls of
// Map.AxialPowerD: three central rings, 1.0, 1.5 and 2.0 mm from the
// apex (the 2, 3 and 4 mm rings by diameter), every 10 degrees of
// semi-meridian from 0 (36 points each), and a ring 3.0 mm from the apex
// every 30 degrees (12 points).
//
//   - Central K is the mean axial power of the 108 points of the three
//     central rings, every point weighted alike.
//   - I-S is the mean power of the five inferior points 3.0 mm from the
//     apex (semi-meridians 210, 240, 270, 300 and 330) less the mean of
//     the five superior ones (30, 60, 90, 120 and 150). The handbook's
//     "at 3 mm" is a radius: Rabinowitz placed the points 3 mm from the
//     centre, on the 6 mm circle. I-S is signed; a superior steepening
//     gives a negative I-S, which crosses no threshold.
//   - SRAX is the skew of the steepest radial axes on the 3 mm ring (1.5
//     mm from the apex): the steepest semi-meridian above the horizontal
//     (0 <= angle < 180) and the steepest below it (180 <= angle < 360),
//     each refined between samples by a parabola through the steepest
//     sample and its two neighbours, are separated by an angle d (0-180
//     degrees) and SRAX = 180 - d, the angle by which they depart from a
//     straight line. A half of the ring whose power varies by less than
//     Table.SRAXDeg.MinRangeD has no steepest axis (a spherical or
//     rotationally symmetric cornea has no bow tie to skew): SRAX is then
//     0 and a note says why. A single steep lobe across the horizontal
//     meridian is found by both halves, on nearly the same semi-meridian,
//     and gives a SRAX near 180: that is the definition, not a fault.
//   - AST is the Sim-K astigmatism, steep less flat (Inputs.SimK).
//   - KISA% = K x I-S x AST x SRAX x 100 / 300 with K the central K. The
//     product only scores an inferior steepening on an astigmatic cornea:
//     an I-S of zero or below, or an AST of zero, makes it 0 (never
//     negative), and a tiny AST gives a proportionally tiny KISA%. That is
//     Rabinowitz's design (the index separates keratoconus from a regular
//     bow tie); a cone on a spherical cornea is caught by I-S and central
//     K instead.
//   - Apical K, Q and the residual RMS come from the fitted surface
//     (Inputs); the dominant higher-order Zernike terms (radial order 3 and
//     above, largest first, at most three) from its Zernike expansion.
//   - The steepest point is the steepest of all the points sampled.
//
// A point the map does not hold (an error of kind errs.NotFound or
// errs.Invalid from AxialPowerD, as beyond a lid) leaves the indices that
// need it uncomputed (null in JSON) with a note; KISA% needs central K,
// I-S and SRAX. Screen fails only when no point of the central rings is
// measured, or on any other error from the map.
//
// # Decision rule
//
// Each index is compared with the thresholds of a versioned Table (the
// default is lensflow-screening 2026.1, with the published values); a
// value crosses a threshold when it is strictly above it, and every
// crossing is written to Result.Reasons. The pattern is the first of:
//
//  1. keratoconus: any keratoconus threshold crossed (central K, I-S,
//     KISA%, apical K). A single index is enough: the screen errs towards
//     flagging, because the consequence (an ortho-k design refused unless
//     overridden, a scleral referral) is reversible, while ortho-k on an
//     ectatic cornea is not. A high residual beside a keratoconic pattern
//     is part of that pattern (a cone is what a biconic cannot fit), so it
//     is still keratoconus, and so is an oblate cornea with one (ectasia
//     after LASIK).
//  2. oblate: Q above Table.Q.Oblate (p > 1), the post-myopic-refractive
//     shape. It outranks irregular and suspect because it decides the
//     ortho-k approach, and a treated cornea is often also decentred or
//     irregular.
//  3. irregular: the residual RMS of the biconic fit above
//     Table.ResidualRMSUM.Irregular without a keratoconic pattern (scars,
//     surgery, a wrong fit): the conic-based numbers of a design cannot be
//     trusted as they stand.
//  4. suspect: any suspect threshold crossed (central K, I-S, SRAX, KISA%,
//     apical K): a cornea to review before a design is released.
//  5. regular: nothing crossed.
//
// A vertical coma that leads the higher-order terms points the same way as
// an inferior cone; it never sets the pattern (a decentred apex, common on
// normal corneas, also makes coma) but is added to the reasons of a
// suspect or keratoconic pattern as support.
//
// The package is pure: no I/O beyond reading a table, no logging, no
// global mutable state.
package screening

import (
	"fmt"
	"math"
	"slices"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/errs"
)

// Map is what screening reads of a fitted cornea.
type Map interface {
	// AxialPowerD is the axial (sagittal) power in keratometric dioptres at a point radiusMM from
	// the corneal apex along the semi-meridian semiMeridianDeg (TABO degrees 0-360, counterclockwise
	// from the examiner's right, examiner's view for both eyes: 90 superior, 270 inferior).
	// Where the map holds no data it returns an error of kind errs.NotFound
	// (or errs.Invalid); any other error stops the screening.
	AxialPowerD(semiMeridianDeg, radiusMM float64) (float64, error)
}

// SimK is the keratometry of the principal meridians, in dioptres.
type SimK struct {
	FlatD, SteepD float64
	FlatAxisDeg   float64 // TABO, examiner's view, 0-180
}

// Inputs is what Screen reads of a scan's fitted cornea.
type Inputs struct {
	Map      Map
	SimK     SimK    // flat and steep Sim-K in D, flat axis (TABO 0-180)
	ApicalKD float64 // apical curvature of the fitted surface in D (mean of the principal meridians)
	Q        float64 // asphericity of the mean conic (p - 1); Q > 0 is oblate
	// ZernikeUM are the OSA/ANSI coefficients of the corneal height (depth
	// below the apex tangent plane, positive into the eye), microns, by
	// single index j; nil when there is no expansion.
	ZernikeUM     []float64
	ZernikeZoneMM float64 // diameter of the disk expanded; needed with ZernikeUM
	ResidualRMSUM float64 // RMS of the height residuals of the biconic fit, microns
}

// Pattern is what a screening concludes.
type Pattern string

// The patterns, in order of precedence.
const (
	Keratoconus Pattern = "keratoconus"
	Oblate      Pattern = "oblate"
	Irregular   Pattern = "irregular"
	Suspect     Pattern = "suspect"
	Regular     Pattern = "regular"
)

// Point is one point of the axial map.
type Point struct {
	SemiMeridianDeg float64 `json:"semiMeridian_deg"` // TABO, 0-360
	RadiusMM        float64 `json:"radius_mm"`        // from the apex
	PowerD          float64 `json:"power_D"`          // axial power
}

// Indices are the screening indices of one cornea. The ones read from the
// map are nil (null in JSON) when the map does not hold the points they
// need.
type Indices struct {
	CentralKD   *float64 `json:"centralK_D"`
	ISD         *float64 `json:"iS_D"`
	SRAXDeg     *float64 `json:"srax_deg"`
	KISAPercent *float64 `json:"kisaPercent"`
	// SteepestAxisSuperiorDeg and SteepestAxisInferiorDeg are the steepest
	// radial axes SRAX compares (TABO, 0-360), nil when that half of the
	// ring has none.
	SteepestAxisSuperiorDeg *float64 `json:"steepestAxisSuperior_deg,omitempty"`
	SteepestAxisInferiorDeg *float64 `json:"steepestAxisInferior_deg,omitempty"`
	ASTD                    float64  `json:"ast_D"`
	ApicalKD                float64  `json:"apicalK_D"`
	Q                       float64  `json:"q"`
	ResidualRMSUM           float64  `json:"residualRMS_um"`
	// Steepest is the steepest of the points sampled.
	Steepest Point `json:"steepest"`
}

// Term is one Zernike term of the corneal height.
type Term struct {
	J             int     `json:"j"` // OSA/ANSI single index
	N             int     `json:"n"` // radial order
	M             int     `json:"m"` // angular frequency
	Name          string  `json:"name"`
	CoefficientUM float64 `json:"coefficient_um"`
}

// Result is a screening, in the API's words.
type Result struct {
	Pattern Pattern `json:"pattern"`
	Indices Indices `json:"indices"`
	// DominantTerms are the higher-order (n >= 3) Zernike terms of the
	// height with the largest |coefficient|, largest first, at most
	// MaxDominantTerms; over a disk of ZernikeZoneMM.
	DominantTerms []Term  `json:"dominantTerms"`
	ZernikeZoneMM float64 `json:"zernikeZone_mm,omitempty"`
	// Table is the threshold table used, as "name@version".
	Table string `json:"table"`
	// Reasons says, in plain words, which index crossed which threshold.
	Reasons []string `json:"reasons"`
	// Notes says what limited the screening (indices not computed, a
	// SRAX without steepest axes).
	Notes []string `json:"notes,omitempty"`
}

// Sampling of the axial map (see the package comment).
const (
	// SemiMeridianStepDeg is the spacing of the points on the central rings.
	SemiMeridianStepDeg = 10
	// SRAXRadiusMM is the ring SRAX is read on (the 3 mm ring).
	SRAXRadiusMM = 1.5
	// ISRadiusMM is the distance from the apex of the I-S points.
	ISRadiusMM = 3.0
	// ISStepDeg is the spacing of the points on the I-S ring.
	ISStepDeg = 30
	// MaxDominantTerms is the number of higher-order Zernike terms reported.
	MaxDominantTerms = 3
)

// CentralRadiiMM are the rings central K averages: the 2, 3 and 4 mm
// rings, as distances from the apex. SRAXRadiusMM is one of them.
func CentralRadiiMM() []float64 { return []float64{1.0, 1.5, 2.0} }

// FromModel returns the screening inputs of a fitted corneal model: its
// axial map about the apex (the model itself is the Map), Sim-K on the
// 3 mm ring, the apical K as the mean of the biconic's principal
// meridians, Q of the mean conic, the biconic's residual RMS and the
// Zernike expansion when there is one.
func FromModel(m *cornea.Model) Inputs {
	in := Inputs{
		Map:           m,
		SimK:          SimK{FlatD: m.SimK.Flat.Dioptres, SteepD: m.SimK.Steep.Dioptres, FlatAxisDeg: m.SimK.FlatAxisDeg},
		ApicalKD:      (m.ApicalK.Flat.Dioptres + m.ApicalK.Steep.Dioptres) / 2,
		Q:             m.Mean.Q(),
		ResidualRMSUM: m.ResidualRMSUM,
	}
	if z := m.Zernike; z != nil {
		in.ZernikeUM, in.ZernikeZoneMM = z.CoefficientsUM, z.ZoneDiameterMM
	}
	return in
}

const (
	ringPoints   = 360 / SemiMeridianStepDeg
	isRingPoints = 360 / ISStepDeg
	sraxRing     = 1 // index of SRAXRadiusMM in CentralRadiiMM
)

// Screen computes the screening indices of a cornea and the pattern the
// table makes of them. Inputs out of range and an invalid table are
// errs.Invalid errors naming the field; errors from the map other than
// "no data here" are returned with their kind.
func Screen(in Inputs, t Table) (Result, error) {
	const op = "screening.Screen"
	if err := t.validate(op); err != nil {
		return Result{}, err
	}
	if err := in.check(op); err != nil {
		return Result{}, err
	}
	s, err := sample(op, in.Map)
	if err != nil {
		return Result{}, err
	}
	r := Result{
		Table:   t.Name + "@" + t.Version,
		Reasons: []string{},
		Indices: Indices{
			ASTD:     in.SimK.SteepD - in.SimK.FlatD,
			ApicalKD: in.ApicalKD, Q: in.Q, ResidualRMSUM: in.ResidualRMSUM,
			Steepest: s.steepest,
		},
	}
	r.indices(s, t)
	r.DominantTerms = dominantTerms(in.ZernikeUM)
	if len(r.DominantTerms) > 0 {
		r.ZernikeZoneMM = in.ZernikeZoneMM
	}
	r.decide(t)
	return r, nil
}

func (in Inputs) check(op string) error {
	if in.Map == nil {
		return errs.Field(op, "Map", "a screening needs the axial map of the cornea")
	}
	kOK := func(v float64) bool { return v >= 20 && v <= 100 }
	switch {
	case !kOK(in.SimK.FlatD):
		return errs.Field(op, "SimK.FlatD", "%g is not a corneal power (20 to 100 D)", in.SimK.FlatD)
	case !kOK(in.SimK.SteepD):
		return errs.Field(op, "SimK.SteepD", "%g is not a corneal power (20 to 100 D)", in.SimK.SteepD)
	case in.SimK.SteepD < in.SimK.FlatD:
		return errs.Field(op, "SimK.SteepD", "the steep K %g D is flatter than the flat K %g D", in.SimK.SteepD, in.SimK.FlatD)
	case !(in.SimK.FlatAxisDeg >= 0 && in.SimK.FlatAxisDeg <= 180):
		return errs.Field(op, "SimK.FlatAxisDeg", "%g is not a TABO axis (0 to 180)", in.SimK.FlatAxisDeg)
	case !kOK(in.ApicalKD):
		return errs.Field(op, "ApicalKD", "%g is not a corneal power (20 to 100 D)", in.ApicalKD)
	case !(in.Q >= -5 && in.Q <= 5):
		return errs.Field(op, "Q", "%g is out of range (-5 to 5)", in.Q)
	case !(in.ResidualRMSUM >= 0) || math.IsInf(in.ResidualRMSUM, 0):
		return errs.Field(op, "ResidualRMSUM", "must be a finite number of microns, 0 or more")
	}
	for j, c := range in.ZernikeUM {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return errs.Field(op, fmt.Sprintf("ZernikeUM[%d]", j), "is not finite")
		}
	}
	if len(in.ZernikeUM) > 0 && !(in.ZernikeZoneMM > 0 && in.ZernikeZoneMM <= 30) {
		return errs.Field(op, "ZernikeZoneMM", "must be the diameter (more than 0, at most 30 mm) of the disk the coefficients expand")
	}
	return nil
}

// samples holds the points read from the map; NaN where the map holds no
// data.
type samples struct {
	central  [3][ringPoints]float64
	is       [isRingPoints]float64
	steepest Point
}

// sample reads the map at every point the indices need.
func sample(op string, m Map) (*samples, error) {
	s := &samples{}
	s.steepest.PowerD = math.Inf(-1)
	read := func(deg, r float64) (float64, error) {
		p, err := m.AxialPowerD(deg, r)
		if err != nil {
			if k := errs.KindOf(err); k == errs.NotFound || k == errs.Invalid {
				return math.NaN(), nil
			}
			return 0, errs.Wrap(op, fmt.Errorf("axial power %g mm from the apex along %g degrees: %w", r, deg, err))
		}
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return 0, errs.Ef(op, errs.Invalid, "the map's axial power %g mm from the apex along %g degrees is not finite", r, deg)
		}
		if p > s.steepest.PowerD {
			s.steepest = Point{SemiMeridianDeg: deg, RadiusMM: r, PowerD: p}
		}
		return p, nil
	}
	for k, r := range CentralRadiiMM() {
		for i := range ringPoints {
			p, err := read(float64(i*SemiMeridianStepDeg), r)
			if err != nil {
				return nil, err
			}
			s.central[k][i] = p
		}
	}
	if math.IsInf(s.steepest.PowerD, -1) {
		return nil, errs.Ef(op, errs.Invalid, "the map holds no axial power on the central 2-4 mm rings")
	}
	for i := range isRingPoints {
		p, err := read(float64(i*ISStepDeg), ISRadiusMM)
		if err != nil {
			return nil, err
		}
		s.is[i] = p
	}
	return s, nil
}

// firstMissing returns the first NaN of vs as a point of the ring.
func firstMissing(vs []float64, stepDeg, r float64) (Point, bool) {
	for i, v := range vs {
		if math.IsNaN(v) {
			return Point{SemiMeridianDeg: float64(i) * stepDeg, RadiusMM: r}, true
		}
	}
	return Point{}, false
}

func ptr(v float64) *float64 { return &v }

// indices fills the map-derived indices.
func (r *Result) indices(s *samples, t Table) {
	x := &r.Indices
	radii := CentralRadiiMM()
	// Central K.
	var sum float64
	missing := false
	for k := range s.central {
		if p, ok := firstMissing(s.central[k][:], SemiMeridianStepDeg, radii[k]); ok {
			r.note("central K not computed: the map holds no data %s", p.where())
			missing = true
			break
		}
		for _, v := range s.central[k] {
			sum += v
		}
	}
	if !missing {
		x.CentralKD = ptr(sum / float64(len(s.central)*ringPoints))
	}
	// I-S: points at 30..150 (superior) and 210..330 (inferior).
	if i := slices.IndexFunc(isIndices[:], func(i int) bool { return math.IsNaN(s.is[i]) }); i >= 0 {
		r.note("I-S not computed: the map holds no data %s", Point{SemiMeridianDeg: float64(isIndices[i] * ISStepDeg), RadiusMM: ISRadiusMM}.where())
	} else {
		x.ISD = ptr(mean(s.is[7:12]) - mean(s.is[1:6]))
	}
	// SRAX on the 3 mm ring.
	ring := s.central[sraxRing][:]
	if p, ok := firstMissing(ring, SemiMeridianStepDeg, SRAXRadiusMM); ok {
		r.note("SRAX not computed: the map holds no data %s", p.where())
	} else {
		sup, supOK := steepestAxis(ring, 0, ringPoints/2, t.SRAXDeg.MinRangeD)
		inf, infOK := steepestAxis(ring, ringPoints/2, ringPoints, t.SRAXDeg.MinRangeD)
		if supOK {
			x.SteepestAxisSuperiorDeg = ptr(sup)
		}
		if infOK {
			x.SteepestAxisInferiorDeg = ptr(inf)
		}
		srax := 0.0
		if supOK && infOK {
			d := math.Abs(inf - sup)
			if d > 180 {
				d = 360 - d
			}
			srax = 180 - d
		} else {
			half := "superior and inferior halves vary"
			if supOK {
				half = "inferior half varies"
			} else if infOK {
				half = "superior half varies"
			}
			r.note("SRAX is 0: on the 3 mm ring the power of the %s by less than %g D, leaving no pair of steepest radial axes to skew", half, t.SRAXDeg.MinRangeD)
		}
		x.SRAXDeg = ptr(srax)
	}
	// KISA%.
	if x.CentralKD != nil && x.ISD != nil && x.SRAXDeg != nil {
		kisa := *x.CentralKD * max(*x.ISD, 0) * max(x.ASTD, 0) * *x.SRAXDeg * 100 / 300
		x.KISAPercent = ptr(kisa)
	} else {
		r.note("KISA%% not computed: it needs central K, I-S and SRAX")
	}
}

// isIndices are the I-S points on the 3.0 mm ring sampled every
// ISStepDeg: superior 30..150 (1-5), inferior 210..330 (7-11).
var isIndices = [...]int{1, 2, 3, 4, 5, 7, 8, 9, 10, 11}

func mean(vs []float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s / float64(len(vs))
}

// steepestAxis returns the steepest semi-meridian (degrees, 0-360) among
// the ring's samples lo <= i < hi, refined by a parabola through that
// sample and its neighbours on the ring, and false when the samples of the
// half vary by less than minRange.
func steepestAxis(ring []float64, lo, hi int, minRange float64) (float64, bool) {
	best, lowest := lo, ring[lo]
	for i := lo; i < hi; i++ {
		if ring[i] > ring[best] {
			best = i
		}
		lowest = min(lowest, ring[i])
	}
	if !(ring[best]-lowest >= minRange) || ring[best]-lowest <= 0 {
		return 0, false
	}
	n := len(ring)
	a, b, c := ring[(best+n-1)%n], ring[best], ring[(best+1)%n]
	off := 0.0
	if den := a - 2*b + c; den < 0 {
		off = math.Max(-0.5, math.Min(0.5, 0.5*(a-c)/den))
	}
	deg := math.Mod((float64(best)+off)*SemiMeridianStepDeg+360, 360)
	return deg, true
}

// where says where a point lies, for a note.
func (p Point) where() string {
	return fmt.Sprintf("%g mm from the apex along %g degrees", p.RadiusMM, p.SemiMeridianDeg)
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Result) reason(format string, args ...any) {
	r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...))
}

// decide compares the indices with the table, writes a reason for every
// threshold crossed and sets the pattern by the precedence of the package
// comment.
func (r *Result) decide(t Table) {
	x := r.Indices
	var kc, suspect bool
	band := func(name string, v *float64, unit, format string, b Band) {
		if v == nil {
			return
		}
		val := fmt.Sprintf(format, *v)
		switch {
		case *v > b.Keratoconus:
			kc = true
			r.reason("%s %s%s is above the keratoconus threshold %g%s", name, val, unit, b.Keratoconus, unit)
		case *v > b.Suspect:
			suspect = true
			r.reason("%s %s%s is above the suspect threshold %g%s (keratoconus above %g%s)", name, val, unit, b.Suspect, unit, b.Keratoconus, unit)
		}
	}
	band("central K", x.CentralKD, " D", "%.2f", t.CentralKD)
	band("I-S", x.ISD, " D", "%.2f", t.ISD)
	if x.SRAXDeg != nil && *x.SRAXDeg > t.SRAXDeg.Suspect {
		suspect = true
		r.reason("SRAX %.0f degrees is above the suspect threshold %g degrees (steepest radial axes at %.0f and %.0f degrees)",
			*x.SRAXDeg, t.SRAXDeg.Suspect, *x.SteepestAxisSuperiorDeg, *x.SteepestAxisInferiorDeg)
	}
	band("KISA%", x.KISAPercent, "", "%.0f", t.KISAPercent)
	apical := x.ApicalKD
	band("apical K", &apical, " D", "%.2f", t.ApicalKD)
	oblate := x.Q > t.Q.Oblate
	if oblate {
		r.reason("Q %.2f is above the oblate threshold %g: p %.2f is above 1, an oblate (post-refractive) shape", x.Q, t.Q.Oblate, x.Q+1)
	}
	irregular := x.ResidualRMSUM > t.ResidualRMSUM.Irregular
	if irregular {
		r.reason("residual RMS %.1f microns is above the irregular threshold %g microns", x.ResidualRMSUM, t.ResidualRMSUM.Irregular)
	}
	if (kc || suspect) && len(r.DominantTerms) > 0 && r.DominantTerms[0].J == verticalComaJ {
		r.reason("vertical coma (%.1f microns over %g mm) leads the higher-order terms, as a cone above or below the centre makes",
			r.DominantTerms[0].CoefficientUM, r.ZernikeZoneMM)
	}
	switch {
	case kc:
		r.Pattern = Keratoconus
	case oblate:
		r.Pattern = Oblate
	case irregular:
		r.Pattern = Irregular
	case suspect:
		r.Pattern = Suspect
	default:
		r.Pattern = Regular
	}
}
