package scans

import (
	"context"
	"fmt"
	"math"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// TearLayer is the tear film under one design version's lens resting on
// the scan's fitted cornea, with the fluorescein model that shows it.
type TearLayer struct {
	ScanID   string
	DesignID string
	Version  int
	Map      *lens.TearLayer
	Model    lens.FluoresceinModel
}

// TearLayerOptions choose the design version (0: the current one) and
// where the lens is put: its centre decentred from the corneal apex, in
// mm, examiner's view (+x right, +y up).
type TearLayerOptions struct {
	Version                          int
	DecentrationXMM, DecentrationYMM float64
}

// MaxDecentrationMM bounds a requested decentration on each axis; the lens
// also refuses one beyond half its radius.
const MaxDecentrationMM = 5.0

// TearLayer maps the tear film under the lens of a design of a scan of the
// actor's clinic: the current design, or o.Version when given, placed as o
// says. It is read like the design (one design.tear-layer.read record;
// another clinic's scan is NotFound, audited as denied), computed from the
// stored surface and a fresh fit of the cornea, within the memory budget a
// design takes.
func (s *Service) TearLayer(ctx context.Context, a auth.Actor, scanID string, o TearLayerOptions) (*TearLayer, error) {
	const op = "scans.tear-layer"
	const action = "design.tear-layer.read"
	sc, err := s.scan(ctx, a, scanID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, action, "scans/"+servicekit.SafeID(scanID)+"/design/tear-layer", audit.Denied)
		}
		return nil, err
	}
	resource := "scans/" + sc.ID + "/design/tear-layer"
	designID := sc.DesignID
	if designID == "" {
		return nil, errs.Ef(op, errs.Conflict, "the scan has no design yet (status %q)", sc.Status)
	}
	if n := o.Version; n != 0 {
		if n < 1 || n > sc.DesignVersion {
			return nil, errs.Field(op, "version", "must be a design version of this scan, 1 to %d", sc.DesignVersion)
		}
		if designID, err = s.designVersion(ctx, sc, n); err != nil {
			return nil, err
		}
	}
	outcome := audit.Failure
	defer func() {
		if outcome != "" {
			_ = s.Audit(ctx, a, action, resource, outcome)
		}
	}()
	rec, res, err := s.design(ctx, sc.ClinicID, designID)
	if err != nil {
		return nil, err
	}
	surf, release, err := s.storedSurface(ctx, op, sc)
	if err != nil {
		return nil, err
	}
	defer release()
	m, err := cornea.Fit(surf, cornea.ModelOptions{})
	if err != nil {
		return nil, errs.E(op, errs.Other, err) // it was fitted for the design
	}
	tl, err := pipeline.TearLayerModel(m, res, o.DecentrationXMM, o.DecentrationYMM)
	if errs.Is(errs.Invalid, err) {
		return nil, err // a decentration this lens cannot take
	} else if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	outcome = ""
	return &TearLayer{ScanID: sc.ID, DesignID: rec.ID, Version: rec.Version, Map: tl, Model: lens.DefaultFluorescein()},
		s.Audit(ctx, a, action, resource, audit.Success)
}

// designVersion finds the id of version n of sc's design.
func (s *Service) designVersion(ctx context.Context, sc Scan, n int) (string, error) {
	docs, err := s.Docs.Query(ctx, ports.Query{Collection: DesignsCollection,
		Where: []ports.Where{{Field: "scanId", Op: "==", Value: sc.ID}, {Field: "version", Op: "==", Value: n}}})
	if err != nil {
		return "", err
	}
	for _, d := range docs {
		var rec DesignRecord
		if err := d.Decode(&rec); err == nil && rec.ClinicID == sc.ClinicID {
			return rec.ID, nil
		}
	}
	return "", errs.E("scans.tear-layer", errs.NotFound, fmt.Errorf("design version %d not found", n))
}

// TearLayerJSON is the API's form of a tear layer: the grid as rows (y from
// the lowest up, x from left to right, mm from the lens centre), film
// thickness and fluorescein brightness per cell (null outside the lens),
// the cells where the cornea was extrapolated, where the lens rests and
// how that was found, and the least and greatest film and where.
type TearLayerJSON struct {
	ScanID      string                `json:"scanId"`
	DesignID    string                `json:"designId"`
	Version     int                   `json:"version"`
	Model       lens.FluoresceinModel `json:"model"`
	PitchMM     float64               `json:"pitch_mm"`
	AxisMM      []float64             `json:"axis_mm"`
	ThicknessUM [][]*float64          `json:"thickness_um"`
	Intensity   [][]*float64          `json:"intensity"`
	// Extrapolated lists [row, column] of the cells over extrapolated cornea.
	Extrapolated [][2]int `json:"extrapolated"`
	Rest         struct {
		Method          string  `json:"method"`
		DecentrationXMM float64 `json:"decentration_x_mm"`
		DecentrationYMM float64 `json:"decentration_y_mm"`
		ApexClearanceUM float64 `json:"apex_clearance_um"`
		TouchXMM        float64 `json:"touch_x_mm"`
		TouchYMM        float64 `json:"touch_y_mm"`
		// SettlingUM is how far a scleral lens sank after landing.
		SettlingUM float64 `json:"settling_um,omitempty"`
		// DesignedApexClearanceUM is an ortho-k design's intended central film.
		DesignedApexClearanceUM float64 `json:"designed_apex_clearance_um,omitempty"`
		// RestsOnMM are the points the lens rocked onto (lens coordinates),
		// TiltDeg how far it tilted and TiltTowardsDeg the semi-meridian
		// along which its edge went down.
		RestsOnMM      [][2]float64 `json:"rests_on_mm"`
		TiltDeg        float64      `json:"tilt_deg"`
		TiltTowardsDeg float64      `json:"tilt_towards_deg"`
		// Note says why a lens is shown where it first touched.
		Note string `json:"note,omitempty"`
	} `json:"rest"`
	MinUM  float64    `json:"min_um"`
	MinAt  [2]float64 `json:"min_at_mm"`
	MaxUM  float64    `json:"max_um"`
	MaxAt  [2]float64 `json:"max_at_mm"`
	Source string     `json:"source"`
}

// JSON is t in the API's form, thickness to 0.1 micron and brightness to
// 0.001.
func (t *TearLayer) JSON() TearLayerJSON {
	m := t.Map
	n := len(m.AxisMM)
	out := TearLayerJSON{ScanID: t.ScanID, DesignID: t.DesignID, Version: t.Version, Model: t.Model, PitchMM: m.PitchMM, AxisMM: m.AxisMM,
		ThicknessUM: make([][]*float64, n), Intensity: make([][]*float64, n), Extrapolated: [][2]int{},
		MinUM: round(m.MinUM, 10), MinAt: [2]float64{m.MinXMM, m.MinYMM}, MaxUM: round(m.MaxUM, 10), MaxAt: [2]float64{m.MaxXMM, m.MaxYMM},
		Source: "the stored scan, fitted again, under the design's back surface"}
	out.Rest.Method, out.Rest.DecentrationXMM, out.Rest.DecentrationYMM = m.Rest.Method, m.Rest.DecentrationXMM, m.Rest.DecentrationYMM
	out.Rest.ApexClearanceUM, out.Rest.TouchXMM, out.Rest.TouchYMM = round(m.Rest.ApexClearanceUM, 10), m.Rest.TouchXMM, m.Rest.TouchYMM
	out.Rest.SettlingUM, out.Rest.DesignedApexClearanceUM = m.Rest.SettlingUM, m.Rest.DesignedApexClearanceUM
	out.Rest.RestsOnMM, out.Rest.TiltDeg, out.Rest.TiltTowardsDeg, out.Rest.Note = m.Rest.RestsOnMM, round(m.Rest.TiltDeg, 100), round(m.Rest.TiltTowardsDeg, 10), m.Rest.Note
	if out.Rest.RestsOnMM == nil {
		out.Rest.RestsOnMM = [][2]float64{}
	}
	for i := range n {
		th, in := make([]*float64, n), make([]*float64, n)
		for j := range n {
			v := m.ThicknessUM[i*n+j]
			if math.IsNaN(v) {
				continue
			}
			a, b := round(v, 10), round(t.Model.Intensity(v), 1000)
			th[j], in[j] = &a, &b
			if m.Extrapolated[i*n+j] {
				out.Extrapolated = append(out.Extrapolated, [2]int{i, j})
			}
		}
		out.ThicknessUM[i], out.Intensity[i] = th, in
	}
	return out
}

func round(v, scale float64) float64 { return math.Round(v*scale) / scale }
