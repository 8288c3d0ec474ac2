// Package lens designs contact lenses from a cornea: rigid gas permeable
// (RGP) corneal lenses, reverse-geometry orthokeratology lenses and scleral
// lenses. A design is computed from an Eye (what the fitted cornea, and for
// sclerals its extrapolated sclera, tells a designer), the clinical inputs
// (refraction, HVID, pupil) and a versioned Nomogram that holds every
// clinical convention used; the Design records which nomogram and version
// produced it and repeats its values.
//
// Every design carries its back surface as zones per meridian (a
// BackSurface a lathe point file can sample to any density) and the
// clearance between lens and eye along the principal meridians, the data a
// fluorescein-like plot needs.
//
// Conventions: chords are full diameters, r and semi-chords are half of
// one; sags are depths below the apex tangent plane (mm, positive into the
// eye); meridians are TABO degrees (0-180, examiner's view); powers are in
// dioptres, back vertex, in air.
//
// The package is pure: no I/O beyond readers of nomogram JSON, no logging,
// no global state.
package lens

import (
	"fmt"
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// Eye is what a design needs to know of the cornea (and, for sclerals, of
// the extrapolated sclera).
type Eye interface {
	// FlatK is the flattest central meridian: its radius (mm) and axis
	// (TABO 0-180, examiner's view).
	FlatK() (radiusMM, axisDeg float64)
	// SteepK is the steepest central meridian, about 90 degrees from FlatK.
	SteepK() (radiusMM, axisDeg float64)
	// SagMM is the corneal sag at a chord (diameter, mm) along a meridian;
	// source says "measured" or how it was extrapolated.
	SagMM(meridianDeg, chordMM float64) (sagMM float64, source string, err error)
	// TangentAngleDeg is the angle of the surface tangent to the apex plane
	// at a semi-chord (mm) along a meridian.
	TangentAngleDeg(meridianDeg, semiChordMM float64) (float64, error)
}

// SourceMeasured is the sag source an Eye reports for data it measured.
const SourceMeasured = "measured"

// Type is a lens type.
type Type string

// Lens types, as the calculator and the public JSON spell them.
const (
	RGP     Type = "rgp"
	OrthoK  Type = "orthok"
	Scleral Type = "scleral"
)

// ParseType returns the Type spelled s ("rgp", "orthok" or "scleral").
func ParseType(s string) (Type, error) {
	switch t := Type(s); t {
	case RGP, OrthoK, Scleral:
		return t, nil
	}
	return "", errs.Field("lens.ParseType", "lens", "unknown lens type %q (want rgp, orthok or scleral)", s)
}

// Clinical holds the examiner's inputs to a design.
type Clinical struct {
	// RefractionD is the spectacle refraction's sphere (D): the whole
	// refraction when CylinderD is 0. For ortho-k it is the myopia to
	// correct (negative).
	RefractionD float64 `json:"refraction_D"`
	// CylinderD is the refraction's cylinder in minus-cylinder form (-10 to
	// 0 D; ParseRefraction transposes a plus cylinder) and AxisDeg its axis
	// (TABO 0-180, 0 being 180). They come together: an axis without a
	// cylinder is refused. RGP designs correct the cylinder (see
	// DesignRGP); ortho-k and scleral designs use the sphere and say so.
	CylinderD float64 `json:"cylinder_D,omitempty"`
	AxisDeg   float64 `json:"axis_deg,omitempty"`
	// VertexMM is the vertex distance the refraction was measured at,
	// 0-20 mm; 0 takes the nomogram's VertexDistanceMM.
	VertexMM float64 `json:"vertex_mm,omitempty"`
	// HVIDMM is the horizontal visible iris diameter; 0 takes the
	// nomogram's default and says so in the design's warnings.
	HVIDMM float64 `json:"hvid_mm,omitempty"`
	// PupilMM is the pupil diameter (RGP optic zone); 0 means unknown.
	PupilMM float64 `json:"pupil_mm,omitempty"`
}

// Refraction returns the inputs' refraction (VertexMM as given: 0 when the
// nomogram's vertex distance applies).
func (c Clinical) Refraction() Refraction {
	return Refraction{SphereD: c.RefractionD, CylinderD: c.CylinderD, AxisDeg: c.AxisDeg, VertexMM: c.VertexMM}.normalised()
}

// WithRefraction returns c with the sphere, cylinder, axis and vertex
// distance of r (a ParseRefraction result, say).
func (c Clinical) WithRefraction(r Refraction) Clinical {
	c.RefractionD, c.CylinderD, c.AxisDeg, c.VertexMM = r.SphereD, r.CylinderD, r.AxisDeg, r.VertexMM
	return c
}

// refraction returns the inputs' refraction with the vertex distance
// resolved (defMM when not given).
func (c Clinical) refraction(defMM float64) Refraction {
	r := c.Refraction()
	r.VertexMM = cmp0(r.VertexMM, defMM)
	return r
}

// KReading is a keratometry reading in the design output.
type KReading struct {
	RadiusMM float64 `json:"radius_mm"`
	D        float64 `json:"D"`
	AxisDeg  float64 `json:"axis_deg"`
}

// Landing describes where a lens meets the eye along one meridian
// (ortho-k landing zone, scleral haptic).
type Landing struct {
	MeridianDeg float64 `json:"meridian_deg"`
	ChordMM     float64 `json:"chord_mm"`
	// EyeSagMM is the eye's sag at the chord along the meridian, and
	// EyeSagSource whether it was measured or extrapolated (and how).
	EyeSagMM     float64 `json:"eye_sag_mm"`
	EyeSagSource string  `json:"eye_sag_source"`
	// LensSagMM is the lens's sag at the chord: EyeSagMM plus the designed
	// central clearance.
	LensSagMM float64 `json:"lens_sag_mm"`
	// AngleDeg is the landing angle: the eye's tangent angle at the chord,
	// or the angle a revision set (Overrides.LandingAngles).
	AngleDeg float64 `json:"angle_deg"`
	// ReturnZoneDepthMM (ortho-k) is the depth from the optic zone edge to
	// the landing chord: LensSagMM - sag of the BOZR sphere at the BOZD.
	ReturnZoneDepthMM float64 `json:"return_zone_depth_mm,omitempty"`
	// ReverseCurveRadiusMM (ortho-k) is the radius of the reverse curve
	// that joins the optic zone to the landing zone.
	ReverseCurveRadiusMM float64 `json:"reverse_curve_radius_mm,omitempty"`
}

// Design is a lens design: the quantities a lab orders and cuts, the
// back surface, the clearance against the eye, and the details and
// nomogram of its type (exactly one of RGP, OrthoK, Scleral is set).
type Design struct {
	Type            Type   `json:"type"`
	Nomogram        string `json:"nomogram"`
	NomogramVersion string `json:"nomogram_version"`

	BOZRMM float64 `json:"bozr_mm"`
	BOZDMM float64 `json:"bozd_mm"`
	TDMM   float64 `json:"td_mm"`
	// SagMM is the lens's back-surface sag at the total diameter.
	SagMM float64 `json:"sag_mm"`
	// PowerD is the ordered back vertex power (rounded to the nomogram's
	// step), FrontRadiusMM the front optic radius giving it.
	PowerD            float64 `json:"power_D"`
	FrontRadiusMM     float64 `json:"front_radius_mm"`
	CentreThicknessMM float64 `json:"centre_thickness_mm"`
	MaterialIndex     float64 `json:"material_index"`
	// TearLensD is the power of the tear lens between the BOZR and the
	// flat K: tear index term * (1/BOZR - 1/K).
	TearLensD float64 `json:"tear_lens_D"`
	// RefractionD is the spectacle refraction's sphere as given;
	// CornealPlaneRxD the same vertexed to the cornea. Refraction is the
	// whole refraction (sphere, cylinder, axis) with the vertex distance
	// the design used.
	RefractionD     float64    `json:"refraction_D"`
	CornealPlaneRxD float64    `json:"corneal_plane_rx_D"`
	Refraction      Refraction `json:"refraction"`
	HVIDMM          float64    `json:"hvid_mm"`
	// PupilMM is the pupil given (0: none).
	PupilMM float64  `json:"pupil_mm,omitempty"`
	FlatK   KReading `json:"flat_k"`
	SteepK  KReading `json:"steep_k"`
	// KReading says which keratometry FlatK and SteepK are, as the
	// nomogram asks for it: KReadingSimK or KReadingApical.
	KReading string `json:"k_reading"`

	// Toric is true when the back surface differs between meridians
	// (ortho-k toric landing, scleral toric haptics, a bitoric RGP);
	// ToricStepUM is then the sag difference between them at the landing
	// chord (for an RGP, at the optic zone's edge).
	Toric       bool    `json:"toric"`
	ToricStepUM float64 `json:"toric_step_um,omitempty"`
	// Meridians are the optics along the principal meridians of a lens
	// whose optics differ between them (a bitoric RGP), the flatter
	// first; the top-level BOZR, tear lens, power and front radius are
	// the first's. Empty for other lenses.
	Meridians []MeridianOptics `json:"meridians,omitempty"`

	BackSurface BackSurface        `json:"back_surface"`
	Clearance   []ClearanceProfile `json:"clearance"`

	RGP     *RGPDetails     `json:"rgp,omitempty"`
	OrthoK  *OrthoKDetails  `json:"orthok,omitempty"`
	Scleral *ScleralDetails `json:"scleral,omitempty"`

	// Warnings are things the lab should look at before cutting: assumed
	// inputs, clearances out of range, extrapolated eye data.
	Warnings []string `json:"warnings,omitempty"`

	// Revision is set on a design made by Revise: what it revised and
	// which parameters were fixed instead of derived.
	Revision *Revision `json:"revision,omitempty"`
}

func (d *Design) warnf(format string, args ...any) {
	d.Warnings = append(d.Warnings, fmt.Sprintf(format, args...))
}

// Clinical returns the clinical inputs the design was made from, as Revise
// takes them: the refraction (sphere, cylinder, axis and the vertex
// distance used), the HVID used and the pupil.
func (d *Design) Clinical() Clinical {
	return Clinical{RefractionD: d.RefractionD, CylinderD: d.Refraction.CylinderD, AxisDeg: d.Refraction.AxisDeg,
		VertexMM: d.Refraction.VertexMM, HVIDMM: d.HVIDMM, PupilMM: d.PupilMM}
}

// nomogram is a lens type's nomogram as startDesign sees it: its checks
// and the conventions every type has.
type nomogram interface {
	validate(op, prefix string) error
	common() Common
}

func (c Common) common() Common { return c }

// startDesign begins a design of type t under the nomogram n with what
// every type does first: it checks the nomogram, the eye's K readings and
// the refraction, and records what every type records of the nomogram, the
// inputs and the Ks. Errors name the field ("nomogram.bozd_mm", "flatK",
// "refraction_D", ...).
func startDesign(op string, t Type, n nomogram, eye Eye, in Clinical) (*Design, error) {
	if err := n.validate(op, "nomogram."); err != nil {
		return nil, err
	}
	c := n.common()
	d := &Design{Type: t, Nomogram: c.Name, NomogramVersion: c.Version, KReading: c.KReading,
		RefractionD: in.RefractionD, Refraction: in.refraction(c.VertexDistanceMM), PupilMM: in.PupilMM}
	var err error
	if d.FlatK, d.SteepK, err = eyeK(op, eye, c.KeratometricIndex); err != nil {
		return nil, err
	}
	if err := checkRefraction(op, in); err != nil {
		return nil, err
	}
	return d, nil
}

// warnCylinderNotCorrected notes a refractive cylinder that a design
// leaves out (ortho-k and scleral lenses correct the sphere).
func (d *Design) warnCylinderNotCorrected() {
	if d.Refraction.CylinderD != 0 {
		d.warnf("the refraction's cylinder (%s) is not corrected by this design: its power uses the sphere", d.Refraction)
	}
}

// eyeK reads the eye's K readings and checks them.
func eyeK(op string, eye Eye, index float64) (flat, steep KReading, err error) {
	if eye == nil {
		return flat, steep, errs.Ef(op, errs.Invalid, "no eye to design for")
	}
	fr, fa := eye.FlatK()
	sr, sa := eye.SteepK()
	for _, v := range []struct {
		name string
		r, a float64
	}{{"flatK", fr, fa}, {"steepK", sr, sa}} {
		if !(v.r >= 5 && v.r <= 12) {
			return flat, steep, errs.Field(op, v.name, "radius %g mm is not a plausible corneal radius (5-12 mm)", v.r)
		}
		if !(v.a >= 0 && v.a <= 180) {
			return flat, steep, errs.Field(op, v.name, "axis %g is not a TABO angle (0-180 degrees)", v.a)
		}
	}
	return KReading{fr, index / fr, fa}, KReading{sr, index / sr, sa}, nil
}

// eyeSag calls eye.SagMM and classifies its error.
func eyeSag(op string, eye Eye, meridianDeg, chordMM float64) (float64, string, error) {
	s, src, err := eye.SagMM(meridianDeg, chordMM)
	if err != nil {
		return 0, "", errs.E(op, kindOr(err), fmt.Errorf("eye sag at the %g mm chord along %g degrees: %w", chordMM, meridianDeg, err))
	}
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0, "", errs.Ef(op, errs.Invalid, "eye sag at the %g mm chord along %g degrees is not finite", chordMM, meridianDeg)
	}
	return s, src, nil
}

func eyeAngle(op string, eye Eye, meridianDeg, semiChordMM float64) (float64, error) {
	a, err := eye.TangentAngleDeg(meridianDeg, semiChordMM)
	if err != nil {
		return 0, errs.E(op, kindOr(err), fmt.Errorf("eye tangent angle at %g mm along %g degrees: %w", semiChordMM, meridianDeg, err))
	}
	if !(a > 0 && a < 90) {
		return 0, errs.Ef(op, errs.Invalid, "eye tangent angle %g at %g mm along %g degrees is not between 0 and 90", a, semiChordMM, meridianDeg)
	}
	return a, nil
}

// land reads the eye at the landing chord (mm) along the principal
// meridians, the flat K's and then the steep K's (the sag and the tangent
// angle there), and settles where the lens lands: on lo, the meridian
// with less sag, where a rotationally symmetric lens rests, or on both
// meridians (a toric landing) when toric says their sag difference
// (microns) calls for one or o asks for it (see Overrides.landings). A
// toric landing marks d toric with the sag difference as its step. It
// returns the landings, lo and the meridians to cut a profile for, lo
// first.
func land(op string, eye Eye, d *Design, o Overrides, chordMM float64, toric func(sagDifferenceUM float64) bool) (lands [2]Landing, lo int, cut []int, err error) {
	for k, m := range [2]float64{d.FlatK.AxisDeg, d.SteepK.AxisDeg} {
		s, src, err := eyeSag(op, eye, m, chordMM)
		if err != nil {
			return lands, 0, nil, err
		}
		a, err := eyeAngle(op, eye, m, chordMM/2)
		if err != nil {
			return lands, 0, nil, err
		}
		lands[k] = Landing{MeridianDeg: m, ChordMM: chordMM, EyeSagMM: s, EyeSagSource: src, AngleDeg: a}
	}
	if lands[1].EyeSagMM < lands[0].EyeSagMM {
		lo = 1
	}
	diff := sagDifferenceUM(lands)
	if cut, err = o.landings(op, &lands, lo, toric(diff)); err != nil {
		return lands, 0, nil, err
	}
	if len(cut) > 1 {
		d.Toric = true
		d.ToricStepUM = diff
	}
	return lands, lo, cut, nil
}

// sagDifferenceUM is the difference between the eye's sags at two
// landings, microns.
func sagDifferenceUM(lands [2]Landing) float64 {
	return 1000 * math.Abs(lands[1].EyeSagMM-lands[0].EyeSagMM)
}

// kindOr keeps a classified eye error's kind; an unclassified one is
// treated as invalid input (the eye model cannot serve the design).
func kindOr(err error) errs.Kind {
	if k := errs.KindOf(err); k != errs.Other {
		return k
	}
	return errs.Invalid
}

// hvid returns the HVID to use, warning when the nomogram default stands in.
func hvid(op string, d *Design, in Clinical, def float64) (float64, error) {
	if in.HVIDMM == 0 {
		d.warnf("HVID not given: the nomogram default %g mm was used", def)
		return def, nil
	}
	if !(in.HVIDMM >= 9 && in.HVIDMM <= 14) {
		return 0, errs.Field(op, "hvid_mm", "%g mm is not a plausible HVID (9-14 mm)", in.HVIDMM)
	}
	return in.HVIDMM, nil
}

// checkRefraction checks the refraction's sphere, cylinder, axis and
// vertex distance; errors name the Clinical JSON field.
func checkRefraction(op string, in Clinical) error {
	if !(in.RefractionD >= -MaxSphereD && in.RefractionD <= MaxSphereD) {
		return errs.Field(op, "refraction_D", "%g D is not a plausible refraction (-30 to +30 D)", in.RefractionD)
	}
	if !(in.CylinderD >= -MaxCylinderD && in.CylinderD <= 0) {
		if in.CylinderD > 0 && in.CylinderD <= MaxCylinderD && in.AxisDeg >= 0 && in.AxisDeg <= 180 {
			t := Refraction{SphereD: in.RefractionD, CylinderD: in.CylinderD, AxisDeg: in.AxisDeg}.transposed()
			return errs.Field(op, "cylinder_D", "%+g D is a plus cylinder: give the refraction in minus-cylinder form (%s)", in.CylinderD, t)
		}
		return errs.Field(op, "cylinder_D", "%g D is not a plausible cylinder (-10 to 0 D, minus-cylinder form)", in.CylinderD)
	}
	if !(in.AxisDeg >= 0 && in.AxisDeg <= 180) {
		return errs.Field(op, "axis_deg", "%g is not an axis (0 to 180 degrees)", in.AxisDeg)
	}
	if in.CylinderD == 0 && in.AxisDeg != 0 {
		return errs.Field(op, "axis_deg", "an axis (%g) without a cylinder: give cylinder_D with it, or neither", in.AxisDeg)
	}
	if !(in.VertexMM >= 0 && in.VertexMM <= MaxVertexMM) {
		return errs.Field(op, "vertex_mm", "%g mm is not a plausible vertex distance (0 to 20 mm; 0 takes the nomogram's)", in.VertexMM)
	}
	return nil
}

// New designs a lens of type t with the matching nomogram of set.
func New(t Type, eye Eye, in Clinical, set Nomograms) (*Design, error) {
	switch t {
	case RGP:
		return DesignRGP(eye, in, set.RGP)
	case OrthoK:
		return DesignOrthoK(eye, in, set.OrthoK)
	case Scleral:
		return DesignScleral(eye, in, set.Scleral)
	}
	_, err := ParseType(string(t))
	return nil, err
}
