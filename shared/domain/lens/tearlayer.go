package lens

import (
	"fmt"
	"math"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// TearLayerPitchMM is the spacing of a tear-layer map's grid.
const TearLayerPitchMM = 0.1

// RestMethodLowered is how a rest is found: the back surface, centred (or
// decentred as asked), is lowered onto the cornea until it first touches
// it, wherever that is (the apex, mid-periphery, landing zone or haptic).
const RestMethodLowered = "lowered onto the eye until it touches"

// Placement says where a lens is put before it comes to rest, and what
// happens after.
type Placement struct {
	// DecentrationXMM and DecentrationYMM place the lens centre relative
	// to the corneal apex (examiner's view: +x right, +y up).
	DecentrationXMM, DecentrationYMM float64
	// SettlingUM is how far the lens sinks after it lands (a scleral
	// lens's haptic into the conjunctiva): the film thins by it
	// everywhere, and where it would go below nothing the lens bears.
	SettlingUM float64
	// DesignedApexClearanceUM, when above zero, is the central film the
	// design intends (ortho-k); the rest says whether it is reached.
	DesignedApexClearanceUM float64
}

// RestingPosition is where a lens sits on the eye and how that was found.
type RestingPosition struct {
	// Method says in words how the rest was found.
	Method string
	// DecentrationXMM and DecentrationYMM place the lens centre relative
	// to the corneal apex (examiner's view: +x right, +y up).
	DecentrationXMM, DecentrationYMM float64
	// ApexClearanceUM is how far the lens apex sits in front of the cornea
	// beneath it: the tear film at the lens centre.
	ApexClearanceUM float64
	// TouchXMM and TouchYMM are where the lens first touches as it is
	// lowered straight down (lens coordinates).
	TouchXMM, TouchYMM float64
	// RestsOnMM are the points it rests on once it has rocked into place
	// (lens coordinates, the most loaded first): three around its centre,
	// two either side of it, or its centre.
	RestsOnMM [][2]float64
	// TiltDeg is how far it tilted to rest, and TiltTowardsDeg the
	// semi-meridian (0-360, examiner's view) along which its edge went
	// down towards the eye.
	TiltDeg, TiltTowardsDeg float64
	// Note says why the lens is shown where it first touched instead.
	Note string
	// SettlingUM is how far it sank after landing (Placement.SettlingUM).
	SettlingUM float64
	// DesignedApexClearanceUM is the central film the design intends, when
	// it names one (Placement.DesignedApexClearanceUM).
	DesignedApexClearanceUM float64
}

// TearLayer is the tear film between a lens resting on the eye and the
// cornea, over the whole lens on a square grid centred on the lens: cell
// (i, j) is at x = AxisMM[j], y = AxisMM[i] from the lens centre, and
// ThicknessUM[i*len(AxisMM)+j] is the film there in microns (NaN outside
// the lens). Extrapolated marks cells where the cornea was not measured
// but extrapolated (beyond the exam, under a lid).
type TearLayer struct {
	PitchMM      float64
	AxisMM       []float64
	ThicknessUM  []float64
	Extrapolated []bool
	Rest         RestingPosition
	// The least and greatest film over the lens, and where (lens
	// coordinates, mm).
	MinUM, MinXMM, MinYMM float64
	MaxUM, MaxXMM, MaxYMM float64
}

// At returns the film (microns) at the grid cell nearest (x, y), NaN
// outside the lens.
func (t *TearLayer) At(x, y float64) float64 {
	n := len(t.AxisMM)
	if n == 0 {
		return math.NaN()
	}
	idx := func(v float64) int { return int(math.Round((v - t.AxisMM[0]) / t.PitchMM)) }
	i, j := idx(y), idx(x)
	if i < 0 || j < 0 || i >= n || j >= n {
		return math.NaN()
	}
	return t.ThicknessUM[i*n+j]
}

// TearLayer maps the tear film under d resting on eye, its centre
// decentred by (decX, decY) mm from the corneal apex: the lens is lowered
// until it touches; a scleral lens then settles by its nomogram's
// settling, and an ortho-k lens's rest is checked against its designed
// central clearance.
func (d *Design) TearLayer(eye Eye, decX, decY float64) (*TearLayer, error) {
	p := Placement{DecentrationXMM: decX, DecentrationYMM: decY}
	switch {
	case d.Scleral != nil:
		p.SettlingUM = d.Scleral.Nomogram.SettlingUM
	case d.OrthoK != nil:
		p.DesignedApexClearanceUM = d.OrthoK.CentralClearanceUM
	}
	return TearLayerMap(eye, &d.BackSurface, p)
}

// TearLayerMap rests the back surface surf on eye as p says, by lowering
// it until it touches (RestMethodLowered), rocking it onto its resting
// points (see rockingRest) and letting it settle, and maps the tear film
// under the whole lens, edge lift included, on a TearLayerPitchMM grid.
func TearLayerMap(eye Eye, surf *BackSurface, p Placement) (*TearLayer, error) {
	const op = "lens.TearLayerMap"
	edge := surf.EdgeMM()
	if !(edge > 0) || math.IsInf(edge, 0) {
		return nil, errs.Ef(op, errs.Invalid, "the back surface has no extent")
	}
	decX, decY := p.DecentrationXMM, p.DecentrationYMM
	if math.IsNaN(decX) || math.IsNaN(decY) || math.Hypot(decX, decY) > edge/2 {
		return nil, errs.Field(op, "decentration", "must be a finite offset of at most half the lens radius (%.2f mm)", edge/2)
	}
	if !(p.SettlingUM >= 0 && p.SettlingUM < 1000) {
		return nil, errs.Field(op, "settling_um", "must be from 0 to under 1000 microns")
	}
	half := int(math.Floor(edge/TearLayerPitchMM + 1e-9))
	n := 2*half + 1
	axis := make([]float64, n)
	for k := range axis {
		axis[k] = float64(k-half) * TearLayerPitchMM
	}
	t := &TearLayer{PitchMM: TearLayerPitchMM, AxisMM: axis, ThicknessUM: make([]float64, n*n), Extrapolated: make([]bool, n*n),
		Rest: RestingPosition{Method: RestMethodLowered, DecentrationXMM: decX, DecentrationYMM: decY,
			SettlingUM: p.SettlingUM, DesignedApexClearanceUM: p.DesignedApexClearanceUM}}
	// depth is the cornea's depth at (x, y) from its apex: along the
	// semi-meridian through it when the eye can say, else the chord sag.
	depth := func(x, y float64) (float64, string, error) {
		return eyeSag(op, eye, meridianOf(x, y), 2*math.Hypot(x, y))
	}
	if de, ok := eye.(DepthEye); ok {
		at := de.DepthMM
		if me, ok := eye.(MapEye); ok {
			at = me.DepthKindMM
		}
		depth = func(x, y float64) (float64, string, error) {
			r := math.Hypot(x, y)
			if r == 0 {
				return 0, SourceMeasured, nil
			}
			semi := math.Atan2(y, x) * 180 / math.Pi
			if semi < 0 {
				semi += 360
			}
			z, src, err := at(semi, r)
			if err == nil && (math.IsNaN(z) || math.IsInf(z, 0)) {
				err = fmt.Errorf("not finite")
			}
			if err != nil {
				return 0, "", errs.E(op, kindOr(err), fmt.Errorf("eye depth at %.2f mm along %.0f degrees: %w", r, semi, err))
			}
			return z, src, nil
		}
	}
	// gap holds lens sag minus eye depth at each cell inside the lens (the
	// compact lists xs, ys, gs; at holds each cell's place in them).
	var xs, ys, gs []float64
	at := make([]int, n*n)
	for i, y := range axis {
		for j, x := range axis {
			k := i*n + j
			at[k] = -1
			r := math.Hypot(x, y)
			if r > edge+1e-9 {
				t.ThicknessUM[k] = math.NaN()
				continue
			}
			es, src, err := depth(x+decX, y+decY)
			if err != nil {
				return nil, err
			}
			at[k] = len(gs)
			xs, ys, gs = append(xs, x), append(ys, y), append(gs, surf.SagMM(meridianOf(x, y), r)-es)
			t.Extrapolated[k] = src != SourceMeasured
		}
	}
	// First touch, lowered straight down: the greatest gap.
	first := 0
	for k, g := range gs {
		if g > gs[first] {
			first = k
		}
	}
	t.Rest.TouchXMM, t.Rest.TouchYMM = xs[first], ys[first]
	// Then the lens rocks onto its resting points.
	var a, b float64
	if n >= 3 {
		c := half*n + half
		ta, tb, rests, err := rockingRest(xs, ys, gs, [3]int{at[c], at[c+1], at[c+n]})
		switch tilt := math.Atan(math.Hypot(ta, tb)) * 180 / math.Pi; {
		case err != nil:
			t.Rest.Note = "it could not be rocked onto its resting points, so it is shown where it first touches"
		case tilt > maxRestTiltDeg && (decX != 0 || decY != 0):
			return nil, errs.Field(op, "decentration", "a lens decentred (%.2f, %.2f) mm would rock %.1f degrees to rest, more than the %g degrees this simulation models: decentre it less",
				decX, decY, tilt, maxRestTiltDeg)
		case tilt > maxRestTiltDeg:
			t.Rest.Note = fmt.Sprintf("it would rock %.1f degrees to rest, more than this simulation models (%g), so it is shown where it first touches",
				tilt, maxRestTiltDeg)
		default:
			a, b, t.Rest.RestsOnMM = ta, tb, rests
			t.Rest.TiltDeg = tilt
			if tilt > 0 {
				t.Rest.TiltTowardsDeg = math.Mod(math.Atan2(tb, ta)*180/math.Pi+360, 360)
			}
		}
	}
	// u is how far the rested lens sits above each cell before it is
	// lifted clear: the lift h is the greatest, the film h - u.
	h := math.Inf(-1)
	for k, g := range gs {
		gs[k] = g + a*xs[k] + b*ys[k]
		h = max(h, gs[k])
	}
	t.MinUM, t.MaxUM = math.Inf(1), math.Inf(-1)
	for k, c := range at {
		if c < 0 {
			continue
		}
		// Settling sinks the lens; where the film would go below
		// nothing, the lens bears on (compresses) the tissue.
		v := max(0, 1000*(h-gs[c])-p.SettlingUM)
		t.ThicknessUM[k] = v
		if v < t.MinUM {
			t.MinUM, t.MinXMM, t.MinYMM = v, xs[c], ys[c]
		}
		if v > t.MaxUM {
			t.MaxUM, t.MaxXMM, t.MaxYMM = v, xs[c], ys[c]
		}
	}
	t.Rest.ApexClearanceUM = t.ThicknessUM[half*n+half]
	t.Rest.Method = restMethod(t.Rest)
	return t, nil
}

// restMethod says how the rest r was found, in a practitioner's words.
func restMethod(r RestingPosition) string {
	m := fmt.Sprintf("%s at (%.1f, %.1f) mm from its centre", RestMethodLowered, r.TouchXMM, r.TouchYMM)
	switch {
	case r.Note != "":
		m += "; " + r.Note
	case r.TiltDeg >= 0.05:
		pts := make([]string, len(r.RestsOnMM))
		for k, p := range r.RestsOnMM {
			pts[k] = fmt.Sprintf("(%.1f, %.1f)", p[0], p[1])
		}
		m += fmt.Sprintf(", then rocked %.1f degrees (its edge down along %.0f degrees) to rest on %s", r.TiltDeg, r.TiltTowardsDeg,
			strings.Join(pts, ", "))
	}
	if r.DecentrationXMM != 0 || r.DecentrationYMM != 0 {
		m = fmt.Sprintf("decentred (%.2f, %.2f) mm and %s", r.DecentrationXMM, r.DecentrationYMM, m)
	}
	if r.SettlingUM > 0 {
		m += fmt.Sprintf(", then settled %.0f microns (the nomogram's settling)", r.SettlingUM)
	}
	if d := r.DesignedApexClearanceUM; d > 0 {
		if math.Abs(r.ApexClearanceUM-d) <= 1 {
			m += fmt.Sprintf(", which leaves the designed central clearance of %.0f microns", d)
		} else {
			m += fmt.Sprintf(", which leaves %.0f microns at the centre instead of the designed %.0f", r.ApexClearanceUM, d)
		}
	}
	return m
}

// meridianOf is the TABO meridian (0-180, counterclockwise from the
// examiner's right) through (x, y).
func meridianOf(x, y float64) float64 {
	if x == 0 && y == 0 {
		return 0
	}
	d := math.Atan2(y, x) * 180 / math.Pi
	if d < 0 {
		d += 180
	}
	if d >= 180 {
		d -= 180
	}
	return d
}

// FluoresceinModel turns a tear film's thickness into the brightness of
// fluorescein under cobalt-blue light, as a slit lamp shows it: films
// thinner than DarkBelowUM look dark (the lens "bears"), brightness rises
// with thickness and is 95 % of its greatest at SaturationUM. Between,
//
//	I(t) = 1 - exp(-3 (t - DarkBelowUM) / (SaturationUM - DarkBelowUM))
//
// a convention (fluorescence of a thin dye film grows with its thickness
// and saturates), versioned so that a picture says which model drew it.
type FluoresceinModel struct {
	Version      string  `json:"version"`
	DarkBelowUM  float64 `json:"dark_below_um"`
	SaturationUM float64 `json:"saturation_um"`
}

// DefaultFluorescein is lensflow-fluorescein 2026.1: dark below 15
// microns, saturated by 90.
func DefaultFluorescein() FluoresceinModel {
	return FluoresceinModel{Version: "lensflow-fluorescein@2026.1", DarkBelowUM: 15, SaturationUM: 90}
}

// Validate checks the model's numbers.
func (m FluoresceinModel) Validate() error {
	const op = "lens.FluoresceinModel"
	switch {
	case m.Version == "":
		return errs.Field(op, "version", "required")
	case !(m.DarkBelowUM >= 0 && m.DarkBelowUM < 100):
		return errs.Field(op, "dark_below_um", "must be in [0, 100) microns")
	case !(m.SaturationUM > m.DarkBelowUM && m.SaturationUM <= 500):
		return errs.Field(op, "saturation_um", "must be above dark_below_um and at most 500 microns")
	}
	return nil
}

// Intensity is the brightness (0 dark to 1) of a film thicknessUM thick;
// NaN (no film: outside the lens) is 0.
func (m FluoresceinModel) Intensity(thicknessUM float64) float64 {
	if math.IsNaN(thicknessUM) || thicknessUM <= m.DarkBelowUM {
		return 0
	}
	return 1 - math.Exp(-3*(thicknessUM-m.DarkBelowUM)/(m.SaturationUM-m.DarkBelowUM))
}

// String names the model.
func (m FluoresceinModel) String() string {
	return fmt.Sprintf("%s (dark below %g µm, saturated by %g µm)", m.Version, m.DarkBelowUM, m.SaturationUM)
}
