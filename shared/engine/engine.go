// Package engine runs the lens design engine end to end on a parsed scan:
// the corneal model (mean conic, biconic and Sim-K, Zernike), the design of
// the requested lens type from its nomogram, and the lathe point files. Its
// Result is the design JSON that the lens calculator prints and that
// GET /v1/scans/{id}/design returns.
package engine

import (
	"math"
	"strconv"

	"github.com/lensflow/lensflow/shared/cornea"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/lens"
	"github.com/lensflow/lensflow/shared/topo"
)

// Version names the engine that produced a design.
const Version = "lensflow-engine/1.0"

// Inputs are what a design needs besides the scan.
type Inputs struct {
	LensType  lens.Type
	Clinical  lens.Clinical
	Nomograms *lens.Nomograms // nil means lens.DefaultNomograms()
	Model     cornea.ModelOptions
}

// Result is a design as the API and the calculator present it.
type Result struct {
	ScanID   string       `json:"scanId,omitempty"`
	DesignID string       `json:"designId,omitempty"`
	Version  int          `json:"version,omitempty"`
	Created  string       `json:"created,omitempty"`
	Engine   string       `json:"engine"`
	Eye      string       `json:"eye"`
	Format   string       `json:"format"`
	Points   int          `json:"points"`
	Cornea   Cornea       `json:"cornea"`
	Lens     *lens.Design `json:"lens"`
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

// Design fits the corneal model to s and designs the lens in.LensType.
// Errors are errs.Invalid when the scan cannot support the design (with
// what is missing) or an input is out of range (naming it).
func Design(s *topo.Surface, in Inputs) (*Result, error) {
	const op = "engine.Design"
	m, err := cornea.Fit(s, in.Model)
	if err != nil {
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	return DesignModel(m, s, in)
}

// DesignModel designs the lens in.LensType on a corneal model already
// fitted to s, so several designs can share one fit. Scleral designs
// extrapolate the eye beyond the data with the tangent line from the 10 mm
// chord; corneal lenses with the fitted conic.
func DesignModel(m *cornea.Model, s *topo.Surface, in Inputs) (*Result, error) {
	const op = "engine.Design"
	set := lens.DefaultNomograms()
	if in.Nomograms != nil {
		set = *in.Nomograms
	}
	if in.LensType == lens.Scleral {
		m = m.WithExtrapolation(cornea.ExtrapolateTangentLine)
	} else {
		m = m.WithExtrapolation(cornea.ExtrapolateConic)
	}
	d, err := lens.New(in.LensType, Eye{m}, in.Clinical, set)
	if err != nil {
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	r := &Result{Engine: Version, Eye: string(s.Eye), Format: s.Format, Points: s.Len(), Lens: d}
	r.Cornea, err = corneaOf(m, in.LensType)
	if err != nil {
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	return r, nil
}

func corneaOf(m *cornea.Model, t lens.Type) (Cornea, error) {
	flat, steep := m.FlatK(), m.SteepK()
	c := Cornea{
		ApicalRadiusMM: m.Mean.R0MM, ShapeFactorP: m.Mean.P, Eccentricity: m.Mean.E(), AsphericityQ: m.Mean.Q(),
		FlatKMM: flat.RadiusMM, SteepKMM: steep.RadiusMM, FlatKD: flat.Dioptres, SteepKD: steep.Dioptres,
		FlatAxisDeg: m.FlatAxisDeg(), SteepAxisDeg: m.SteepAxisDeg(), CylinderD: m.SimK.CylinderD, KIndex: m.KeratometricIndex,
		SagMM: map[string]float64{}, SagSource: map[string]string{},
		FlatMeridian:  Meridian{AxisDeg: m.FlatAxisDeg(), ApicalRadiusMM: m.Flat.R0MM, ShapeFactorP: m.Flat.P},
		SteepMeridian: Meridian{AxisDeg: m.SteepAxisDeg(), ApicalRadiusMM: m.Steep.R0MM, ShapeFactorP: m.Steep.P},
		RMSResidualUM: m.ResidualRMSUM, MaxReachMM: m.Reach.MaxMM, ZoneDiameterMM: m.ZoneDiameterMM,
		Extrapolation: m.Extrapolation.String(),
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
		if src == lens.SourceMeasured {
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

// Eye adapts a corneal model to what a lens design reads of the eye.
type Eye struct{ M *cornea.Model }

// FlatK implements lens.Eye.
func (e Eye) FlatK() (radiusMM, axisDeg float64) { return e.M.FlatK().RadiusMM, e.M.FlatAxisDeg() }

// SteepK implements lens.Eye.
func (e Eye) SteepK() (radiusMM, axisDeg float64) { return e.M.SteepK().RadiusMM, e.M.SteepAxisDeg() }

// SagMM implements lens.Eye.
func (e Eye) SagMM(meridianDeg, chordMM float64) (float64, string, error) {
	return e.M.SagMM(meridianDeg, chordMM)
}

// TangentAngleDeg implements lens.Eye.
func (e Eye) TangentAngleDeg(meridianDeg, semiChordMM float64) (float64, error) {
	return e.M.TangentAngleDeg(meridianDeg, semiChordMM)
}

// Revise designs prev's lens again, on the same scan, with overrides (an
// aftercare adjustment). The eye model is fitted again from the scan, and
// the lens keeps prev's nomogram and clinical inputs; the result records
// the revision.
func Revise(s *topo.Surface, prev *Result, o lens.Overrides, model cornea.ModelOptions) (*Result, error) {
	const op = "engine.Revise"
	if prev == nil || prev.Lens == nil {
		return nil, errs.Ef(op, errs.Invalid, "no design to revise")
	}
	m, err := cornea.Fit(s, model)
	if err != nil {
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	if prev.Lens.Type == lens.Scleral {
		m = m.WithExtrapolation(cornea.ExtrapolateTangentLine)
	}
	in := lens.Clinical{RefractionD: prev.Lens.RefractionD, HVIDMM: prev.Lens.HVIDMM}
	d, err := lens.Revise(prev.Lens, Eye{m}, in, o)
	if err != nil {
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	r := &Result{Engine: Version, Eye: string(s.Eye), Format: s.Format, Points: s.Len(), Lens: d, ScanID: prev.ScanID}
	if r.Cornea, err = corneaOf(m, d.Type); err != nil {
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	return r, nil
}
