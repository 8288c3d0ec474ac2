package cornea

import (
	"fmt"
	"math"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/topo"
)

// Where a sag or angle comes from, as Model.SagMM labels it.
const (
	// SourceMeasured: the chord lies inside the fitted zone and inside the
	// data along both ends of the meridian.
	SourceMeasured = "measured"
	// SourceConic: beyond the data or the fitted zone, the meridian's
	// fitted conic carried outwards.
	SourceConic = "extrapolated: fitted conic"
	// SourceTangentLine: beyond the 10 mm chord, the straight line tangent
	// to the meridian at the 10 mm chord, as Medmont's extrapolated
	// sagittal height does (scleral work).
	SourceTangentLine = "extrapolated: tangent line from 10 mm chord"
)

// TangentLineChordMM is the chord whose tangent line carries the sag
// outwards under ExtrapolateTangentLine.
const TangentLineChordMM = 10.0

// Defaults for ModelOptions.
const (
	// WideZoneDiameterMM is the zone the automatic choice prefers: 10 mm,
	// so that the 10 mm chord (the population's 1.65-1.75 mm sag, and the
	// base of the tangent-line extrapolation) is measured, not
	// extrapolated. Scans that do not cover it get DefaultZoneDiameterMM.
	WideZoneDiameterMM = 10.0
	// DefaultMaxExtrapolationMM is how far (mm, along a semi-meridian) a
	// fitted conic may be carried beyond the data before a request is
	// refused: 2 mm, enough for an upper lid at 3 mm to still give the
	// 10 mm chord, not enough for a 4 mm scan to give the 15 mm one.
	DefaultMaxExtrapolationMM = 2.0
	// SimKRingDiameterMM is the ring of the Placido-style Sim-K reading
	// reported beside the apical one: 3 mm.
	SimKRingDiameterMM = 3.0
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
	// FitDecentration frees the apex position in x and y (see
	// ConicOptions).
	FitDecentration bool
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
	return o
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
	}
	return nil
}

// SimK is the keratometry of the principal meridians.
//
// Flat and Steep are the apical curvatures of the biconic's principal
// meridians. A height map cannot give central curvature from the central
// 3 mm alone: over a 1.5 mm radius the sag changes by only 0.15 mm, so 2
// microns of noise make a quadratic fit's radius uncertain by about
// 0.02 mm per meridian, and the conic's fourth-order term biases it
// steeper by 0.05 mm. The apical curvature of the biconic fitted over the
// whole zone is what a central Sim-K estimates, without that noise.
// Flat3MM and Steep3MM give the sagittal (axial) radius of the same
// meridians on the 3 mm ring, which is what Placido devices average into
// their Sim-K (0.03-0.04 mm flatter than apical on an average prolate
// cornea); compare device printouts with those.
type SimK struct {
	Flat, Steep               K
	FlatAxisDeg, SteepAxisDeg float64 // TABO, examiner's view, [0, 180)
	CylinderD                 float64 // Steep.Dioptres - Flat.Dioptres (>= 0)
	Flat3MM, Steep3MM         K       // axial radius on the 3 mm ring
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
// conics, Sim-K, the Zernike expansion, where the data reach, and the
// rules for going beyond them. Angles are TABO degrees in the examiner's
// view for both eyes (a left eye in the nasal frame is mirrored back).
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
	SimK        SimK
	Zernike     *Zernike // nil when ModelOptions.ZernikeOrder < 0
	Reach       Reach    // where the valid data reach, from the map centre

	ResidualRMSUM float64 // the biconic's height residual RMS, microns

	Extrapolation      Extrapolation // how SagMM goes beyond the data
	MaxExtrapolationMM float64       // how far it may go
}

// FlatK returns the flat keratometry: the flat principal meridian's apical
// radius and its dioptres under the model's keratometric index.
func (m *Model) FlatK() K { return m.SimK.Flat }

// SteepK returns the steep keratometry.
func (m *Model) SteepK() K { return m.SimK.Steep }

// FlatAxisDeg returns the TABO axis of the flat meridian, [0, 180).
func (m *Model) FlatAxisDeg() float64 { return m.SimK.FlatAxisDeg }

// SteepAxisDeg returns the TABO axis of the steep meridian: flat + 90
// modulo 180.
func (m *Model) SteepAxisDeg() float64 { return m.SimK.SteepAxisDeg }

// MeridianConic returns the biconic's section along a meridian (TABO
// degrees): the conic whose sag and tangent angle SagMM and
// TangentAngleDeg use there.
func (m *Model) MeridianConic(meridianDeg float64) Conic { return m.Biconic.Meridian(meridianDeg) }

// WithExtrapolation returns a copy of the model that extrapolates with e
// (the copy shares the read-only Zernike coefficients).
func (m *Model) WithExtrapolation(e Extrapolation) *Model {
	c := *m
	c.Extrapolation = e
	return &c
}

// SupportMM returns how far from the apex the model is measured along a
// meridian: the lesser of the fitted zone's radius and the data's reach
// along both ends of the meridian (less the apex decentration).
func (m *Model) SupportMM(meridianDeg float64) float64 {
	s, _ := m.support(meridianDeg)
	return s
}

// support also returns the semi-meridian (TABO degrees) that limits it, or
// -1 when the zone does.
func (m *Model) support(meridianDeg float64) (float64, float64) {
	off := math.Hypot(m.Biconic.ApexXMM, m.Biconic.ApexYMM)
	a, b := axisMod180(meridianDeg), axisMod180(meridianDeg)+180
	ra, rb := m.Reach.SemiMeridianMM(a)-off, m.Reach.SemiMeridianMM(b)-off
	s, by := m.ZoneDiameterMM/2, -1.0
	if ra < s {
		s, by = ra, a
	}
	if rb < s {
		s, by = rb, b
	}
	return max(s, 0), by
}

// SagMM returns the sagittal height (mm) of the cornea at a full chord
// (mm) along a meridian (TABO degrees), and where it comes from:
// SourceMeasured inside the model's support (SupportMM), otherwise the
// model's Extrapolation (SourceConic, or SourceTangentLine beyond the
// 10 mm chord). A chord that needs data more than MaxExtrapolationMM
// beyond where the scan reaches is an errs.Invalid error that says what is
// missing, as is a chord the fitted conic does not reach.
func (m *Model) SagMM(meridianDeg, chordMM float64) (float64, string, error) {
	const op = "cornea.Model.SagMM"
	mc, h, src, err := m.locate(op, meridianDeg, chordMM/2, "chord", chordMM)
	if err != nil {
		return 0, "", err
	}
	if src == SourceTangentLine {
		const h10 = TangentLineChordMM / 2
		sag10, err := mc.Sag(TangentLineChordMM)
		if err != nil {
			return 0, "", errs.E(op, errs.Invalid, err)
		}
		slope, err := mc.SlopeAt(h10)
		if err != nil {
			return 0, "", errs.E(op, errs.Invalid, err)
		}
		return sag10 + (h-h10)*slope, src, nil
	}
	sag, err := mc.Sag(2 * h)
	if err != nil {
		return 0, "", errs.E(op, errs.Invalid, err)
	}
	return sag, src, nil
}

// TangentAngleDeg returns the angle (degrees) between the corneal surface
// and the apex tangent plane at a semi-chord (mm) along a meridian (TABO
// degrees), under the same rules as SagMM: beyond the 10 mm chord with
// ExtrapolateTangentLine it is the angle at the 10 mm chord.
func (m *Model) TangentAngleDeg(meridianDeg, semiChordMM float64) (float64, error) {
	const op = "cornea.Model.TangentAngleDeg"
	mc, h, src, err := m.locate(op, meridianDeg, semiChordMM, "semi-chord", 2*semiChordMM)
	if err != nil {
		return 0, err
	}
	if src == SourceTangentLine {
		h = TangentLineChordMM / 2
	}
	a, err := mc.TangentAngleDeg(h)
	if err != nil {
		return 0, errs.E(op, errs.Invalid, err)
	}
	return a, nil
}

// locate checks a request and decides where its value comes from.
func (m *Model) locate(op string, meridianDeg, h float64, what string, chordMM float64) (Conic, float64, string, error) {
	if m == nil || !(m.Biconic.FlatR0MM > 0) {
		return Conic{}, 0, "", errs.Ef(op, errs.Invalid, "the model holds no fit; build it with cornea.Fit")
	}
	if !finite(meridianDeg) {
		return Conic{}, 0, "", errs.Field(op, "meridianDeg", "must be a finite number of degrees")
	}
	if !(h >= 0) || math.IsInf(h, 0) {
		return Conic{}, 0, "", errs.Field(op, strings.ReplaceAll(what, "-c", "C")+"MM", "must be a finite, non-negative number of mm")
	}
	mc := m.Biconic.Meridian(meridianDeg)
	sup, by := m.support(meridianDeg)
	if h <= sup+1e-9 {
		return mc, h, SourceMeasured, nil
	}
	src, need := SourceConic, h
	if m.Extrapolation == ExtrapolateTangentLine && h > TangentLineChordMM/2 {
		src, need = SourceTangentLine, TangentLineChordMM/2
	}
	if need-sup > m.MaxExtrapolationMM+1e-9 {
		merid := axisMod180(meridianDeg)
		where := fmt.Sprintf("at %.0f degrees", by)
		if by < 0 {
			where = "in the fitted zone"
		}
		base := ""
		if src == SourceTangentLine {
			base = fmt.Sprintf(" (the tangent line starts at the %g mm chord)", TangentLineChordMM)
		}
		return Conic{}, 0, "", errs.Ef(op, errs.Invalid,
			"the %g mm chord along meridian %.0f needs data to %.1f mm from the apex%s, at most %g mm short of it; the model is measured only to %.1f mm %s",
			roundTo(chordMM, 1e3), merid, need, base, m.MaxExtrapolationMM, sup, where)
	}
	return mc, h, src, nil
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

// Fit builds the corneal Model of a surface in one pass over its points:
// the mean conic and the biconic over the zone (see
// ModelOptions.ZoneDiameterMM), Sim-K and the principal-meridian conics
// from the biconic, the Zernike expansion, and the data's reach. The
// points inside the zones are selected once and shared by every fit.
//
// It refuses, with an errs.Invalid error saying what is missing, a surface
// whose data do not cover the zones (see FitConic), and a surface no conic
// fits.
func Fit(s *topo.Surface, opts ModelOptions) (*Model, error) {
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
	// choice) and the Zernike zone, each with its coverage.
	zones := []float64{o.ZoneDiameterMM}
	if o.ZoneDiameterMM == 0 {
		zones = []float64{DefaultZoneDiameterMM, WideZoneDiameterMM}
	}
	withZernike := o.ZernikeOrder > 0
	if withZernike {
		zones = append(zones, o.ZernikeZoneDiameterMM)
	}
	covs := make([]coverage, len(zones))
	counts := make([]int, len(zones))
	var maxZR2 float64
	for i, d := range zones {
		covs[i].init(d / 2)
		maxZR2 = max(maxZR2, d*d/4)
	}

	// One pass: the reach of the data, each zone's count and coverage.
	var reach2 [ReachSectors]float64
	var maxR2 float64
	for i := range s.X {
		x, y := s.X[i], s.Y[i]
		if mirror {
			x = -x
		}
		r2 := x*x + y*y
		if !(r2 <= 2*topo.MaxAbsXYMM*topo.MaxAbsXYMM) { // NaN, Inf or absurd
			continue
		}
		sec := 0
		if r2 > 0 {
			sec = reachSector(x, y)
		}
		reach2[sec] = max(reach2[sec], r2)
		maxR2 = max(maxR2, r2)
		if r2 > maxZR2 {
			continue
		}
		if !finite(s.Z[i]) {
			return nil, errs.Ef(op, errs.Invalid, "point %d has no finite height", i)
		}
		for k := range zones {
			if r2 <= covs[k].zr2 {
				counts[k]++
				covs[k].addSector(r2, sec/(ReachSectors/coverageSectors))
			}
		}
	}
	var reach Reach
	for k, r2 := range reach2 {
		reach.SectorMM[k] = math.Sqrt(r2)
	}
	reach.MaxMM = math.Sqrt(maxR2)

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
	zi := -1
	if withZernike {
		zi = len(zones) - 1
		covs[zi].maxR = math.Sqrt(covs[zi].maxR2)
	}

	// The points of the conic zone first, then those only in the Zernike
	// zone, so that each zone's points are a prefix of the same arrays.
	czr2, placeR2 := covs[ci].zr2, covs[ci].zr2
	n, nc := counts[ci], counts[ci]
	if withZernike {
		n = max(n, counts[zi])
		placeR2 = max(placeR2, covs[zi].zr2)
	}
	xs, ys, zs := make([]float64, n), make([]float64, n), make([]float64, n)
	inner, outer := 0, nc
	for i := range s.X {
		x, y := s.X[i], s.Y[i]
		if mirror {
			x = -x
		}
		r2 := x*x + y*y
		if !(r2 <= placeR2) {
			continue
		}
		if r2 <= czr2 {
			xs[inner], ys[inner], zs[inner] = x, y, s.Z[i]
			inner++
		} else if outer < n {
			xs[outer], ys[outer], zs[outer] = x, y, s.Z[i]
			outer++
		}
	}
	// Points of the Zernike zone among the conic zone's, when it is the
	// smaller one: a prefix only if gathered apart.
	zx, zy, zz := xs, ys, zs
	if withZernike && counts[zi] < nc {
		zr2 := covs[zi].zr2
		zx, zy, zz = make([]float64, 0, counts[zi]), make([]float64, 0, counts[zi]), make([]float64, 0, counts[zi])
		for i := range nc {
			if xs[i]*xs[i]+ys[i]*ys[i] <= zr2 {
				zx, zy, zz = append(zx, xs[i]), append(zy, ys[i]), append(zz, zs[i])
			}
		}
	}

	m := &Model{
		Eye: s.Eye, KeratometricIndex: o.KeratometricIndex, ZoneDiameterMM: zones[ci], Reach: reach,
		Extrapolation: o.Extrapolation, MaxExtrapolationMM: o.MaxExtrapolationMM,
	}

	// Mean conic.
	cov := &covs[ci]
	cov.maxR = math.Sqrt(cov.maxR2)
	p := &problem{x: xs[:nc], y: ys[:nc], z: zs[:nc]}
	p.free = [nParams]bool{iR0: true, iP: true, iZ0: true, iX0: o.FitDecentration, iY0: o.FitDecentration}
	th, err := p.initial()
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	th, ssr, iters, err := p.levenbergMarquardt(th)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	m.Mean = Conic{
		R0MM: th[iR0], P: th[iP], ApexXMM: th[iX0], ApexYMM: th[iY0], ApexZMM: th[iZ0],
		ZoneDiameterMM: zones[ci], MaxRadiusMM: cov.maxR, Points: nc, Coverage: cov.fraction(),
		ResidualRMSUM: math.Sqrt(ssr/float64(nc)) * 1000, Iterations: iters,
	}

	// Biconic, from the mean conic.
	bp := &biconicProblem{x: xs[:nc], y: ys[:nc], z: zs[:nc], nFree: bX0}
	if o.FitDecentration {
		bp.nFree = nBiconicParams
	}
	bth, err := bp.biconicStart(m.Mean)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	bth, bssr, biters, err := bp.fit(bth)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	b := toBiconic(bth)
	b.ZoneDiameterMM, b.Points, b.Coverage, b.Iterations = zones[ci], nc, m.Mean.Coverage, biters
	b.ResidualRMSUM = math.Sqrt(bssr/float64(nc)) * 1000
	if !(b.FlatR0MM > 0) || !(b.SteepR0MM > 0) || !finite(b.FlatP) || !finite(b.SteepP) || !finite(b.FlatAxisDeg) {
		return nil, errs.Ef(op, errs.Invalid, "surface does not fit a toric cornea")
	}
	m.Biconic, m.ResidualRMSUM = b, b.ResidualRMSUM
	m.principalMeridians(xs[:nc], ys[:nc], zs[:nc])

	// Zernike.
	if withZernike {
		zo := ZernikeOptions{Order: o.ZernikeOrder, ZoneDiameterMM: o.ZernikeZoneDiameterMM, MinCoverage: o.MinCoverage, MinPoints: o.MinPoints}
		zc := covs[zi]
		if m.Zernike, err = fitZernikePoints(op, zx[:counts[zi]], zy[:counts[zi]], zz[:counts[zi]], &zc, zo); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// meridianBand is the half-width (degrees) of the band of points around a
// principal meridian whose residuals describe that meridian's fit.
const meridianBand = 10.0

// principalMeridians fills Flat, Steep and SimK from the biconic, with the
// residual RMS of the points near each principal meridian.
func (m *Model) principalMeridians(xs, ys, zs []float64) {
	b := m.Biconic
	idx := m.KeratometricIndex
	th := b.FlatAxisDeg * math.Pi / 180
	cs, sn := math.Cos(th), math.Sin(th)
	cf, cst := 1/b.FlatR0MM, 1/b.SteepR0MM
	qf, qs := b.FlatP*cf*cf, b.SteepP*cst*cst
	tb := math.Tan(meridianBand * math.Pi / 180)
	var ssrF, ssrS float64
	var nF, nS int
	for i := range xs {
		dx, dy := xs[i]-b.ApexXMM, ys[i]-b.ApexYMM
		u, v := dx*cs+dy*sn, dy*cs-dx*sn
		u2, v2 := u*u, v*v
		disc := 1 - qf*u2 - qs*v2
		if disc <= 0 {
			continue
		}
		res := zs[i] - b.ApexZMM - (cf*u2+cst*v2)/(1+math.Sqrt(disc))
		if math.Abs(v) <= tb*math.Abs(u) {
			ssrF += res * res
			nF++
		} else if math.Abs(u) <= tb*math.Abs(v) {
			ssrS += res * res
			nS++
		}
	}
	rms := func(ssr float64, n int) float64 {
		if n == 0 {
			return 0
		}
		return math.Sqrt(ssr/float64(n)) * 1000
	}
	section := func(axis float64, ssr float64, n int) Conic {
		c := b.Meridian(axis)
		c.ZoneDiameterMM = b.ZoneDiameterMM
		c.MaxRadiusMM = m.SupportMM(axis)
		c.Points = n
		c.Coverage = b.Coverage
		c.ResidualRMSUM = rms(ssr, n)
		c.Iterations = b.Iterations
		return c
	}
	m.Flat = section(b.FlatAxisDeg, ssrF, nF)
	m.Steep = section(b.SteepAxisDeg(), ssrS, nS)
	// The principal sections have exactly the biconic's radii and p.
	m.Flat.R0MM, m.Flat.P, m.Steep.R0MM, m.Steep.P = b.FlatR0MM, b.FlatP, b.SteepR0MM, b.SteepP

	k := func(r float64) K { return K{RadiusMM: r, Dioptres: KeratometricDioptres(r, idx), Index: idx} }
	ring := func(c Conic) K {
		r, err := c.AxialRadiusMM(SimKRingDiameterMM / 2)
		if err != nil {
			r = math.NaN()
		}
		return k(r)
	}
	m.SimK = SimK{
		Flat: k(b.FlatR0MM), Steep: k(b.SteepR0MM),
		FlatAxisDeg: b.FlatAxisDeg, SteepAxisDeg: b.SteepAxisDeg(),
		Flat3MM: ring(m.Flat), Steep3MM: ring(m.Steep),
	}
	m.SimK.CylinderD = m.SimK.Steep.Dioptres - m.SimK.Flat.Dioptres
}

// String summarises the model for logs and test failures.
func (m *Model) String() string {
	return fmt.Sprintf("cornea %s over %s: K %.2f/%.2f mm (%.2f/%.2f D) flat @ %.0f; mean R0 %.3f p %.3f; residual %.2f microns",
		m.Eye, mmString(m.ZoneDiameterMM), m.SimK.Flat.RadiusMM, m.SimK.Steep.RadiusMM, m.SimK.Flat.Dioptres, m.SimK.Steep.Dioptres,
		m.SimK.FlatAxisDeg, m.Mean.R0MM, m.Mean.P, m.ResidualRMSUM)
}
