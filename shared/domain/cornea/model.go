package cornea

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

// Where a sag or angle comes from, as Model.SagMM labels it: a label is
// SourceMeasured, or starts with SourceModelFilled or SourceExtrapolated
// and goes on to say how (which model, from where, in which steps).
const (
	// SourceMeasured: the exam holds data at both ends of the chord; the
	// value is the fitted surface there, which follows the data.
	SourceMeasured = "measured"
	// SourceModelFilled: the data stop short along this meridian (a lid, a
	// notch, a lash shadow) but reach as far around it; the fitted
	// biconic bridges the gap.
	SourceModelFilled = "model-filled"
	// SourceExtrapolated: beyond every datum around the meridian; the
	// fitted biconic, or the tangent line from the 10 mm chord, carries the
	// surface outwards.
	SourceExtrapolated = "extrapolated"
)

// SourceKind returns the kind of a source label: SourceMeasured,
// SourceModelFilled or SourceExtrapolated ("" for anything else).
func SourceKind(label string) string {
	for _, k := range []string{SourceMeasured, SourceModelFilled, SourceExtrapolated} {
		if strings.HasPrefix(label, k) {
			return k
		}
	}
	return ""
}

// TangentLineChordMM is the chord whose tangent line carries the sag
// outwards under ExtrapolateTangentLine.
const TangentLineChordMM = 10.0

// Defaults for ModelOptions.
const (
	// WideZoneDiameterMM is the zone the automatic choice prefers: 10 mm,
	// so that the biconic describes the cornea out to the 10 mm chord (the
	// population's 1.65-1.75 mm sag, and the base of the tangent-line
	// extrapolation). Scans that do not cover it get
	// DefaultZoneDiameterMM.
	WideZoneDiameterMM = 10.0
	// DefaultMaxExtrapolationMM is how far (mm, along a semi-meridian) the
	// fitted surface may be carried beyond the data around it before a
	// request is refused: 2 mm, enough for a 3.5 mm scan to give the 10 mm
	// chord, not enough for a 4 mm scan to give the 15 mm one.
	DefaultMaxExtrapolationMM = 2.0
	// SimKRingDiameterMM is the ring of the Sim-K reading: 3 mm, where
	// Placido devices read the axial curvature they call Sim-K.
	SimKRingDiameterMM = 3.0
	// DefaultMinQuadrantReachMM: a fit is refused when, in some 90-degree
	// sector, no data reach beyond this distance from the map centre (a
	// quadrant of the cornea unmeasured, not a lid or a notch).
	DefaultMinQuadrantReachMM = 2.5
)

// Extrapolation chooses how a Model carries sag beyond the data.
type Extrapolation int

// The extrapolation methods.
const (
	// ExtrapolateConic carries each meridian's fitted conic outwards
	// (corneal lenses: RGP, ortho-k).
	ExtrapolateConic Extrapolation = iota
	// ExtrapolateTangentLine uses the fitted conic up to the 10 mm chord
	// and the tangent line from the 10 mm chord beyond it (scleral work;
	// a conic steepens unrealistically past the limbus).
	ExtrapolateTangentLine
)

func (e Extrapolation) String() string {
	switch e {
	case ExtrapolateConic:
		return "fitted conic"
	case ExtrapolateTangentLine:
		return "tangent line from 10 mm chord"
	}
	return fmt.Sprintf("Extrapolation(%d)", int(e))
}

// ModelOptions tunes Fit. The zero value uses the defaults.
type ModelOptions struct {
	// ZoneDiameterMM is the zone the mean conic and the biconic are fitted
	// over, centred on x = y = 0. Zero chooses WideZoneDiameterMM when the
	// data cover it (as FitConic's checks define covering), otherwise
	// DefaultZoneDiameterMM; Model.ZoneDiameterMM says which.
	ZoneDiameterMM float64
	// FixedApex holds the apex at the map centre and the cornea untilted.
	// By default both are fitted (see Pose), as real maps need: they are
	// centred on the instrument axis, not on the apex.
	FixedApex bool
	// MinCoverage and MinPoints apply to every zone (defaults
	// DefaultMinCoverage, DefaultMinPoints).
	MinCoverage float64
	MinPoints   int
	// ZernikeOrder is the Zernike order fitted (default
	// DefaultZernikeOrder); a negative order skips the Zernike fit.
	ZernikeOrder int
	// ZernikeZoneDiameterMM is the disk the Zernike expansion covers
	// (default DefaultZernikeZoneDiameterMM).
	ZernikeZoneDiameterMM float64
	// KeratometricIndex is (n - 1) * 1000 for the K readings (default
	// StandardKeratometricIndex, 337.5).
	KeratometricIndex float64
	// Extrapolation is how SagMM and TangentAngleDeg go beyond the data
	// (default ExtrapolateConic); Model.WithExtrapolation changes it later.
	Extrapolation Extrapolation
	// MaxExtrapolationMM is how far beyond the data, along a
	// semi-meridian, a value may be extrapolated (default
	// DefaultMaxExtrapolationMM). Under ExtrapolateTangentLine the limit
	// applies to the 10 mm chord the tangent starts from.
	MaxExtrapolationMM float64
	// MinQuadrantReachMM refuses a map with a 90-degree sector whose data
	// stop nearer the centre than this (default
	// DefaultMinQuadrantReachMM).
	MinQuadrantReachMM float64
}

func (o ModelOptions) withDefaults() ModelOptions {
	if o.MinCoverage == 0 {
		o.MinCoverage = DefaultMinCoverage
	}
	if o.MinPoints == 0 {
		o.MinPoints = DefaultMinPoints
	}
	if o.ZernikeOrder == 0 {
		o.ZernikeOrder = DefaultZernikeOrder
	}
	if o.ZernikeZoneDiameterMM == 0 {
		o.ZernikeZoneDiameterMM = DefaultZernikeZoneDiameterMM
	}
	if o.KeratometricIndex == 0 {
		o.KeratometricIndex = StandardKeratometricIndex
	}
	if o.MaxExtrapolationMM == 0 {
		o.MaxExtrapolationMM = DefaultMaxExtrapolationMM
	}
	if o.MinQuadrantReachMM == 0 {
		o.MinQuadrantReachMM = DefaultMinQuadrantReachMM
	}
	return o
}

// FewestPoints is the fewest points Fit with options o can ever use: o's
// MinPoints in each zone and, with the Zernike fit, two points per Zernike
// term in its zone (ModelOptions{}: 90, for order 8's 45 terms). A scan
// with fewer distinct (x, y) positions cannot be fitted whatever its
// heights, so the upload refuses it at once (the zones and their coverage
// are for the fit to judge).
func (o ModelOptions) FewestPoints() int {
	o = o.withDefaults()
	n := o.MinPoints
	if o.ZernikeOrder > 0 {
		n = max(n, 2*ZernikeTerms(o.ZernikeOrder))
	}
	return n
}

func (o ModelOptions) check(op string) error {
	zoneOK := func(d float64) bool { return d > 0 && d <= 2*topo.MaxAbsXYMM }
	switch {
	case o.ZoneDiameterMM != 0 && !zoneOK(o.ZoneDiameterMM):
		return errs.Field(op, "zoneDiameterMM", "must be more than 0 and at most %g mm", 2*topo.MaxAbsXYMM)
	case !(o.MinCoverage > 0 && o.MinCoverage <= 1):
		return errs.Field(op, "minCoverage", "must be more than 0 and at most 1")
	case o.ZernikeOrder > MaxZernikeOrder:
		return errs.Field(op, "zernikeOrder", "must be at most %d (negative skips the Zernike fit)", MaxZernikeOrder)
	case !zoneOK(o.ZernikeZoneDiameterMM):
		return errs.Field(op, "zernikeZoneDiameterMM", "must be more than 0 and at most %g mm", 2*topo.MaxAbsXYMM)
	case !(o.KeratometricIndex >= 300 && o.KeratometricIndex <= 400):
		return errs.Field(op, "keratometricIndex", "must be (n - 1) * 1000 between 300 and 400, e.g. 337.5")
	case o.Extrapolation != ExtrapolateConic && o.Extrapolation != ExtrapolateTangentLine:
		return errs.Field(op, "extrapolation", "unknown method %d", int(o.Extrapolation))
	case !(o.MaxExtrapolationMM > 0) || math.IsInf(o.MaxExtrapolationMM, 0):
		return errs.Field(op, "maxExtrapolationMM", "must be a positive number of mm")
	case !(o.MinQuadrantReachMM > 0 && o.MinQuadrantReachMM <= topo.MaxAbsXYMM):
		return errs.Field(op, "minQuadrantReachMM", "must be more than 0 and at most %g mm", topo.MaxAbsXYMM)
	}
	return nil
}

// Keratometry is a reading of the two central principal meridians: the
// flat and the steep one, 90 degrees apart, and their difference.
type Keratometry struct {
	Flat, Steep               K
	FlatAxisDeg, SteepAxisDeg float64 // TABO, examiner's view, [0, 180)
	CylinderD                 float64 // Steep.Dioptres - Flat.Dioptres (>= 0)
	// ZoneMM is the ring the reading was taken on (SimKRingDiameterMM), 0
	// for the apical curvature.
	ZoneMM float64
}

// Reach records how far valid data extend from the map centre (x = y =
// 0) in each direction.
type Reach struct {
	// SectorMM[k] is the distance of the furthest valid point whose TABO
	// direction lies in [5k, 5k+5) degrees; 0 where there is none.
	SectorMM [ReachSectors]float64
	MaxMM    float64 // furthest valid point in any direction
}

// ReachSectors is the number of 5-degree semi-meridian sectors in Reach:
// coarse enough that every sector of a CSO (256 semi-meridians) or
// Pentacam (0.1 mm grid) scan holds points.
const ReachSectors = 72

// SemiMeridianMM returns how far data reach along a semi-meridian (TABO
// degrees, any value; 270 is inferior).
func (r Reach) SemiMeridianMM(deg float64) float64 {
	a := math.Mod(deg, 360)
	if a < 0 {
		a += 360
	}
	return r.SectorMM[min(int(a/(360/ReachSectors)), ReachSectors-1)]
}

// MeridianMM returns how far data reach along both halves of a meridian:
// the lesser of the semi-meridians deg and deg + 180.
func (r Reach) MeridianMM(deg float64) float64 {
	return min(r.SemiMeridianMM(deg), r.SemiMeridianMM(deg+180))
}

// Model is everything the lens designs read from a scan: the mean
// (rotationally symmetric) conic, the biconic and its principal-meridian
// conics, the apex's pose, Sim-K and the apical K, the Zernike expansion,
// the fitted surface (which follows the data where there are data), where
// the data reach, and the rules for going beyond them. Angles are TABO
// degrees in the examiner's view for both eyes (a left eye in the nasal
// frame is mirrored back); lengths, sags and curvatures are the cornea's,
// in its own frame (see Pose).
type Model struct {
	Eye               topo.Eye
	KeratometricIndex float64 // (n - 1) * 1000 used for every K
	ZoneDiameterMM    float64 // zone of the mean conic and the biconic

	Mean    Conic   // rotationally symmetric conic over the zone
	Biconic Biconic // toric fit over the same points
	// Flat and Steep are the biconic's sections along its principal
	// meridians. Their ResidualRMSUM and Points describe the points within
	// 10 degrees of that meridian; MaxRadiusMM is how far the data and the
	// zone reach along both of its ends.
	Flat, Steep Conic
	// Pose is where the apex sits on the map and how the cornea is tilted
	// (the biconic's; zero with ModelOptions.FixedApex).
	Pose Pose
	// VertexXMM, VertexYMM locate the corneal vertex on the map: the point
	// whose normal is parallel to the map's axis, which Placido devices
	// centre their maps on, and about which AxialPowerD, Sim-K and the
	// screening read the axial power.
	VertexXMM, VertexYMM float64
	// SimK is the axial curvature on the 3 mm ring, as devices read it
	// and practitioners mean by "K"; ApicalK the biconic's curvature at the
	// apex (steeper on a prolate cornea).
	SimK, ApicalK Keratometry
	Zernike       *Zernike // nil when ModelOptions.ZernikeOrder < 0
	// Reach is where the valid data reach, from the apex in the cornea's
	// frame.
	Reach   Reach
	Surface *Surface

	ResidualRMSUM float64 // the biconic's height residual RMS, microns
	// Warnings are what a designer should know about the fit, in plain
	// words: data cut short by lids or gaps. (Whether the surface is
	// irregular is the screening's to say, by its versioned table.)
	Warnings []string

	Extrapolation      Extrapolation // how SagMM goes beyond the data
	MaxExtrapolationMM float64       // how far it may go

	envelope [ReachSectors]float64 // see envelopeMM
}

// FlatK returns the flat Sim-K: the flat meridian's axial radius on the
// 3 mm ring and its dioptres under the model's keratometric index.
func (m *Model) FlatK() K { return m.SimK.Flat }

// SteepK returns the steep Sim-K.
func (m *Model) SteepK() K { return m.SimK.Steep }

// FlatAxisDeg returns the TABO axis of the flat Sim-K meridian, [0, 180).
func (m *Model) FlatAxisDeg() float64 { return m.SimK.FlatAxisDeg }

// SteepAxisDeg returns the TABO axis of the steep Sim-K meridian: flat +
// 90 modulo 180.
func (m *Model) SteepAxisDeg() float64 { return m.SimK.SteepAxisDeg }

// MeridianConic returns the biconic's section along a meridian (TABO
// degrees).
func (m *Model) MeridianConic(meridianDeg float64) Conic { return m.Biconic.Meridian(meridianDeg) }

// WithExtrapolation returns a copy of the model that extrapolates with e
// (the copy shares the read-only Zernike coefficients and surface).
func (m *Model) WithExtrapolation(e Extrapolation) *Model {
	c := *m
	c.Extrapolation = e
	return &c
}

// envelopeMM returns how far data reach around a semi-meridian: the
// furthest of the reach sectors within 30 degrees of it. A lid cuts the
// vertical meridian at 3 mm but the data 30 degrees beside it reach
// 3.5 mm, and a notch leaves its neighbours whole: that is a gap the model
// bridges, not the edge of the exam.
func (m *Model) envelopeMM(semiDeg float64) float64 {
	a := math.Mod(semiDeg, 360)
	if a < 0 {
		a += 360
	}
	return m.envelope[min(int(a/(360/ReachSectors)), ReachSectors-1)]
}

// envelopeSectors is how many reach sectors either side the envelope spans.
const envelopeSectors = 30 / (360 / ReachSectors)

// setEnvelope computes the envelope of every reach sector.
func (m *Model) setEnvelope() {
	for k := range ReachSectors {
		var e float64
		for d := -envelopeSectors; d <= envelopeSectors; d++ {
			e = max(e, m.Reach.SectorMM[(k+d+ReachSectors)%ReachSectors])
		}
		m.envelope[k] = e
	}
}

// SupportMM returns how far from the apex the exam measured the cornea
// along both ends of a meridian (TABO degrees).
func (m *Model) SupportMM(meridianDeg float64) float64 {
	return m.Reach.MeridianMM(meridianDeg)
}

// end is what locate found at one end of a chord.
type end struct {
	kind     string  // SourceMeasured, SourceModelFilled or SourceExtrapolated
	semiDeg  float64 // the semi-meridian
	reachMM  float64 // how far the data reach along it
	aroundMM float64 // how far they reach around it
}

// locate checks a request for a chord of semi-chord h along a meridian and
// finds out, for both ends, where the value comes from. A value needed more
// than MaxExtrapolationMM beyond the data around it is an errs.Invalid
// error that says what is missing.
func (m *Model) locate(op string, meridianDeg, h float64, what string, chordMM float64) ([2]end, error) {
	var ends [2]end
	if m == nil || !(m.Biconic.FlatR0MM > 0) || m.Surface == nil {
		return ends, errs.Ef(op, errs.Invalid, "the model holds no fit; build it with cornea.Fit")
	}
	if !finite(meridianDeg) {
		return ends, errs.Field(op, "meridianDeg", "must be a finite number of degrees")
	}
	if !(h >= 0) || math.IsInf(h, 0) {
		return ends, errs.Field(op, strings.ReplaceAll(what, "-c", "C")+"MM", "must be a finite, non-negative number of mm")
	}
	a := axisMod180(meridianDeg)
	for k, semi := range [2]float64{a, a + 180} {
		e := end{semiDeg: semi, reachMM: m.Reach.SemiMeridianMM(semi), aroundMM: m.envelopeMM(semi)}
		sn, cs := math.Sincos(semi * math.Pi / 180)
		switch {
		case h == 0 || h <= e.reachMM+1e-9 && m.Surface.Measured(h*cs, h*sn):
			e.kind = SourceMeasured
		case h <= e.aroundMM+1e-9:
			e.kind = SourceModelFilled
		default:
			e.kind = SourceExtrapolated
			if h-e.aroundMM > m.MaxExtrapolationMM+1e-9 {
				return ends, errs.Ef(op, errs.Invalid,
					"the %g mm chord along meridian %.0f needs the cornea to %.1f mm from the apex at %.0f degrees, but the exam measured it only to %.1f mm there (at most %g mm short of the data is allowed)",
					roundTo(chordMM, 1e3), a, h, semi, e.aroundMM, m.MaxExtrapolationMM)
			}
		}
		ends[k] = e
	}
	return ends, nil
}

// label describes how a value at semi-chord h was obtained from its ends.
func label(ends [2]end, h float64) string {
	worst := ends[0]
	rank := map[string]int{SourceMeasured: 0, SourceModelFilled: 1, SourceExtrapolated: 2}
	if rank[ends[1].kind] > rank[worst.kind] {
		worst = ends[1]
	}
	switch worst.kind {
	case SourceModelFilled:
		return fmt.Sprintf("%s: the fitted biconic across missing data at %.0f degrees (data there stop at %.1f mm)",
			SourceModelFilled, worst.semiDeg, worst.reachMM)
	case SourceExtrapolated:
		return fmt.Sprintf("%s: fitted biconic from %.1f mm, the furthest data around %.0f degrees, to %.1f mm",
			SourceExtrapolated, worst.aroundMM, worst.semiDeg, h)
	}
	return SourceMeasured
}

// depths returns the depth and the radial slope of the surface at
// semi-chord h along both ends of a meridian.
func (m *Model) depths(op string, meridianDeg, h float64) (z, s [2]float64, err error) {
	a := axisMod180(meridianDeg)
	for k, semi := range [2]float64{a, a + 180} {
		sn, cs := math.Sincos(semi * math.Pi / 180)
		d, ok := m.Surface.DepthMM(h*cs, h*sn)
		sl, ok2 := m.Surface.slope(h*cs, h*sn, cs, sn)
		if !ok || !ok2 {
			return z, s, errs.Ef(op, errs.Invalid,
				"the fitted cornea does not reach %.2f mm from the apex along %.0f degrees (it turns vertical before)", h, semi)
		}
		z[k], s[k] = d, sl
	}
	return z, s, nil
}

// SagMM returns the sagittal height (mm) of the cornea at a full chord
// (mm) along a meridian (TABO degrees): the depth, below the apex tangent
// plane, of the chord joining the surface's points at both ends (their
// mean depth). The label says where it comes from: SourceMeasured where
// the exam holds data at both ends, otherwise how the model filled or
// extrapolated it; under ExtrapolateTangentLine, beyond the 10 mm chord,
// the tangent line from the 10 mm chord takes over, and the label names
// both steps when the 10 mm chord was itself not measured. A chord that
// needs the cornea more than MaxExtrapolationMM beyond the data around it
// is an errs.Invalid error that says what is missing.
func (m *Model) SagMM(meridianDeg, chordMM float64) (float64, string, error) {
	const op = "cornea.Model.SagMM"
	if m == nil || m.Surface == nil {
		return 0, "", errs.Ef(op, errs.Invalid, "the model holds no fit; build it with cornea.Fit")
	}
	h := chordMM / 2
	if m.Extrapolation == ExtrapolateTangentLine && h > TangentLineChordMM/2 {
		const h10 = TangentLineChordMM / 2
		ends, err := m.locate(op, meridianDeg, h10, "chord", chordMM)
		if err != nil {
			return 0, "", err
		}
		z, s, err := m.depths(op, meridianDeg, h10)
		if err != nil {
			return 0, "", err
		}
		sag := (z[0]+z[1])/2 + (h-h10)*(s[0]+s[1])/2
		base := label(ends, h10)
		line := fmt.Sprintf("the tangent line from the %g mm chord", TangentLineChordMM)
		if base == SourceMeasured {
			return sag, SourceExtrapolated + ": " + line, nil
		}
		return sag, fmt.Sprintf("%s twice: %s; then %s", SourceExtrapolated, strings.SplitN(base, ": ", 2)[1], line), nil
	}
	ends, err := m.locate(op, meridianDeg, h, "chord", chordMM)
	if err != nil {
		return 0, "", err
	}
	z, _, err := m.depths(op, meridianDeg, h)
	if err != nil {
		return 0, "", err
	}
	return (z[0] + z[1]) / 2, label(ends, h), nil
}

// TangentAngleDeg returns the angle (degrees) between the corneal surface
// and the apex tangent plane at a semi-chord (mm) along a meridian (TABO
// degrees): the mean of its two ends' radial slopes. The same rules as
// SagMM apply; beyond the 10 mm chord with ExtrapolateTangentLine it is
// the angle at the 10 mm chord.
func (m *Model) TangentAngleDeg(meridianDeg, semiChordMM float64) (float64, error) {
	const op = "cornea.Model.TangentAngleDeg"
	if m == nil || m.Surface == nil {
		return 0, errs.Ef(op, errs.Invalid, "the model holds no fit; build it with cornea.Fit")
	}
	h := semiChordMM
	if m.Extrapolation == ExtrapolateTangentLine && h > TangentLineChordMM/2 {
		h = TangentLineChordMM / 2
	}
	if _, err := m.locate(op, meridianDeg, h, "semi-chord", 2*semiChordMM); err != nil {
		return 0, err
	}
	_, s, err := m.depths(op, meridianDeg, h)
	if err != nil {
		return 0, err
	}
	return math.Atan((s[0]+s[1])/2) * 180 / math.Pi, nil
}

// DepthMM returns the cornea's depth (mm) below its apex tangent plane at
// radiusMM from the apex along one semi-meridian (TABO degrees, 0-360),
// and where it comes from, under the same rules as SagMM: a single point,
// where SagMM averages the two ends of a chord (a keratoconic cone sits
// on one side).
func (m *Model) DepthMM(semiMeridianDeg, radiusMM float64) (float64, string, error) {
	const op = "cornea.Model.DepthMM"
	if m == nil || m.Surface == nil {
		return 0, "", errs.Ef(op, errs.Invalid, "the model holds no fit; build it with cornea.Fit")
	}
	a := math.Mod(semiMeridianDeg, 360)
	if a < 0 {
		a += 360
	}
	meridian := axisMod180(a)
	side := 0
	if a-meridian > 90 {
		side = 1
	}
	h := radiusMM
	if m.Extrapolation == ExtrapolateTangentLine && h > TangentLineChordMM/2 {
		h = TangentLineChordMM / 2
	}
	ends, err := m.locate(op, meridian, h, "radius", 2*radiusMM)
	if err != nil {
		return 0, "", err
	}
	z, s, err := m.depths(op, meridian, h)
	if err != nil {
		return 0, "", err
	}
	one := [2]end{ends[side], ends[side]}
	if h < radiusMM {
		src := SourceExtrapolated + ": the tangent line from the 10 mm chord"
		if l := label(one, h); l != SourceMeasured {
			src = fmt.Sprintf("%s twice: %s; then the tangent line from the 10 mm chord", SourceExtrapolated, strings.SplitN(l, ": ", 2)[1])
		}
		return z[side] + (radiusMM-h)*s[side], src, nil
	}
	return z[side], label(one, h), nil
}

// DepthKindMM is DepthMM for maps of many points: the same depth, with
// only the kind of its source (SourceMeasured, SourceModelFilled or
// SourceExtrapolated) instead of the words, and only this semi-meridian's
// reach checked against MaxExtrapolationMM.
func (m *Model) DepthKindMM(semiMeridianDeg, radiusMM float64) (float64, string, error) {
	const op = "cornea.Model.DepthKindMM"
	if m == nil || m.Surface == nil || !(m.Biconic.FlatR0MM > 0) {
		return 0, "", errs.Ef(op, errs.Invalid, "the model holds no fit; build it with cornea.Fit")
	}
	if !finite(semiMeridianDeg) {
		return 0, "", errs.Field(op, "semiMeridianDeg", "must be a finite number of degrees")
	}
	if !(radiusMM >= 0) || math.IsInf(radiusMM, 0) {
		return 0, "", errs.Field(op, "radiusMM", "must be a finite, non-negative number of mm")
	}
	a := math.Mod(semiMeridianDeg, 360)
	if a < 0 {
		a += 360
	}
	h := radiusMM
	tangent := m.Extrapolation == ExtrapolateTangentLine && h > TangentLineChordMM/2
	if tangent {
		h = TangentLineChordMM / 2
	}
	sn, cs := math.Sincos(a * math.Pi / 180)
	kind := SourceMeasured
	switch around := m.envelopeMM(a); {
	case h == 0 || h <= m.Reach.SemiMeridianMM(a)+1e-9 && m.Surface.Measured(h*cs, h*sn):
	case h <= around+1e-9:
		kind = SourceModelFilled
	default:
		kind = SourceExtrapolated
		if h-around > m.MaxExtrapolationMM+1e-9 {
			return 0, "", errs.Ef(op, errs.Invalid,
				"the cornea is needed %.1f mm from the apex at %.0f degrees, but the exam measured it only to %.1f mm there (at most %g mm short of the data is allowed)",
				h, a, around, m.MaxExtrapolationMM)
		}
	}
	d, ok := m.Surface.DepthMM(h*cs, h*sn)
	if ok && tangent {
		var sl float64
		sl, ok = m.Surface.slope(h*cs, h*sn, cs, sn)
		d += (radiusMM - h) * sl
		kind = SourceExtrapolated
	}
	if !ok {
		return 0, "", errs.Ef(op, errs.Invalid,
			"the fitted cornea does not reach %.2f mm from the apex along %.0f degrees (it turns vertical before)", h, a)
	}
	return d, kind, nil
}

func roundTo(v, scale float64) float64 { return math.Round(v*scale) / scale }

// reachStarts holds the diamond angle of each reach sector's first
// boundary, as sectorStarts does for the coverage sectors.
var reachStarts = func() (t [ReachSectors]float64) {
	for k := range t {
		a := float64(k) * 2 * math.Pi / ReachSectors
		t[k] = diamondAngle(math.Cos(a), math.Sin(a))
	}
	t[0] = 0
	return t
}()

// reachCells splits the diamond angle range [0, 4) into equal cells; each
// cell records the sector its start falls in, and at most one sector
// boundary lies inside a cell (there are 72 boundaries, 1024 cells, and the
// diamond angle's derivative varies by a factor 2 at most).
const reachCells = 1024

var reachCellSector = func() (t [reachCells]uint8) {
	for c := range t {
		t[c] = uint8(reachSectorSearch(float64(c) * 4 / reachCells))
	}
	return t
}()

// reachSector returns the reach sector of the direction (x, y), not both 0.
func reachSector(x, y float64) int {
	d := diamondAngle(x, y)
	c := min(int(d*(reachCells/4)), reachCells-1)
	s := int(reachCellSector[c])
	if s+1 < ReachSectors && d >= reachStarts[s+1] {
		s++
	}
	return s
}

// reachSectorSearch finds the sector of a diamond angle by bisection.
func reachSectorSearch(d float64) int {
	lo, hi := 0, ReachSectors // reachStarts[lo] <= d < reachStarts[hi]
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if reachStarts[mid] <= d {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// addSector adds a point at squared radius r2 in a known coverage sector.
func (c *coverage) addSector(r2 float64, sector int) {
	c.maxR2 = max(c.maxR2, r2)
	ring := min(int(r2/c.zr2*coverageRings), coverageRings-1)
	c.bins[ring][sector] = true
}

// Fit builds the corneal Model of a surface: the mean conic and the
// biconic over the zone (see ModelOptions.ZoneDiameterMM), with the apex's
// position and tilt fitted unless ModelOptions.FixedApex; the surface (the
// biconic and the smoothed residual map of every point); Sim-K on the
// 3 mm ring and the apical K; the principal-meridian conics; the Zernike
// expansion; and the data's reach. The points inside the zones are
// selected once and shared by every fit.
//
// The biconic is fitted coarse to fine: started and refined on a
// subsample of about 2,000 points spread evenly over the zone, then
// refined on every point, which takes a step or two from there (see
// fitBiconic). Both stop within a tenth of a standard error of the same
// minimum. The result depends on the scan alone: the same scan gives the
// same model, bit for bit.
//
// It refuses, with an errs.Invalid error saying what is missing in a
// practitioner's words, a surface with a whole quadrant unmeasured, one
// whose data do not cover the zone (see FitConic), and one no conic fits.
// Lids and notches are not refused: the model bridges them and says so in
// Warnings.
func Fit(s *topo.Surface, opts ModelOptions) (*Model, error) {
	return fitModel(s, opts, true)
}

// fitModel is Fit, coarse to fine when coarse is set and the zone holds
// enough points (see subsample), otherwise on every point from the start
// (what the tests compare the coarse-to-fine fit against).
func fitModel(s *topo.Surface, opts ModelOptions, coarse bool) (*Model, error) {
	const op = "cornea.Fit"
	o := opts.withDefaults()
	if err := o.check(op); err != nil {
		return nil, err
	}
	if s == nil || len(s.X) != len(s.Y) || len(s.X) != len(s.Z) {
		return nil, errs.Ef(op, errs.Invalid, "surface is nil or its coordinate slices differ in length")
	}
	mirror := s.NasalFrame && s.Eye == topo.OS // back to the examiner's view

	// Zones: the conic zone (or the two candidates of the automatic
	// choice) and the Zernike zone (zi; with the defaults, the first
	// candidate), each with its coverage.
	zones := []float64{o.ZoneDiameterMM}
	if o.ZoneDiameterMM == 0 {
		zones = []float64{DefaultZoneDiameterMM, WideZoneDiameterMM}
	}
	withZernike := o.ZernikeOrder > 0
	zi := -1
	if withZernike {
		if zi = slices.Index(zones, o.ZernikeZoneDiameterMM); zi < 0 {
			zi = len(zones)
			zones = append(zones, o.ZernikeZoneDiameterMM)
		}
	}
	covs := make([]coverage, len(zones))
	counts := make([]int, len(zones))
	var maxZR2 float64
	for i, d := range zones {
		covs[i].init(d / 2)
		maxZR2 = max(maxZR2, d*d/4)
	}

	// One pass: the reach of the data from the map centre, each zone's
	// count and coverage, and the points of the largest zone with their
	// reach sectors.
	w := getFitWork()
	defer w.release()
	var reach2 [ReachSectors]float64
	var maxReach2 float64
	valid := 0
	w.cx, w.cy, w.cz, w.csec = grow(w.cx, len(s.X)), grow(w.cy, len(s.X)), grow(w.cz, len(s.X)), grow(w.csec, len(s.X))
	cx, cy, cz, csec := w.cx, w.cy, w.cz, w.csec
	nCand := 0
	sy, sz := s.Y[:len(s.X)], s.Z[:len(s.X)]
	for i, x := range s.X {
		y := sy[i]
		if mirror {
			x = -x
		}
		r2 := x*x + y*y
		if !(r2 <= 2*topo.MaxAbsXYMM*topo.MaxAbsXYMM) { // NaN, Inf or absurd
			continue
		}
		z := sz[i]
		if !finite(z) {
			return nil, errs.Ef(op, errs.Invalid, "point %d has no finite height", i)
		}
		valid++
		sec := 0
		if r2 > 0 {
			sec = reachSector(x, y)
		}
		if r2 > reach2[sec] { // r2 is a number: max without its NaN rules
			reach2[sec] = r2
		}
		if r2 > maxZR2 {
			continue
		}
		for k := range zones {
			if r2 <= covs[k].zr2 {
				counts[k]++
				covs[k].addSector(r2, sec/(ReachSectors/coverageSectors))
			}
		}
		cx[nCand], cy[nCand], cz[nCand], csec[nCand] = x, y, z, uint8(sec)
		nCand++
	}
	cx, cy, cz, csec = cx[:nCand], cy[:nCand], cz[:nCand], csec[:nCand]
	for _, r2 := range reach2 {
		maxReach2 = max(maxReach2, r2)
	}
	if err := checkQuadrants(op, reach2, o.MinQuadrantReachMM); err != nil && valid >= o.MinPoints {
		return nil, err
	}
	maxReach := math.Sqrt(maxReach2)

	// The conic zone.
	ci := 0
	check := func(k int) error {
		d := zones[k]
		if counts[k] < o.MinPoints {
			return errs.Ef(op, errs.Invalid, "only %d valid points within the %s zone; at least %d are needed", counts[k], mmString(d), o.MinPoints)
		}
		return covs[k].check(op, ConicOptions{ZoneDiameterMM: d, MinCoverage: o.MinCoverage})
	}
	if o.ZoneDiameterMM == 0 && check(1) == nil {
		ci = 1
	} else if err := check(0); err != nil {
		return nil, err
	}
	if withZernike {
		covs[zi].maxR = math.Sqrt(covs[zi].maxR2)
	}

	// The points of the conic and the Zernike zones: both are discs about
	// the map centre, so one holds the other, and with the inner disc's
	// points first (in the scan's order, then the rest of the outer disc's)
	// each zone's points are a prefix of the same arrays. The same pass
	// draws the subsample of the conic zone the fit starts from.
	czr2, nc := covs[ci].zr2, counts[ci]
	innerR2, outerR2, nInner, n := czr2, czr2, nc, nc
	if withZernike {
		zr2 := covs[zi].zr2
		innerR2, outerR2 = min(czr2, zr2), max(czr2, zr2)
		nInner, n = min(nc, counts[zi]), max(nc, counts[zi])
	}
	w.xs, w.ys, w.zs = grow(w.xs, n), grow(w.ys, n), grow(w.zs, n)
	xs, ys, zs := w.xs, w.ys, w.zs
	sub := &w.sub
	if coarse {
		sub.reset(nc, czr2)
	} else {
		sub.reset(0, czr2)
	}
	inner, outer := 0, nInner
	cy, cz, csec = cy[:len(cx)], cz[:len(cx)], csec[:len(cx)]
	for i, x := range cx {
		y, z := cy[i], cz[i]
		r2 := x*x + y*y
		if r2 <= innerR2 {
			xs[inner], ys[inner], zs[inner] = x, y, z
			inner++
		} else if r2 <= outerR2 {
			xs[outer], ys[outer], zs[outer] = x, y, z
			outer++
		} else {
			continue
		}
		if r2 <= czr2 {
			sub.add(x, y, z, r2, csec[i])
		}
	}

	m := &Model{
		Eye: s.Eye, KeratometricIndex: o.KeratometricIndex, ZoneDiameterMM: zones[ci],
		Extrapolation: o.Extrapolation, MaxExtrapolationMM: o.MaxExtrapolationMM,
	}

	// The biconic, with the apex's position and tilt (it holds the
	// toricity, so the pose is what is left), coarse to fine: fitted to
	// the subsample, then refined on every point of the zone.
	cov := &covs[ci]
	cov.maxR = math.Sqrt(cov.maxR2)
	full := pointSet{x: xs[:nc], y: ys[:nc], z: zs[:nc]}
	bth, bres, err := fitBiconic(w, full, sub.points(), !o.FixedApex)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	bssr, biters := bres.ssr, bres.iters
	b := toBiconic(bth)
	b.ZoneDiameterMM, b.Points, b.Coverage, b.Iterations = zones[ci], nc, cov.fraction(), biters
	b.ResidualRMSUM = math.Sqrt(bssr/float64(nc)) * 1000
	if !(b.FlatR0MM > 0) || !(b.SteepR0MM > 0) || !finite(b.FlatP) || !finite(b.SteepP) || !finite(b.FlatAxisDeg) {
		return nil, errs.Ef(op, errs.Invalid, "surface does not fit a toric cornea")
	}
	m.Biconic, m.ResidualRMSUM, m.Pose = b, b.ResidualRMSUM, b.Pose()

	// The mean conic: the rotationally symmetric conic that best fits the
	// zone in the cornea's own frame (the biconic's pose), starting from
	// the biconic's symmetric part.
	if m.Mean, err = meanConic(w, full, b, bssr <= float64(nc)*exactPointTol*exactPointTol); err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	m.Mean.ZoneDiameterMM, m.Mean.MaxRadiusMM, m.Mean.Coverage = zones[ci], cov.maxR, b.Coverage

	// The surface: the biconic and the map of what it leaves, in the
	// cornea's frame, over every point; and the reach from the apex.
	m.surface(w, s, mirror, maxReach)
	m.principalMeridians()
	m.vertex()
	m.simK()
	m.warn()

	// Zernike.
	if withZernike {
		zo := ZernikeOptions{Order: o.ZernikeOrder, ZoneDiameterMM: o.ZernikeZoneDiameterMM, MinCoverage: o.MinCoverage, MinPoints: o.MinPoints}
		zc := covs[zi]
		nz := counts[zi]
		if m.Zernike, err = fitZernikePoints(op, &w.zern, xs[:nz], ys[:nz], zs[:nz], &zc, zo); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// meanConic fits the rotationally symmetric conic to the points in the
// biconic's frame: R0, p and a shift of the apex along the corneal axis.
// exact says the biconic fitted every point to within exactPointTol,
// so that the conic may already do so from its start.
func meanConic(wk *fitWork, pts pointSet, b Biconic, exact bool) (Conic, error) {
	f := b.Pose().frame()
	n := len(pts.x)
	wk.u, wk.v, wk.w = grow(wk.u, n), grow(wk.v, n), grow(wk.w, n)
	u, v, w := wk.u, wk.v, wk.w
	xs, ys, zs := pts.x, pts.y[:n], pts.z[:n]
	for i := range xs {
		u[i], v[i], w[i], _ = f.own(xs[i], ys[i], zs[i])
	}
	p := &problem{x: u, y: v, z: w, free: [nParams]bool{iR0: true, iP: true, iZ0: true}}
	cf, cs := 1/b.FlatR0MM, 1/b.SteepR0MM
	c := (cf + cs) / 2
	var th [nParams]float64
	th[iR0], th[iP] = 1/c, (b.FlatP*cf*cf+b.SteepP*cs*cs)/2/(c*c)
	s := p.settings()
	s.work, s.exactFirst = &wk.lm, exact
	th, res, err := p.refine(th, s)
	if err != nil {
		return Conic{}, err
	}
	// The shift along the axis, back on the map.
	x, y, z := f.toMap(0, 0, th[iZ0])
	pose := b.Pose()
	return Conic{R0MM: th[iR0], P: th[iP], ApexXMM: x, ApexYMM: y, ApexZMM: z, TiltXDeg: pose.TiltXDeg, TiltYDeg: pose.TiltYDeg,
		Points: n, ResidualRMSUM: math.Sqrt(res.ssr/float64(n)) * 1000, Iterations: res.iters}, nil
}

// checkQuadrants refuses a map where some 90-degree sector has no data
// beyond floorMM from the centre: a quadrant of the cornea unmeasured is
// not something a model may guess.
func checkQuadrants(op string, reach2 [ReachSectors]float64, floorMM float64) error {
	const span = ReachSectors / 4
	f2 := floorMM * floorMM
	for start := range ReachSectors {
		short := true
		for k := range span {
			if reach2[(start+k)%ReachSectors] >= f2 {
				short = false
				break
			}
		}
		if short {
			step := 360 / ReachSectors
			from, to := start*step, (start+span)*step%360
			return errs.Ef(op, errs.Invalid,
				"the exam has no data beyond %g mm from the centre between %d and %d degrees (TABO): a whole quadrant of the cornea is unmeasured, and a lens cannot be designed on a guess; repeat the exam with the lids held open",
				floorMM, from, to)
		}
	}
	return nil
}

// surface builds m.Surface and m.Reach from every point of s, in the
// cornea's frame. reachMM bounds how far from the map centre the points
// lie.
func (m *Model) surface(wk *fitWork, s *topo.Surface, mirror bool, reachMM float64) {
	b := m.Biconic
	th := b.FlatAxisDeg * math.Pi / 180
	cf, cst := 1/b.FlatR0MM, 1/b.SteepR0MM
	sf := &Surface{cf: cf, cs: cst, qf: b.FlatP * cf * cf, qs: b.SteepP * cst * cst,
		ax: math.Cos(th), ay: math.Sin(th), index: m.KeratometricIndex}
	f := m.Pose.frame()
	// A point reachMM from the map centre lies at most that plus the
	// apex's offset from the apex, in any frame.
	sf.grid = newResidualGrid(reachMM+m.Pose.DecentrationMM()+0.1, &wk.grid)
	var reach2 [ReachSectors]float64
	// Block by block: the points in the cornea's frame and what the
	// biconic leaves of them (its depth, written out), then their spread
	// onto the map, then their reach. Loops without calls keep the frame
	// and the biconic in registers; this visits every point of the scan.
	cf, cs, qf, qs, ax, ay := sf.cf, sf.cs, sf.qf, sf.qs, sf.ax, sf.ay
	g := &sf.grid
	wk.bu, wk.bv, wk.br = grow(wk.bu, surfaceBlock), grow(wk.bv, surfaceBlock), grow(wk.br, surfaceBlock)
	bu, bv, br := wk.bu, wk.bv, wk.br
	xs, ys, zs := s.X, s.Y[:len(s.X)], s.Z[:len(s.X)]
	for start := 0; start < len(xs); start += surfaceBlock {
		end := min(start+surfaceBlock, len(xs))
		nb := 0
		for i := start; i < end; i++ {
			x, y := xs[i], ys[i]
			if mirror {
				x = -x
			}
			if !(x*x+y*y <= 2*topo.MaxAbsXYMM*topo.MaxAbsXYMM) {
				continue
			}
			u, v, w, _ := f.own(x, y, zs[i])
			a, b := u*ax+v*ay, v*ax-u*ay
			a2, b2 := a*a, b*b
			disc := 1 - qf*a2 - qs*b2
			if disc <= 0 {
				continue
			}
			bu[nb], bv[nb], br[nb] = u, v, w-(cf*a2+cs*b2)/(1+math.Sqrt(disc))
			nb++
		}
		g.addPoints(bu[:nb], bv[:nb], br[:nb])
		for i, u := range bu[:nb] {
			v := bv[i]
			r2 := u*u + v*v
			sec := 0
			if r2 > 0 {
				sec = reachSector(u, v)
			}
			if r2 > reach2[sec] { // r2 is a number: max without its NaN rules
				reach2[sec] = r2
			}
		}
	}
	sf.grid.finish(&wk.grid)
	m.Surface = sf
	var maxR2 float64
	for k, r2 := range reach2 {
		m.Reach.SectorMM[k] = math.Sqrt(r2)
		maxR2 = max(maxR2, r2)
	}
	m.Reach.MaxMM = math.Sqrt(maxR2)
	m.setEnvelope()
}

// simK reads Sim-K as Placido devices do, from the axial curvature about
// the vertex on the 3 mm ring (see AxialPowerD): each meridian's
// power is the mean of its two halves, and the regular part of that (its
// mean and its 2-theta harmonic) gives the steep meridian, the flat one 90
// degrees away, and their powers. The ring is read as a band about 2.4 to
// 3.5 mm wide, its radii spaced evenly in r^2 about 1.5^2: that averages
// the residual map's noise over more of the surface, and since a conic's
// axial radius squared is linear in r^2 (R0^2 + e^2 r^2), it leaves a
// centred conic's reading as on the ring itself (within 0.0001 D). Where
// the ring is not measured all round, the apical reading stands in.
func (m *Model) simK() {
	const nTheta = 90
	h2 := (SimKRingDiameterMM / 2) * (SimKRingDiameterMM / 2)
	radii := [...]float64{math.Sqrt(h2 - 0.75), math.Sqrt(h2), math.Sqrt(h2 + 0.75)}
	f := m.Pose.frame()
	var mean, c2, s2 float64
	for t := range nTheta {
		deg := float64(t) * 180 / nTheta
		var mp float64
		for _, h := range radii {
			p1, err1 := m.axialPowerD(&f, deg, h)
			p2, err2 := m.axialPowerD(&f, deg+180, h)
			if err1 != nil || err2 != nil {
				m.SimK = m.ApicalK
				m.SimK.ZoneMM = 0
				return
			}
			mp += (p1 + p2) / 2
		}
		mp /= float64(len(radii))
		sn, cs := math.Sincos(2 * deg * math.Pi / 180)
		mean += mp
		c2 += mp * cs
		s2 += mp * sn
	}
	mean /= nTheta
	c2, s2 = 2*c2/nTheta, 2*s2/nTheta
	amp := math.Hypot(c2, s2)
	steep := axisMod180(math.Atan2(s2, c2) / 2 * 180 / math.Pi)
	idx := m.KeratometricIndex
	k := func(d float64) K { return K{RadiusMM: idx / d, Dioptres: d, Index: idx} }
	m.SimK = Keratometry{Flat: k(mean - amp), Steep: k(mean + amp), FlatAxisDeg: axisMod180(steep + 90), SteepAxisDeg: steep,
		CylinderD: 2 * amp, ZoneMM: SimKRingDiameterMM}
}

// principalMeridians fills Flat, Steep and ApicalK from the biconic, with
// the residual RMS of the points near each principal meridian (read off
// the residual map's data).
func (m *Model) principalMeridians() {
	b := m.Biconic
	idx := m.KeratometricIndex
	section := func(axis float64) Conic {
		c := b.Meridian(axis)
		c.ZoneDiameterMM = b.ZoneDiameterMM
		c.MaxRadiusMM = m.SupportMM(axis)
		c.Points = b.Points
		c.Coverage = b.Coverage
		c.ResidualRMSUM = b.ResidualRMSUM
		c.Iterations = b.Iterations
		return c
	}
	m.Flat = section(b.FlatAxisDeg)
	m.Steep = section(b.SteepAxisDeg())
	// The principal sections have exactly the biconic's radii and p.
	m.Flat.R0MM, m.Flat.P, m.Steep.R0MM, m.Steep.P = b.FlatR0MM, b.FlatP, b.SteepR0MM, b.SteepP

	k := func(r float64) K { return K{RadiusMM: r, Dioptres: KeratometricDioptres(r, idx), Index: idx} }
	m.ApicalK = Keratometry{Flat: k(b.FlatR0MM), Steep: k(b.SteepR0MM), FlatAxisDeg: b.FlatAxisDeg, SteepAxisDeg: b.SteepAxisDeg()}
	m.ApicalK.CylinderD = m.ApicalK.Steep.Dioptres - m.ApicalK.Flat.Dioptres
}

// warn fills m.Warnings.
func (m *Model) warn() {
	// Data cut short inside the zone: lids, notches, lash shadows.
	zr := m.ZoneDiameterMM / 2
	short := func(k int) bool { return m.Reach.SectorMM[k%ReachSectors] < zr-0.3 }
	first := 0
	for first < ReachSectors && short(first) {
		first++
	}
	step := 360 / ReachSectors
	var runs []string
	shortest := math.Inf(1)
	if first == ReachSectors {
		runs = []string{"0-360"}
	}
	for k := first; k < first+ReachSectors && first < ReachSectors; k++ {
		if !short(k) {
			continue
		}
		from := k
		for k < first+ReachSectors && short(k) {
			shortest = min(shortest, m.Reach.SectorMM[k%ReachSectors])
			k++
		}
		runs = append(runs, fmt.Sprintf("%d-%d", from*step%360, (k*step-1)%360+1))
	}
	if len(runs) > 0 {
		if math.IsInf(shortest, 1) {
			for _, r := range m.Reach.SectorMM {
				shortest = min(shortest, r)
			}
		}
		m.Warnings = append(m.Warnings, fmt.Sprintf(
			"the exam's data stop short of the %s zone at %s degrees (down to %.1f mm from the apex: lids or gaps); the fitted biconic bridges them, and values there are labelled model-filled or extrapolated",
			mmString(m.ZoneDiameterMM), strings.Join(runs, ", "), shortest))
	}
}

// String summarises the model for logs and test failures.
func (m *Model) String() string {
	return fmt.Sprintf("cornea %s over %s: Sim-K %.2f/%.2f mm (%.2f/%.2f D) flat @ %.0f; mean R0 %.3f p %.3f; apex %.2f, %.2f mm, tilt %.1f deg; residual %.2f microns",
		m.Eye, mmString(m.ZoneDiameterMM), m.SimK.Flat.RadiusMM, m.SimK.Steep.RadiusMM, m.SimK.Flat.Dioptres, m.SimK.Steep.Dioptres,
		m.SimK.FlatAxisDeg, m.Mean.R0MM, m.Mean.P, m.Pose.XMM, m.Pose.YMM, m.Pose.TiltDeg(), m.ResidualRMSUM)
}
