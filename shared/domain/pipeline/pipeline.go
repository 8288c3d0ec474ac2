// Package pipeline runs the lens design engine end to end on a parsed scan:
// the corneal model (apex and tilt, mean conic, biconic, Sim-K and apical
// K, the surface, Zernike), the screening of the cornea (keratoconus,
// post-refractive, irregular), the design of the requested lens type from
// its nomogram as the screening allows it, and the lathe point files. Its
// Result is the design JSON that the lens calculator prints and that
// GET /v1/scans/{id}/design returns.
package pipeline

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/screening"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

// Version names the engine that produced a design.
const Version = "lensflow-engine/1.0"

// Inputs are what a design needs besides the scan.
type Inputs struct {
	LensType  lens.Type
	Clinical  lens.Clinical
	Nomograms *lens.Nomograms // nil means lens.DefaultNomograms()
	Model     cornea.ModelOptions
	// Screening is the threshold table (nil means
	// screening.DefaultTable()).
	Screening *screening.Table
	// OrthoKOverride is the practitioner's explicit request to design
	// ortho-k on a cornea the screening contraindicates (keratoconus,
	// irregular). The design records it.
	OrthoKOverride bool
}

// OrthoKOverrideParam names the override as the upload's query parameter;
// lenscalc's messages say its own flag instead.
const OrthoKOverrideParam = "orthokOverride=true"

// Result is a design as the API and the calculator present it.
type Result struct {
	ScanID   string `json:"scanId,omitempty"`
	DesignID string `json:"designId,omitempty"`
	Version  int    `json:"version,omitempty"`
	Created  string `json:"created,omitempty"`
	Engine   string `json:"engine"`
	Eye      string `json:"eye"`
	Format   string `json:"format"`
	// Layout names the real-world variants of the file's layout its reader
	// found (decimal comma, elevations negative below the apex, ...).
	Layout []string `json:"layout,omitempty"`
	Points int      `json:"points"`
	// Device holds what the topographer measured itself and wrote in the
	// file's header (its Sim-K, corneal diameter, pupil), when it did.
	Device *topo.DeviceMeasurements `json:"deviceMeasurements,omitempty"`
	Cornea Cornea                   `json:"cornea"`
	// Screening is the cornea's screening: indices, pattern and the table
	// that decided it.
	Screening *Screening   `json:"screening,omitempty"`
	Lens      *lens.Design `json:"lens"`
	// Warnings gathers everything the lab should look at before cutting:
	// the fit's (irregular surface, data cut short), the screening's and
	// the lens's (the lens's are also in lens.warnings).
	Warnings []string `json:"warnings"`
}

// Screening is the screening of the cornea as the design used it.
type Screening struct {
	screening.Result
	// Override records a practitioner's explicit override of what the
	// screening contraindicates ("" when none was needed).
	Override string `json:"override,omitempty"`
}

// Cornea is the corneal model in the API's words.
type Cornea struct {
	ApicalRadiusMM float64 `json:"apicalRadius_mm"` // mean (rotationally symmetric) conic
	ShapeFactorP   float64 `json:"shapeFactorP"`
	Eccentricity   float64 `json:"eccentricity"` // signed: negative for an oblate cornea
	AsphericityQ   float64 `json:"asphericityQ"`
	FlatKMM        float64 `json:"flatK_mm"`
	SteepKMM       float64 `json:"steepK_mm"`
	FlatKD         float64 `json:"flatK_D"`
	SteepKD        float64 `json:"steepK_D"`
	FlatAxisDeg    float64 `json:"flatAxis_deg"` // TABO, examiner's view, both eyes
	SteepAxisDeg   float64 `json:"steepAxis_deg"`
	CylinderD      float64 `json:"cylinder_D"`
	KIndex         float64 `json:"keratometricIndex"` // (n - 1) * 1000
	// SagMM is the mean of the flat and steep meridians' sag, by chord
	// diameter in mm; SagSource says whether each value is measured or
	// how it was extrapolated.
	SagMM     map[string]float64 `json:"sag_mm"`
	SagSource map[string]string  `json:"sag_source"`
	// FlatMeridian and SteepMeridian are the conics along the principal
	// meridians (the toric / biconic fit).
	FlatMeridian  Meridian `json:"flatMeridian"`
	SteepMeridian Meridian `json:"steepMeridian"`
	RMSResidualUM float64  `json:"rmsResidual_um"`
	// CoverageMM is the diameter of the centred circle the data reach in
	// every direction; MaxReachMM the furthest any valid point lies from
	// the centre.
	CoverageMM     float64  `json:"coverage_mm"`
	MaxReachMM     float64  `json:"maxReach_mm"`
	ZoneDiameterMM float64  `json:"zoneDiameter_mm"`
	Extrapolation  string   `json:"extrapolation"`
	Zernike        *Zernike `json:"zernike,omitempty"`

	// SimK is the axial power on the 3 mm ring, as devices report it and
	// practitioners mean by "K" (flatK_mm and the other top-level K keys
	// are the same reading); ApicalK the fitted biconic's apical
	// curvature, steeper on a prolate cornea; DeviceSimK the device's own
	// Sim-K from the file's header, when it has one.
	SimK       Keratometry  `json:"simK"`
	ApicalK    Keratometry  `json:"apicalK"`
	DeviceSimK *Keratometry `json:"deviceSimK,omitempty"`
	// Apex is where the corneal apex sits on the map and how the cornea is
	// tilted against the instrument axis.
	Apex Apex `json:"apex"`
}

// Keratometry is a pair of principal meridians' powers.
type Keratometry struct {
	FlatKD      float64 `json:"flatK_D"`
	SteepKD     float64 `json:"steepK_D"`
	FlatAxisDeg float64 `json:"flatAxis_deg"` // TABO, examiner's view
	ZoneMM      float64 `json:"zone_mm"`      // ring diameter; 0 for the apical reading
}

// Apex is the corneal apex on the map (mm from the map centre, examiner's
// view) and the tilt of the corneal axis against the instrument axis.
type Apex struct {
	XMM         float64 `json:"x_mm"`
	YMM         float64 `json:"y_mm"`
	TiltDeg     float64 `json:"tilt_deg"`
	TiltAxisDeg float64 `json:"tiltAxis_deg"` // TABO direction the axis leans towards
}

// Meridian is one principal meridian's conic.
type Meridian struct {
	AxisDeg        float64 `json:"axis_deg"`
	ApicalRadiusMM float64 `json:"apicalRadius_mm"`
	ShapeFactorP   float64 `json:"shapeFactorP"`
}

// Zernike is the OSA/ANSI Zernike expansion of the corneal height.
type Zernike struct {
	Order          int       `json:"order"`
	ZoneDiameterMM float64   `json:"zoneDiameter_mm"`
	CoefficientsUM []float64 `json:"coefficients_um"` // by OSA index j
	RMSResidualUM  float64   `json:"rmsResidual_um"`
}

// chords are the chord diameters at which the corneal sag is reported;
// scleral designs add the 15 mm chord their sag matching uses.
var chords = []float64{8, 10}

const scleralChordMM = 15

// Design fits the corneal model to s, screens it and designs the lens
// in.LensType. Errors are errs.Invalid when the scan cannot support the
// design (with what is missing), the screening contraindicates the lens
// (with why, and how to override where an override exists), or an input is
// out of range (naming it).
func Design(s *topo.Surface, in Inputs) (*Result, error) {
	const op = "pipeline.Design"
	m, err := cornea.Fit(s, in.Model)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	return DesignModel(m, s, in)
}

// DesignModel designs the lens in.LensType on a corneal model already
// fitted to s, so several designs can share one fit. Scleral designs
// extrapolate the eye beyond the data with the tangent line from the 10 mm
// chord; corneal lenses with the fitted biconic.
func DesignModel(m *cornea.Model, s *topo.Surface, in Inputs) (*Result, error) {
	const op = "pipeline.Design"
	set := lens.DefaultNomograms()
	if in.Nomograms != nil {
		set = *in.Nomograms
	}
	table := screening.DefaultTable()
	if in.Screening != nil {
		table = *in.Screening
	}
	sr, err := screening.Screen(screening.FromModel(m), table)
	if err != nil {
		return nil, errs.Wrap(op+": screening", err)
	}
	scr := &Screening{Result: sr}
	var warnings []string
	if in.LensType == lens.OrthoK {
		if warnings, err = orthoKScreen(scr, in.OrthoKOverride); err != nil {
			return nil, errs.E(op, errs.Invalid, err)
		}
	}
	if in.LensType == lens.Scleral {
		m = m.WithExtrapolation(cornea.ExtrapolateTangentLine)
	} else {
		m = m.WithExtrapolation(cornea.ExtrapolateConic)
	}
	clin := in.Clinical
	if dm := s.Measurements; clin.HVIDMM == 0 && dm != nil && dm.CornealDiameterMM >= 9 && dm.CornealDiameterMM <= 14 {
		// The device's white-to-white diameter stands in for a missing
		// HVID better than a population default.
		clin.HVIDMM = dm.CornealDiameterMM
		warnings = append(warnings, fmt.Sprintf("HVID not given: the topographer's corneal diameter, %.2f mm, was used", dm.CornealDiameterMM))
	}
	var eye lens.Eye = Eye{M: m, KReading: kReading(set, in.LensType)}
	if scr.Pattern != screening.Regular {
		// A cornea the screening flags may have a cone off the principal
		// meridians: the lens's clearance is checked through it too.
		if semi, r, _, ok := m.Cone(ConeMinUM); ok {
			eye = coneEye{Eye: eye.(Eye), semiDeg: semi, radiusMM: r}
		}
	}
	d, err := lens.New(in.LensType, eye, clin, set)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	d.Warnings = append(warnings, d.Warnings...)
	r := &Result{Engine: Version, Eye: string(s.Eye), Format: s.Format, Layout: s.Layout, Points: s.Len(), Device: s.Measurements,
		Lens: d, Screening: scr}
	r.Cornea, err = corneaOf(m, in.LensType)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	r.Cornea.DeviceSimK = deviceSimK(s)
	r.gatherWarnings(m)
	return r, nil
}

// orthoKScreen applies the screening to an ortho-k design: refused on a
// keratoconic or irregular cornea unless overridden, warned on a suspect or
// oblate one. It returns the warnings for the design.
func orthoKScreen(scr *Screening, override bool) ([]string, error) {
	why := strings.Join(scr.Reasons, "; ")
	switch scr.Pattern {
	case screening.Keratoconus, screening.Irregular:
		what := map[screening.Pattern]string{screening.Keratoconus: "keratoconic", screening.Irregular: "irregular"}[scr.Pattern]
		if !override {
			return nil, fmt.Errorf("ortho-k is not designed on a cornea the screening finds %s (%s): reshaping an ectatic or irregular cornea overnight is contraindicated; a scleral lens suits it. To design ortho-k anyway, on your clinical judgement, send %s",
				what, why, OrthoKOverrideParam)
		}
		scr.Override = fmt.Sprintf("ortho-k designed on a %s cornea at the practitioner's explicit request", what)
		return []string{fmt.Sprintf("the screening finds the cornea %s (%s); ortho-k was designed only because the practitioner overrode it", what, why)}, nil
	case screening.Suspect:
		return []string{fmt.Sprintf("the screening finds the cornea a keratoconus suspect (%s): review the topography before ortho-k, and follow it closely", why)}, nil
	case screening.Oblate:
		return []string{fmt.Sprintf("the cornea is oblate (%s), as after myopic refractive surgery: a standard ortho-k nomogram does not suit it; consider a design for post-surgical corneas", why)}, nil
	}
	return nil, nil
}

// gatherWarnings fills r.Warnings: the fit's, the screening's for a
// cornea that is not regular, and the lens's.
func (r *Result) gatherWarnings(m *cornea.Model) {
	r.Warnings = append(r.Warnings, m.Warnings...)
	if sc := r.Screening; sc != nil && sc.Pattern != screening.Regular {
		r.Warnings = append(r.Warnings, fmt.Sprintf("screening: %s (%s)", sc.Pattern, strings.Join(sc.Reasons, "; ")))
	}
	if r.Lens != nil {
		r.Warnings = append(r.Warnings, r.Lens.Warnings...)
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
}

func corneaOf(m *cornea.Model, t lens.Type) (Cornea, error) {
	flat, steep := m.FlatK(), m.SteepK()
	c := Cornea{
		ApicalRadiusMM: m.Mean.R0MM, ShapeFactorP: m.Mean.P, Eccentricity: m.Mean.E(), AsphericityQ: m.Mean.Q(),
		FlatKMM: flat.RadiusMM, SteepKMM: steep.RadiusMM, FlatKD: flat.Dioptres, SteepKD: steep.Dioptres,
		FlatAxisDeg: m.FlatAxisDeg(), SteepAxisDeg: m.SteepAxisDeg(), CylinderD: m.SimK.CylinderD, KIndex: m.KeratometricIndex,
		SagMM: map[string]float64{}, SagSource: map[string]string{},
		FlatMeridian:  Meridian{AxisDeg: m.Biconic.FlatAxisDeg, ApicalRadiusMM: m.Flat.R0MM, ShapeFactorP: m.Flat.P},
		SteepMeridian: Meridian{AxisDeg: m.Biconic.SteepAxisDeg(), ApicalRadiusMM: m.Steep.R0MM, ShapeFactorP: m.Steep.P},
		RMSResidualUM: m.ResidualRMSUM, MaxReachMM: m.Reach.MaxMM, ZoneDiameterMM: m.ZoneDiameterMM,
		Extrapolation: m.Extrapolation.String(),
		SimK:          keratometry(m.SimK), ApicalK: keratometry(m.ApicalK),
		Apex: Apex{XMM: m.Pose.XMM, YMM: m.Pose.YMM, TiltDeg: m.Pose.TiltDeg(), TiltAxisDeg: m.Pose.TiltAxisDeg()},
	}
	cov := math.Inf(1)
	for _, r := range m.Reach.SectorMM {
		cov = min(cov, r)
	}
	c.CoverageMM = 2 * cov
	want := chords
	if t == lens.Scleral {
		want = append(append([]float64(nil), chords...), scleralChordMM)
	}
	for _, chord := range want {
		f, src, err := m.SagMM(m.FlatAxisDeg(), chord)
		if err != nil {
			return c, err
		}
		st, src2, err := m.SagMM(m.SteepAxisDeg(), chord)
		if err != nil {
			return c, err
		}
		if cornea.SourceKind(src) == cornea.SourceMeasured || cornea.SourceKind(src2) == cornea.SourceExtrapolated {
			src = src2
		}
		key := strconv.FormatFloat(chord, 'f', -1, 64)
		c.SagMM[key], c.SagSource[key] = (f+st)/2, src
	}
	if z := m.Zernike; z != nil {
		c.Zernike = &Zernike{Order: z.Order, ZoneDiameterMM: z.ZoneDiameterMM, CoefficientsUM: z.CoefficientsUM, RMSResidualUM: z.ResidualRMSUM}
	}
	return c, nil
}

// deviceSimK is the Sim-K the topographer wrote in the file, if it did.
func deviceSimK(s *topo.Surface) *Keratometry {
	dm := s.Measurements
	if dm == nil || dm.SimK == nil {
		return nil
	}
	return &Keratometry{FlatKD: dm.SimK.FlatKD, SteepKD: dm.SimK.SteepKD, FlatAxisDeg: dm.SimK.FlatAxisDeg, ZoneMM: cornea.SimKRingDiameterMM}
}

func keratometry(k cornea.Keratometry) Keratometry {
	return Keratometry{FlatKD: k.Flat.Dioptres, SteepKD: k.Steep.Dioptres, FlatAxisDeg: k.FlatAxisDeg, ZoneMM: k.ZoneMM}
}

// Eye adapts a corneal model to what a lens design reads of the eye. Its
// K readings are Sim-K, or the apical K when KReading says
// lens.KReadingApical, as the design's nomogram asks.
type Eye struct {
	M        *cornea.Model
	KReading string
}

func (e Eye) k() cornea.Keratometry {
	if e.KReading == lens.KReadingApical {
		return e.M.ApicalK
	}
	return e.M.SimK
}

// FlatK implements lens.Eye.
func (e Eye) FlatK() (radiusMM, axisDeg float64) {
	k := e.k()
	return k.Flat.RadiusMM, k.FlatAxisDeg
}

// SteepK implements lens.Eye.
func (e Eye) SteepK() (radiusMM, axisDeg float64) {
	k := e.k()
	return k.Steep.RadiusMM, k.SteepAxisDeg
}

// SagMM implements lens.Eye.
func (e Eye) SagMM(meridianDeg, chordMM float64) (float64, string, error) {
	return e.M.SagMM(meridianDeg, chordMM)
}

// DepthMM implements lens.DepthEye.
func (e Eye) DepthMM(semiMeridianDeg, radiusMM float64) (float64, string, error) {
	return e.M.DepthMM(semiMeridianDeg, radiusMM)
}

// DepthKindMM implements lens.MapEye.
func (e Eye) DepthKindMM(semiMeridianDeg, radiusMM float64) (float64, string, error) {
	return e.M.DepthKindMM(semiMeridianDeg, radiusMM)
}

// TangentAngleDeg implements lens.Eye.
func (e Eye) TangentAngleDeg(meridianDeg, semiChordMM float64) (float64, error) {
	return e.M.TangentAngleDeg(meridianDeg, semiChordMM)
}

// ConeMinUM is how far (microns) a point must stand in front of the fitted
// biconic, on a cornea the screening flags, for a design to check its
// clearance through it.
const ConeMinUM = 5.0

// coneEye is an Eye with a cone (lens.ConeEye).
type coneEye struct {
	Eye
	semiDeg, radiusMM float64
}

// Cone implements lens.ConeEye.
func (e coneEye) Cone() (semiMeridianDeg, radiusMM float64, ok bool) {
	return e.semiDeg, e.radiusMM, true
}

// kReading returns the keratometry the nomogram of lens type t asks for.
func kReading(set lens.Nomograms, t lens.Type) string {
	switch t {
	case lens.RGP:
		return set.RGP.KReading
	case lens.OrthoK:
		return set.OrthoK.KReading
	case lens.Scleral:
		return set.Scleral.KReading
	}
	return ""
}

// recordedK is an eye whose K readings are a design's own, as it recorded
// them: a revision changes the lens, not the keratometry it was based on,
// even when the scan, fitted again by a later engine, reads a slightly
// different K. Its sags and angles are the scan's, fitted again.
type recordedK struct {
	Eye
	flat, steep lens.KReading
}

func (e recordedK) FlatK() (radiusMM, axisDeg float64)  { return e.flat.RadiusMM, e.flat.AxisDeg }
func (e recordedK) SteepK() (radiusMM, axisDeg float64) { return e.steep.RadiusMM, e.steep.AxisDeg }

// Revise designs prev's lens again, on the same scan, with overrides (an
// aftercare adjustment). The eye model is fitted again from the scan, and
// the lens keeps prev's nomogram, clinical inputs and K readings; the
// result records the revision and the screening of the cornea.
func Revise(s *topo.Surface, prev *Result, o lens.Overrides, model cornea.ModelOptions) (*Result, error) {
	const op = "pipeline.Revise"
	if prev == nil || prev.Lens == nil {
		return nil, errs.Ef(op, errs.Invalid, "no design to revise")
	}
	m, err := cornea.Fit(s, model)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	if prev.Lens.Type == lens.Scleral {
		m = m.WithExtrapolation(cornea.ExtrapolateTangentLine)
	}
	eye := recordedK{Eye: Eye{M: m, KReading: prev.Lens.KReading}, flat: prev.Lens.FlatK, steep: prev.Lens.SteepK}
	d, err := lens.Revise(prev.Lens, eye, prev.Lens.Clinical(), o)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	r := &Result{Engine: Version, Eye: string(s.Eye), Format: s.Format, Layout: s.Layout, Points: s.Len(), Device: s.Measurements,
		Lens: d, ScanID: prev.ScanID, Screening: prev.Screening}
	if r.Cornea, err = corneaOf(m, d.Type); err != nil {
		return nil, errs.Wrap(op, err)
	}
	r.Cornea.DeviceSimK = deviceSimK(s)
	r.gatherWarnings(m)
	return r, nil
}
