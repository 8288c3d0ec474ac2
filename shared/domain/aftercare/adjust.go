package aftercare

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/errs"
)

// DesignParams are the design parameters the adjustment rules read and
// change. ParamsFromDesign fills them from a lens.Design; the JSON names
// are the Change.Parameter names.
type DesignParams struct {
	BOZRMM float64 `json:"bozrMM"`
	BOZDMM float64 `json:"bozdMM"`
	TDMM   float64 `json:"tdMM"`
	PowerD float64 `json:"powerD"`
	// LandingChordMM is where the landing sag is matched (scleral 15 mm,
	// ortho-k 8 mm).
	LandingChordMM float64 `json:"landingChordMM,omitempty"`
	// LensSagMM (scleral) is the lens's sag at the landing chord on the
	// designed meridian. A sag change moves the whole back surface, so a
	// toric haptic keeps its step.
	LensSagMM float64 `json:"lensSagMM,omitempty"`
	// ReturnZoneDepthMM (ortho-k) is the return zone depth on the designed
	// meridian; a toric landing keeps its step.
	ReturnZoneDepthMM float64 `json:"returnZoneDepthMM,omitempty"`
	// Landings are the landing angles (ortho-k landing zone, scleral
	// haptic) per principal meridian; equal angles are a spherical landing.
	Landings []LandingAngle `json:"landings,omitempty"`
	// Toric is a back surface that differs between meridians.
	Toric bool `json:"toric"`
	// TargetClearanceUM is the design's target: the settled central
	// clearance of a scleral lens, the central tear film of an ortho-k
	// lens (0: take the rules' default).
	TargetClearanceUM float64 `json:"targetClearanceUM,omitempty"`
}

// LandingAngle is the landing angle along one meridian.
type LandingAngle struct {
	MeridianDeg float64 `json:"meridianDeg"`
	AngleDeg    float64 `json:"angleDeg"`
}

// Parameter names used in Change.Parameter (the DesignParams JSON names).
const (
	ParamBOZR         = "bozrMM"
	ParamTD           = "tdMM"
	ParamPower        = "powerD"
	ParamLensSag      = "lensSagMM"
	ParamReturnZone   = "returnZoneDepthMM"
	ParamLandingAngle = "landingAngleDeg" // with Change.MeridianDeg
	ParamToric        = "toric"           // From and To are 0 (false) or 1 (true)
)

// Change is one parameter change of an adjustment.
type Change struct {
	Parameter   string   `json:"parameter"`
	MeridianDeg *float64 `json:"meridianDeg,omitempty"`
	From        float64  `json:"from"`
	To          float64  `json:"to"`
	// Reason says why, in the lab's words, with the measurement that
	// triggered the change: clinical data, kept with the design version.
	Reason string `json:"reason"`
}

// Each change is rounded to its rule's step (0.01 mm of sag or BOZR,
// 0.25 D of power) and added to the current value, so a current value off
// the step keeps its offset and the change is exactly what the rule says.

// Adjustment is what the rules make of one assessment: each change in the
// order applied (a parameter changed twice appears twice, the second
// starting where the first ended), notes for the lab about what the rules
// did not change, and the revised parameters.
type Adjustment struct {
	Rules        string       `json:"rules"`
	RulesVersion string       `json:"rulesVersion"`
	LensType     string       `json:"lensType"`
	VisitKey     string       `json:"visitKey"`
	Changes      []Change     `json:"changes"`
	Notes        []string     `json:"notes,omitempty"`
	Revised      DesignParams `json:"revised"`
}

// ParamsFromDesign returns the adjustable parameters of a design: the
// landing angle of each cut profile (a rotationally symmetric design gets
// the same angle on the perpendicular meridian too), the scleral lens sag
// at the landing chord and settled clearance target, the ortho-k return
// zone depth and central clearance target.
func ParamsFromDesign(d *lens.Design) (DesignParams, error) {
	const op = "aftercare.ParamsFromDesign"
	if d == nil {
		return DesignParams{}, errs.Ef(op, errs.Invalid, "no design")
	}
	p := DesignParams{BOZRMM: d.BOZRMM, BOZDMM: d.BOZDMM, TDMM: d.TDMM, PowerD: d.PowerD, Toric: d.Toric}
	zone := ""
	switch d.Type {
	case lens.OrthoK:
		if d.OrthoK == nil {
			return p, errs.Field(op, "orthok", "an ortho-k design without its details")
		}
		zone = "landing"
		p.LandingChordMM, p.ReturnZoneDepthMM = d.OrthoK.LandingChordMM, d.OrthoK.ReturnZoneDepthMM
		p.TargetClearanceUM = d.OrthoK.CentralClearanceUM
	case lens.Scleral:
		if d.Scleral == nil {
			return p, errs.Field(op, "scleral", "a scleral design without its details")
		}
		zone = "haptic"
		p.LandingChordMM, p.LensSagMM = d.Scleral.LandingChordMM, d.Scleral.LensSagMM
		p.TargetClearanceUM = d.Scleral.SettledClearanceUM
	case lens.RGP:
		return p, nil
	default:
		return p, errs.Field(op, "type", "unknown lens type")
	}
	for _, pr := range d.BackSurface.Profiles {
		for _, z := range pr.Zones {
			if z.Name == zone {
				p.Landings = append(p.Landings, LandingAngle{MeridianDeg: pr.MeridianDeg, AngleDeg: z.AngleDeg})
			}
		}
	}
	if len(p.Landings) == 0 {
		return p, errs.Field(op, "back_surface", "no %s zone in the back surface", zone)
	}
	if len(p.Landings) == 1 {
		l := p.Landings[0]
		p.Landings = append(p.Landings, LandingAngle{MeridianDeg: perpendicular(l.MeridianDeg), AngleDeg: l.AngleDeg})
	}
	return p, nil
}

func perpendicular(m float64) float64 {
	if m < 90 {
		return m + 90
	}
	return m - 90
}

// Plausible bounds of adjusted parameters: a change that leaves them is
// refused rather than cut.
var bounds = map[string][2]float64{
	ParamBOZR:       {5.5, 11.5},
	ParamTD:         {7, 25},
	ParamPower:      {-30, 30},
	ParamLensSag:    {2, 7},
	ParamReturnZone: {0.1, 1.5},
}

// adjuster accumulates an adjustment.
type adjuster struct {
	op       string
	adj      Adjustment
	onTarget []string // what the rules found nothing to change in (no values)
}

func (x *adjuster) set(param string, meridian *float64, to float64, reason string, dst *float64) error {
	from := *dst
	if b, ok := bounds[param]; ok && !(to >= b[0] && to <= b[1]) {
		return &errs.Error{Op: x.op, Kind: errs.Unprocessable, Field: "design." + param,
			Err: fmt.Errorf("the adjustment would take %s outside %g to %g; the lens needs a redesign", param, b[0], b[1])}
	}
	*dst = to
	x.adj.Changes = append(x.adj.Changes, Change{Parameter: param, MeridianDeg: meridian, From: from, To: to, Reason: reason})
	return nil
}

func (x *adjuster) need(param string, v float64, what string) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return errs.Field(x.op, "design."+param, "needed (positive) to %s", what)
	}
	return nil
}

// Adjust applies the rules to an assessment with an "adjust" outcome for a
// lens of lensType and returns the changes and the revised parameters.
//
// Errors: Invalid naming the field for a bad assessment, rules, or a
// design parameter a rule needs but current lacks; Invalid on "outcome"
// when the outcome is "continue" (there is nothing to apply);
// Unprocessable on "outcome" when the outcome is "adjust" but every
// measurement is on target (the message says which checks passed, with
// their thresholds, never the measurements), and on "design.<param>" when
// a change would leave the parameter's plausible range.
func Adjust(lensType string, current DesignParams, a Assessment, rules Rules) (Adjustment, error) {
	const op = "aftercare.Adjust"
	if err := rules.Validate(); err != nil {
		return Adjustment{}, err
	}
	if err := a.Validate(lensType); err != nil {
		return Adjustment{}, err
	}
	if a.Outcome != OutcomeAdjust {
		return Adjustment{}, errs.Field(op, "outcome", "the outcome is %q: there is nothing to adjust", a.Outcome)
	}
	rev := current
	rev.Landings = slices.Clone(current.Landings)
	x := &adjuster{op: op, adj: Adjustment{
		Rules: rules.Name, RulesVersion: rules.Version, LensType: lensType, VisitKey: a.VisitKey, Changes: []Change{},
	}}
	var err error
	switch lens.Type(lensType) {
	case lens.OrthoK:
		err = x.orthoK(&rev, a, rules.OrthoK)
	case lens.Scleral:
		err = x.scleral(&rev, a, rules.Scleral)
	case lens.RGP:
		err = x.rgp(&rev, a, rules.RGP)
	}
	if err != nil {
		return Adjustment{}, err
	}
	x.adj.Revised = rev
	if len(x.adj.Changes) == 0 {
		why := x.onTarget
		why = append(why, x.adj.Notes...)
		return Adjustment{}, &errs.Error{Op: op, Kind: errs.Unprocessable, Field: "outcome",
			Err: fmt.Errorf("adjust, but %s %s finds nothing to change: %s", rules.Name, rules.Version, strings.Join(why, "; "))}
	}
	return x.adj, nil
}

func (x *adjuster) orthoK(p *DesignParams, a Assessment, r OrthoKRules) error {
	if a.ResidualRefractionD == nil {
		x.onTarget = append(x.onTarget, "no residual refraction recorded")
	} else if res := *a.ResidualRefractionD; math.Abs(res) <= r.ResidualToleranceD+1e-9 {
		x.onTarget = append(x.onTarget, fmt.Sprintf("residual refraction within ±%.2f D", r.ResidualToleranceD))
	} else {
		if err := x.need(ParamBOZR, p.BOZRMM, "correct a residual refraction"); err != nil {
			return err
		}
		old := p.BOZRMM
		to := clean(old + lens.RoundToStep(-res*r.BOZRMMPerD, r.BOZRStepMM))
		word, sense := "under-correction", "flattened"
		if res > 0 {
			word, sense = "over-correction", "steepened"
		}
		reason := fmt.Sprintf("%s: residual refraction %+.2f D; BOZR %s by %.2f mm (%.3f mm per 0.25 D)",
			word, res, sense, math.Abs(to-old), r.BOZRMMPerD/4)
		if err := x.set(ParamBOZR, nil, to, reason, &p.BOZRMM); err != nil {
			return err
		}
		if p.ReturnZoneDepthMM > 0 && p.BOZDMM > 0 && p.BOZDMM/2 < min(old, to) {
			y := p.BOZDMM / 2
			d := lens.SphereSagMM(old, y) - lens.SphereSagMM(to, y)
			rz := clean(p.ReturnZoneDepthMM + lens.RoundToStep(d, r.DepthStepMM))
			if rz != p.ReturnZoneDepthMM {
				word := "deepened"
				if d < 0 {
					word = "made shallower"
				}
				reason := fmt.Sprintf("return zone depth %s by %.3f mm to keep the landing and the central clearance with the new BOZR (sag of the BOZR sphere at the %.1f mm BOZD)",
					word, math.Abs(rz-p.ReturnZoneDepthMM), p.BOZDMM)
				if err := x.set(ParamReturnZone, nil, rz, reason, &p.ReturnZoneDepthMM); err != nil {
					return err
				}
			}
		} else {
			x.adj.Notes = append(x.adj.Notes, "the return zone depth was not given: derive it again for the new BOZR")
		}
	}

	if a.CentralTearFilmUM == nil {
		x.onTarget = append(x.onTarget, "no central tear film recorded")
	} else if tf := *a.CentralTearFilmUM; tf >= r.TearFilmMinUM && tf <= r.TearFilmMaxUM {
		x.onTarget = append(x.onTarget, fmt.Sprintf("central tear film within %g-%g microns", r.TearFilmMinUM, r.TearFilmMaxUM))
	} else {
		if err := x.need(ParamReturnZone, p.ReturnZoneDepthMM, "correct the central tear film"); err != nil {
			return err
		}
		target := p.TargetClearanceUM
		if target <= 0 {
			target = r.TargetTearFilmUM
		}
		to := clean(p.ReturnZoneDepthMM + lens.RoundToStep((target-tf)/1000, r.DepthStepMM))
		var reason string
		if tf < r.TearFilmMinUM {
			reason = fmt.Sprintf("central bearing: central tear film %g microns, under the %g micron minimum; return zone depth deepened by %.3f mm to the %g micron target",
				tf, r.TearFilmMinUM, math.Abs(to-p.ReturnZoneDepthMM), target)
		} else {
			reason = fmt.Sprintf("central pooling: central tear film %g microns, over the %g micron maximum; return zone depth made shallower by %.3f mm to the %g micron target",
				tf, r.TearFilmMaxUM, math.Abs(to-p.ReturnZoneDepthMM), target)
		}
		if to != p.ReturnZoneDepthMM {
			if err := x.set(ParamReturnZone, nil, to, reason, &p.ReturnZoneDepthMM); err != nil {
				return err
			}
		}
	}
	return x.landing(p, a.Centration, r.Landing)
}

func (x *adjuster) scleral(p *DesignParams, a Assessment, r ScleralRules) error {
	target := p.TargetClearanceUM
	if target <= 0 {
		target = r.TargetSettledClearanceUM
	}
	// The central clearance error, then the limbal shortfall, decide one
	// sag change.
	var sagUM float64
	var reasons []string
	centralHigh := false
	if a.CentralClearanceUM == nil {
		x.onTarget = append(x.onTarget, "no central clearance recorded")
	} else if c := *a.CentralClearanceUM; math.Abs(target-c) <= r.ClearanceToleranceUM+1e-9 {
		x.onTarget = append(x.onTarget, fmt.Sprintf("central clearance within %g microns of its target", r.ClearanceToleranceUM))
	} else {
		sagUM = target - c
		centralHigh = sagUM < 0
		word := "reduced"
		if sagUM > 0 {
			word = "raised"
		}
		reasons = append(reasons, fmt.Sprintf("settled central clearance %g microns against the %g micron target: sag at %g mm %s by the %g micron error",
			c, target, chordOr(p.LandingChordMM, 15), word, math.Abs(sagUM)))
	}
	if a.LimbalClearanceUM == nil {
		x.onTarget = append(x.onTarget, "no limbal clearance recorded")
	} else if l := *a.LimbalClearanceUM; l >= r.MinLimbalClearanceUM {
		x.onTarget = append(x.onTarget, fmt.Sprintf("limbal clearance at least %g microns", r.MinLimbalClearanceUM))
	} else if short := r.MinLimbalClearanceUM - l; centralHigh {
		x.adj.Notes = append(x.adj.Notes, fmt.Sprintf(
			"limbal clearance under the %g micron minimum while the central clearance is above target: lowering the sag would close the limbus further, so the sag is unchanged; the limbal zone needs the lab's review",
			r.MinLimbalClearanceUM))
		sagUM, reasons = 0, nil
	} else if short > sagUM {
		sagUM = short
		reasons = append(reasons, fmt.Sprintf("settled limbal clearance %g microns, under the %g micron minimum: sag raised by the %g micron shortfall", l, r.MinLimbalClearanceUM, short))
	}
	if sagUM != 0 {
		if err := x.need(ParamLensSag, p.LensSagMM, "correct the clearance"); err != nil {
			return err
		}
		if to := clean(p.LensSagMM + lens.RoundToStep(sagUM/1000, r.SagStepMM)); to != p.LensSagMM {
			if err := x.set(ParamLensSag, nil, to, strings.Join(reasons, "; "), &p.LensSagMM); err != nil {
				return err
			}
		}
	}
	if err := x.power(p, a.OverRefraction, r.Power); err != nil {
		return err
	}
	return x.landing(p, a.Centration, r.Landing)
}

func chordOr(v, def float64) float64 {
	if v > 0 {
		return v
	}
	return def
}

func (x *adjuster) rgp(p *DesignParams, a Assessment, r RGPRules) error {
	if err := x.power(p, a.OverRefraction, r.Power); err != nil {
		return err
	}
	mm := a.Centration.DecentredMM()
	if mm <= r.DecentrationMM {
		x.onTarget = append(x.onTarget, fmt.Sprintf("centration within %g mm", r.DecentrationMM))
		return nil
	}
	if err := x.need(ParamTD, p.TDMM, "correct a decentration"); err != nil {
		return err
	}
	to := clean(p.TDMM + r.TDStepMM)
	if to > r.MaxTDMM+1e-9 {
		x.adj.Notes = append(x.adj.Notes, fmt.Sprintf("decentred, but the TD is already at the %g mm maximum: the fit needs the lab's review", r.MaxTDMM))
		return nil
	}
	reason := fmt.Sprintf("decentred %g mm %s: TD enlarged by %g mm so the lid holds the lens centred", mm, a.Centration.Direction, r.TDStepMM)
	return x.set(ParamTD, nil, to, reason, &p.TDMM)
}

// power applies an over-refraction (RGP and scleral).
func (x *adjuster) power(p *DesignParams, o *OverRefraction, r PowerRule) error {
	if o == nil {
		x.onTarget = append(x.onTarget, "no over-refraction recorded")
		return nil
	}
	if math.Abs(o.CylD) >= 0.75 {
		x.adj.Notes = append(x.adj.Notes, "residual astigmatism of 0.75 D or more over the lens: consider a front toric (not changed automatically)")
	}
	se := o.SphericalEquivalentD()
	if math.Abs(se) <= r.ToleranceD+1e-9 {
		x.onTarget = append(x.onTarget, fmt.Sprintf("over-refraction within ±%.2f D", r.ToleranceD))
		return nil
	}
	corneal := lens.VertexD(se, r.VertexDistanceMM)
	to := clean(p.PowerD + lens.RoundToStep(corneal, r.StepD))
	if to == p.PowerD {
		x.onTarget = append(x.onTarget, "over-refraction rounds to no power change")
		return nil
	}
	reason := fmt.Sprintf("over-refraction %+.2f D (spherical equivalent; %+.2f D at the cornea): power changed by %+.2f D",
		se, corneal, to-p.PowerD)
	return x.set(ParamPower, nil, to, reason, &p.PowerD)
}

// landing applies the decentration rule (ortho-k and scleral).
func (x *adjuster) landing(p *DesignParams, c *Centration, r LandingRule) error {
	mm := c.DecentredMM()
	if mm <= r.ThresholdMM {
		if c == nil {
			x.onTarget = append(x.onTarget, "no centration recorded")
		} else {
			x.onTarget = append(x.onTarget, fmt.Sprintf("centration within %g mm", r.ThresholdMM))
		}
		return nil
	}
	if len(p.Landings) == 0 {
		return errs.Field(x.op, "design.landings", "needed to correct a decentration")
	}
	for _, l := range p.Landings {
		if !(l.MeridianDeg >= 0 && l.MeridianDeg <= 180) || !(l.AngleDeg > 0 && l.AngleDeg < 90) {
			return errs.Field(x.op, "design.landings", "each landing needs a meridian of 0-180 and an angle of 0-90 degrees")
		}
	}
	if len(p.Landings) == 1 {
		l := p.Landings[0]
		p.Landings = append(p.Landings, LandingAngle{MeridianDeg: perpendicular(l.MeridianDeg), AngleDeg: l.AngleDeg})
	}
	var which []int
	var meridianWords string
	switch c.Direction {
	case "superior", "inferior":
		which, meridianWords = []int{nearest(p.Landings, 90)}, "vertical"
	case "nasal", "temporal":
		which, meridianWords = []int{nearest(p.Landings, 180)}, "horizontal"
	default:
		for i := range p.Landings {
			which = append(which, i)
		}
		meridianWords = "every"
	}
	wasSpherical := !p.Toric && allEqual(p.Landings)
	for _, i := range which {
		l := &p.Landings[i]
		to := clean(l.AngleDeg + r.AngleStepDeg)
		if to > r.MaxAngleDeg+1e-9 {
			return &errs.Error{Op: x.op, Kind: errs.Unprocessable, Field: "design.landings",
				Err: fmt.Errorf("a steeper landing would pass the %g degree maximum; the lens needs a redesign", r.MaxAngleDeg)}
		}
		m := l.MeridianDeg
		reason := fmt.Sprintf("decentred %g mm %s (over the %g mm threshold): landing steepened %g degree(s) in the %s meridian (%g) so the lens seats centred",
			c.MM, c.Direction, r.ThresholdMM, r.AngleStepDeg, meridianWords, m)
		if err := x.set(ParamLandingAngle, &m, to, reason, &l.AngleDeg); err != nil {
			return err
		}
	}
	if wasSpherical && !allEqual(p.Landings) {
		p.Toric = true
		x.adj.Changes = append(x.adj.Changes, Change{Parameter: ParamToric, From: 0, To: 1,
			Reason: "landing made toric: its meridians now differ to correct the decentration"})
	}
	return nil
}

// nearest returns the landing whose meridian is closest to m (axes: 0 is
// 180).
func nearest(ls []LandingAngle, m float64) int {
	best, bestD := 0, math.Inf(1)
	for i, l := range ls {
		d := math.Mod(math.Abs(l.MeridianDeg-m), 180)
		d = min(d, 180-d)
		if d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

func allEqual(ls []LandingAngle) bool {
	for _, l := range ls {
		if math.Abs(l.AngleDeg-ls[0].AngleDeg) > 1e-9 {
			return false
		}
	}
	return true
}

// clean drops floating-point noise below a nanometre (8.64, not
// 8.639999999999999) so changes read as the lab writes them.
func clean(v float64) float64 { return math.Round(v*1e6) / 1e6 }
