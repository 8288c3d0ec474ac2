package lens

import (
	"fmt"
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// Overrides are design parameters a revision fixes instead of deriving
// them from the nomogram (after an aftercare assessment, say). A zero value
// (nil for the pointers) means "derive as before". Field names in errors
// are the JSON names.
type Overrides struct {
	// BOZRMM is the BOZR, 5-12 mm. On a bitoric RGP it is the flat
	// meridian's, and the steep meridian's base curve keeps the designed
	// toricity in keratometric dioptres (rounded to the BOZR step): both
	// tear lenses change alike, so the lens keeps its power effect.
	BOZRMM float64 `json:"bozr_mm,omitempty"`
	BOZDMM float64 `json:"bozd_mm,omitempty"` // 3-14 mm, inside the TD
	TDMM   float64 `json:"td_mm,omitempty"`   // 8-24 mm
	// PowerD is the ordered back vertex power (-30 to +30 D); a pointer so
	// that a plano lens (0 D) can be ordered. On a bitoric RGP it is the
	// flat meridian's, and the steep meridian keeps the designed power
	// difference.
	PowerD *float64 `json:"power_D,omitempty"`
	// LensSagMM (ortho-k and scleral) is the lens's sag at the nomogram's
	// landing chord (scleral 15 mm, ortho-k 8 mm) on the designed meridian,
	// 0-8 mm. It moves every landing by the same amount, so a toric landing
	// keeps its step and the central clearance changes by the difference.
	LensSagMM float64 `json:"lens_sag_mm,omitempty"`
	// ReturnZoneDepthMM (ortho-k) is the return zone depth on the designed
	// meridian, 0-2 mm; it fixes the lens sag at the landing chord as the
	// sag of the BOZR sphere at the BOZD plus the depth. Give it or
	// LensSagMM, not both. Without either, a changed BOZR gets the depth
	// that keeps the landing sag matched (the central clearance stays).
	ReturnZoneDepthMM float64 `json:"return_zone_depth_mm,omitempty"`
	// LandingAngles (ortho-k landing zone, scleral haptic) set the landing
	// angle (0-90 degrees) along principal meridians of the eye; an angle on
	// the second meridian that differs from the designed meridian's makes
	// the landing toric.
	LandingAngles []LandingAngle `json:"landing_angles,omitempty"`
	// Toric forces a toric landing (true: one profile per principal
	// meridian) or a rotationally symmetric one (false); on an RGP a
	// bitoric lens (true; the cornea must have the astigmatism for toric
	// base curves) or a spherical one (false; it warns above the
	// nomogram's cylinder for one).
	Toric *bool `json:"toric,omitempty"`
}

// LandingAngle is a landing angle along one meridian (TABO degrees).
type LandingAngle struct {
	MeridianDeg float64 `json:"meridian_deg"`
	AngleDeg    float64 `json:"angle_deg"`
}

// BOZDRuleRevision is RGPDetails.BOZDRule when a revision set the BOZD.
const BOZDRuleRevision = "set by a revision"

// orthoKClearanceUM is the handbook's central tear film: 10-30 microns.
var orthoKClearanceUM = [2]float64{10, 30}

// Revision records what a revised design revised.
type Revision struct {
	// Number counts revisions: 1 for a revision of a design New made.
	Number int `json:"number"`
	// From holds the previous design's key values.
	From DesignValues `json:"from"`
	// Overrides are the parameters fixed by the revision, in Overrides
	// field order (landing angles in the order given).
	Overrides []Override `json:"overrides"`
}

// Override is one parameter a revision fixed: Field is its JSON name in
// Overrides ("landing_angles" with MeridianDeg; "toric" with From and To 0
// or 1), From its value in the previous design.
type Override struct {
	Field       string   `json:"field"`
	MeridianDeg *float64 `json:"meridian_deg,omitempty"`
	From        float64  `json:"from"`
	To          float64  `json:"to"`
}

// DesignValues are the key values of a design, the ones a revision can
// change.
type DesignValues struct {
	BOZRMM        float64 `json:"bozr_mm"`
	BOZDMM        float64 `json:"bozd_mm"`
	TDMM          float64 `json:"td_mm"`
	SagMM         float64 `json:"sag_mm"`
	PowerD        float64 `json:"power_D"`
	FrontRadiusMM float64 `json:"front_radius_mm"`
	// LensSagMM is the lens sag at the landing chord on the designed
	// meridian, ReturnZoneDepthMM the ortho-k return zone depth there, and
	// CentralClearanceUM the designed central clearance (ortho-k tear
	// film, scleral clearance at insertion).
	LensSagMM          float64 `json:"lens_sag_mm,omitempty"`
	ReturnZoneDepthMM  float64 `json:"return_zone_depth_mm,omitempty"`
	CentralClearanceUM float64 `json:"central_clearance_um,omitempty"`
	// LandingAngles are the landing angles cut, one per back-surface
	// profile.
	LandingAngles []LandingAngle `json:"landing_angles,omitempty"`
	Toric         bool           `json:"toric"`
	ToricStepUM   float64        `json:"toric_step_um,omitempty"`
	// Steep holds a bitoric RGP's steep meridian (BOZRMM, PowerD and
	// FrontRadiusMM above are the flat meridian's).
	Steep *MeridianValues `json:"steep,omitempty"`
}

// MeridianValues are a bitoric lens's key values along one meridian.
type MeridianValues struct {
	MeridianDeg   float64 `json:"meridian_deg"`
	BOZRMM        float64 `json:"bozr_mm"`
	PowerD        float64 `json:"power_D"`
	FrontRadiusMM float64 `json:"front_radius_mm"`
}

// Values returns the design's key values.
func (d *Design) Values() DesignValues {
	v := DesignValues{BOZRMM: d.BOZRMM, BOZDMM: d.BOZDMM, TDMM: d.TDMM, SagMM: d.SagMM, PowerD: d.PowerD,
		FrontRadiusMM: d.FrontRadiusMM, Toric: d.Toric, ToricStepUM: d.ToricStepUM}
	if len(d.Meridians) == 2 {
		m := d.Meridians[1]
		v.Steep = &MeridianValues{MeridianDeg: m.MeridianDeg, BOZRMM: m.BOZRMM, PowerD: m.PowerD, FrontRadiusMM: m.FrontRadiusMM}
	}
	zone := ""
	switch {
	case d.Type == OrthoK && d.OrthoK != nil:
		zone = "landing"
		v.ReturnZoneDepthMM, v.CentralClearanceUM = d.OrthoK.ReturnZoneDepthMM, d.OrthoK.CentralClearanceUM
		if len(d.BackSurface.Profiles) > 0 {
			for _, l := range d.OrthoK.Landings {
				if l.MeridianDeg == d.BackSurface.Profiles[0].MeridianDeg {
					v.LensSagMM = l.LensSagMM
					break
				}
			}
		}
	case d.Type == Scleral && d.Scleral != nil:
		zone = "haptic"
		v.LensSagMM, v.CentralClearanceUM = d.Scleral.LensSagMM, d.Scleral.InsertionClearanceUM
	}
	for _, p := range d.BackSurface.Profiles {
		for _, z := range p.Zones {
			if z.Name == zone && zone != "" {
				v.LandingAngles = append(v.LandingAngles, LandingAngle{MeridianDeg: p.MeridianDeg, AngleDeg: z.AngleDeg})
			}
		}
	}
	return v
}

// Revise designs the lens again for the same eye and clinical inputs as d,
// under the nomogram values d recorded (so a later nomogram version does
// not change it), with the overrides substituted where the nomogram would
// have derived them. It runs the code New runs: the back surface,
// clearance profiles, sags, landings, power and front radius and warnings
// are all recomputed, so a lathe point file made from the result
// reproduces it. The result's Revision records d's key values and the
// overrides applied; Revise with no overrides gives New's design plus that
// record.
//
// The inputs must be the design's: d.Clinical() gives them. A design
// recorded before designs carried the refraction's cylinder, vertex
// distance, pupil and keratometry is revised as it was made: no cylinder,
// the nomogram's vertex distance, no pupil, the astigmatism rules of the
// RGP nomogram off (their zero values) and apical K (KReadingApical, what
// lensflow's engine fed designs then).
//
// Errors are errs.Invalid naming the field: an override out of range or
// not applicable to the lens type (and "design", "eye", "refraction_D",
// "cylinder_D", "axis_deg", "vertex_mm", "hvid_mm", "pupil_mm" when d, the
// eye or the inputs are not those of the design), or one that leaves no
// lens (e.g. "bozd_mm" reaching the landing, "toric" on a cornea without
// the astigmatism for a bitoric).
func Revise(d *Design, eye Eye, in Clinical, o Overrides) (*Design, error) {
	const op = "lens.Revise"
	if d == nil {
		return nil, errs.Field(op, "design", "no design to revise")
	}
	if err := o.validate(op, d.Type); err != nil {
		return nil, err
	}
	var c *Common
	var rgp RGPNomogram
	var orthoK OrthoKNomogram
	var scleral ScleralNomogram
	switch {
	case d.Type == RGP && d.RGP != nil:
		rgp = d.RGP.Nomogram
		c = &rgp.Common
	case d.Type == OrthoK && d.OrthoK != nil:
		orthoK = d.OrthoK.Nomogram
		c = &orthoK.Common
	case d.Type == Scleral && d.Scleral != nil:
		scleral = d.Scleral.Nomogram
		c = &scleral.Common
	default:
		return nil, errs.Field(op, "design", "a %q design without its details cannot be revised", d.Type)
	}
	if c.KReading == "" {
		c.KReading = KReadingApical
	}
	if eye == nil {
		return nil, errs.Field(op, "eye", "no eye to design for")
	}
	fr, fa := eye.FlatK()
	sr, sa := eye.SteepK()
	if fr != d.FlatK.RadiusMM || fa != d.FlatK.AxisDeg || sr != d.SteepK.RadiusMM || sa != d.SteepK.AxisDeg {
		return nil, errs.Field(op, "eye", "not the eye the design was made for (K %g@%g/%g@%g, design %g@%g/%g@%g)",
			fr, fa, sr, sa, d.FlatK.RadiusMM, d.FlatK.AxisDeg, d.SteepK.RadiusMM, d.SteepK.AxisDeg)
	}
	if in.RefractionD != d.RefractionD {
		return nil, errs.Field(op, "refraction_D", "%+.2f D is not the design's %+.2f D: revise the power instead", in.RefractionD, d.RefractionD)
	}
	if in.CylinderD != d.Refraction.CylinderD {
		return nil, errs.Field(op, "cylinder_D", "%+.2f D is not the design's %+.2f D cylinder: design the lens again for a new refraction", in.CylinderD, d.Refraction.CylinderD)
	}
	if in.CylinderD != 0 && !sameMeridian(in.AxisDeg, d.Refraction.AxisDeg) {
		return nil, errs.Field(op, "axis_deg", "%g is not the design's axis %g: design the lens again for a new refraction", in.AxisDeg, d.Refraction.AxisDeg)
	}
	if v, dv := cmp0(in.VertexMM, c.VertexDistanceMM), cmp0(d.Refraction.VertexMM, c.VertexDistanceMM); v != dv {
		return nil, errs.Field(op, "vertex_mm", "%g mm is not the design's %g mm vertex distance", v, dv)
	}
	if h := cmp0(in.HVIDMM, c.DefaultHVIDMM); h != d.HVIDMM {
		return nil, errs.Field(op, "hvid_mm", "%g mm is not the design's %g mm: revise the TD instead", h, d.HVIDMM)
	}
	if in.PupilMM != d.PupilMM {
		return nil, errs.Field(op, "pupil_mm", "%g mm is not the design's %g mm: revise the BOZD instead", in.PupilMM, d.PupilMM)
	}

	var r *Design
	var err error
	switch d.Type {
	case RGP:
		r, err = designRGP(op, eye, in, rgp, o)
	case OrthoK:
		r, err = designOrthoK(op, eye, in, orthoK, o)
	default:
		r, err = designScleral(op, eye, in, scleral, o)
	}
	if err != nil {
		return nil, err
	}
	r.Revision = &Revision{Number: 1, From: d.Values(), Overrides: o.applied(d)}
	if d.Revision != nil {
		r.Revision.Number = d.Revision.Number + 1
	}
	return r, nil
}

// cmp0 returns v, or def when v is 0.
func cmp0(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// or returns the override v, or derived when v is 0 (not overridden).
func (Overrides) or(v, derived float64) float64 { return cmp0(v, derived) }

// tdField names the input a TD came from, for errors.
func (o Overrides) tdField() string {
	if o.TDMM != 0 {
		return "td_mm"
	}
	return "hvid_mm"
}

// validate checks the overrides' ranges and that they apply to lens type t.
func (o Overrides) validate(op string, t Type) error {
	for _, c := range []rangeCheck{
		{"bozr_mm", o.BOZRMM, 5, 12},
		{"bozd_mm", o.BOZDMM, 3, 14},
		{"td_mm", o.TDMM, 8, 24},
		{"lens_sag_mm", o.LensSagMM, 0, 8},
		{"return_zone_depth_mm", o.ReturnZoneDepthMM, 0, 2},
	} {
		if c.v != 0 && !(c.v > c.lo && c.v <= c.hi) {
			return errs.Field(op, c.field, "%g is out of range (%g to %g; 0 derives it)", c.v, c.lo, c.hi)
		}
	}
	if o.PowerD != nil && !(*o.PowerD >= -30 && *o.PowerD <= 30) {
		return errs.Field(op, "power_D", "%g D is out of range (-30 to +30 D)", *o.PowerD)
	}
	if o.BOZDMM != 0 && o.TDMM != 0 && o.BOZDMM >= o.TDMM {
		return errs.Field(op, "bozd_mm", "a %g mm optic zone does not fit a %g mm lens", o.BOZDMM, o.TDMM)
	}
	for i, l := range o.LandingAngles {
		if !(l.MeridianDeg >= 0 && l.MeridianDeg <= 180) {
			return errs.Field(op, fmt.Sprintf("landing_angles[%d].meridian_deg", i), "%g is not a TABO meridian (0-180 degrees)", l.MeridianDeg)
		}
		if !(l.AngleDeg > 0 && l.AngleDeg < 90) {
			return errs.Field(op, fmt.Sprintf("landing_angles[%d].angle_deg", i), "%g is not a landing angle (0-90 degrees)", l.AngleDeg)
		}
		for j := range i {
			if sameMeridian(o.LandingAngles[j].MeridianDeg, l.MeridianDeg) {
				return errs.Field(op, fmt.Sprintf("landing_angles[%d].meridian_deg", i), "meridian %g is given twice", l.MeridianDeg)
			}
		}
	}
	switch t {
	case RGP:
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"lens_sag_mm", o.LensSagMM != 0},
			{"return_zone_depth_mm", o.ReturnZoneDepthMM != 0},
			{"landing_angles", len(o.LandingAngles) > 0},
		} {
			if f.set {
				return errs.Field(op, f.name, "does not apply to an RGP lens (ortho-k and scleral only)")
			}
		}
	case Scleral:
		if o.ReturnZoneDepthMM != 0 {
			return errs.Field(op, "return_zone_depth_mm", "does not apply to a scleral lens (set lens_sag_mm)")
		}
	case OrthoK:
		if o.ReturnZoneDepthMM != 0 && o.LensSagMM != 0 {
			return errs.Field(op, "return_zone_depth_mm", "give the return zone depth or lens_sag_mm, not both: either fixes the landing sag")
		}
	default:
		_, err := ParseType(string(t))
		return errs.E(op, errs.Invalid, fmt.Errorf("design: %w", err))
	}
	return nil
}

// sameMeridian reports whether two TABO meridians are the same axis (0 is
// 180).
func sameMeridian(a, b float64) bool {
	d := math.Mod(math.Abs(a-b), 180)
	return min(d, 180-d) < 1e-6
}

// landings applies the landing-angle and toric overrides to the landings
// of the principal meridians (lo the designed one, with less sag) and
// returns the meridians to cut a profile for: lo alone, or lo and the
// other for a toric landing (eyeToric is the nomogram's decision).
func (o Overrides) landings(op string, lands *[2]Landing, lo int, eyeToric bool) ([]int, error) {
	toric := eyeToric
	if o.Toric != nil {
		toric = *o.Toric
	}
	var set [2]bool
	for i, la := range o.LandingAngles {
		k := -1
		for j := range lands {
			if sameMeridian(la.MeridianDeg, lands[j].MeridianDeg) {
				k = j
			}
		}
		if k < 0 {
			return nil, errs.Field(op, fmt.Sprintf("landing_angles[%d].meridian_deg", i), "%g is not a principal meridian of the eye (%g or %g)",
				la.MeridianDeg, lands[0].MeridianDeg, lands[1].MeridianDeg)
		}
		lands[k].AngleDeg, set[k] = la.AngleDeg, true
	}
	if !toric && set[1-lo] && math.Abs(lands[1-lo].AngleDeg-lands[lo].AngleDeg) > 1e-9 {
		if o.Toric != nil {
			return nil, errs.Field(op, "toric", "false, but the landing angles differ between the principal meridians (%g and %g degrees)",
				lands[lo].AngleDeg, lands[1-lo].AngleDeg)
		}
		toric = true
	}
	if toric {
		return []int{lo, 1 - lo}, nil
	}
	return []int{lo}, nil
}

// applied lists the overrides with the previous design's values.
func (o Overrides) applied(d *Design) []Override {
	v := d.Values()
	out := []Override{}
	add := func(field string, set bool, from, to float64) {
		if set {
			out = append(out, Override{Field: field, From: from, To: to})
		}
	}
	add("bozr_mm", o.BOZRMM != 0, v.BOZRMM, o.BOZRMM)
	add("bozd_mm", o.BOZDMM != 0, v.BOZDMM, o.BOZDMM)
	add("td_mm", o.TDMM != 0, v.TDMM, o.TDMM)
	if o.PowerD != nil {
		add("power_D", true, v.PowerD, *o.PowerD)
	}
	add("lens_sag_mm", o.LensSagMM != 0, v.LensSagMM, o.LensSagMM)
	add("return_zone_depth_mm", o.ReturnZoneDepthMM != 0, v.ReturnZoneDepthMM, o.ReturnZoneDepthMM)
	for _, la := range o.LandingAngles {
		m := la.MeridianDeg
		from := 0.0
		for i, l := range v.LandingAngles {
			if i == 0 || sameMeridian(l.MeridianDeg, m) {
				from = l.AngleDeg // a single profile lands at its angle along every meridian
			}
		}
		out = append(out, Override{Field: "landing_angles", MeridianDeg: &m, From: from, To: la.AngleDeg})
	}
	if o.Toric != nil {
		add("toric", true, b2f(d.Toric), b2f(*o.Toric))
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
