package aftercare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/lensflow/lensflow/shared/errs"
)

// Default adjustment rules name and version.
const (
	DefaultRulesName    = "lensflow-adjust"
	DefaultRulesVersion = "2026.1"
)

// Rules are the adjustment conventions, per lens type. They are clinical
// conventions, so they are named and versioned like a nomogram; every
// Adjustment records the name and version that produced it. Field ranges
// are checked by Validate.
type Rules struct {
	Name    string       `json:"name"`
	Version string       `json:"version"`
	RGP     RGPRules     `json:"rgp"`
	OrthoK  OrthoKRules  `json:"orthok"`
	Scleral ScleralRules `json:"scleral"`
}

// PowerRule turns an over-refraction into a power change: the spherical
// equivalent, vertexed from VertexDistanceMM (0-20 mm) to the cornea
// (F / (1 - d F)), is added to the lens power and rounded to StepD
// (0-0.5 D; 0 = no rounding). Over-refractions within ToleranceD (0-1 D)
// change nothing.
type PowerRule struct {
	ToleranceD       float64 `json:"toleranceD"`
	StepD            float64 `json:"stepD"`
	VertexDistanceMM float64 `json:"vertexDistanceMM"`
}

// LandingRule answers a decentration of more than ThresholdMM (0.1-3 mm)
// by steepening the landing (ortho-k landing zone, scleral haptic) by
// AngleStepDeg (0.25-5 degrees) in the meridian of the decentration:
// vertical (90) for superior or inferior, horizontal (180) for nasal or
// temporal. A lens drifts toward the side where the eye is deeper than
// the lens expects; a steeper landing there lets it seat centred. When the
// landing was the same in every meridian, this makes it toric. An oblique
// decentration has no principal meridian to blame, so every meridian is
// steepened: a tighter landing centres a lens that moves too freely. The
// result must stay within MinAngleDeg-MaxAngleDeg (15-70).
type LandingRule struct {
	ThresholdMM  float64 `json:"thresholdMM"`
	AngleStepDeg float64 `json:"angleStepDeg"`
	MinAngleDeg  float64 `json:"minAngleDeg"`
	MaxAngleDeg  float64 `json:"maxAngleDeg"`
}

// RGPRules: an over-refraction changes the power; a decentration of more
// than DecentrationMM (0.1-3 mm) enlarges the TD by TDStepMM (0.05-0.5)
// up to MaxTDMM (8-12): a larger corneal lens is held better by the lid
// and centres better.
type RGPRules struct {
	Power          PowerRule `json:"power"`
	DecentrationMM float64   `json:"decentrationMM"`
	TDStepMM       float64   `json:"tdStepMM"`
	MaxTDMM        float64   `json:"maxTDMM"`
}

// OrthoKRules: a residual refraction beyond ResidualToleranceD (0-1 D)
// changes the BOZR by BOZRMMPerD (0.1-0.4 mm/D; the handbook's 0.05 mm
// per 0.25 D is 0.20), flatter for under-correction (residual myopia),
// steeper for over-correction, rounded to BOZRStepMM (0-0.1). The return
// zone depth then changes by the sag difference of the two BOZR spheres
// at the BOZD, so the landing and the central clearance stay where they
// were. A central tear film outside TearFilmMinUM-TearFilmMaxUM (handbook
// 10-30 microns, never bearing; defaults 5-30 allow a few microns of
// measurement noise) moves the return zone depth by the error to the
// design's target (TargetTearFilmUM when the design has none), rounded to
// DepthStepMM (0-0.05 mm).
type OrthoKRules struct {
	BOZRMMPerD         float64     `json:"bozrMMPerD"`
	ResidualToleranceD float64     `json:"residualToleranceD"`
	BOZRStepMM         float64     `json:"bozrStepMM"`
	TearFilmMinUM      float64     `json:"tearFilmMinUM"`
	TearFilmMaxUM      float64     `json:"tearFilmMaxUM"`
	TargetTearFilmUM   float64     `json:"targetTearFilmUM"`
	DepthStepMM        float64     `json:"depthStepMM"`
	Landing            LandingRule `json:"landing"`
}

// ScleralRules: a settled central clearance more than
// ClearanceToleranceUM (0-100) off the design's target
// (TargetSettledClearanceUM, 100-400, when the design has none) changes
// the sag at the landing chord (15 mm) by the error, rounded to SagStepMM
// (0-0.05 mm). A settled limbal clearance under MinLimbalClearanceUM
// (0-200) raises the sag by at least the shortfall, unless the central
// clearance is too high at the same time: then lowering the sag would
// close the limbus further, so neither changes and the adjustment carries
// a note for the lab (the limbal zone needs a redesign). An
// over-refraction changes the power; a decentration, the haptic.
type ScleralRules struct {
	TargetSettledClearanceUM float64     `json:"targetSettledClearanceUM"`
	ClearanceToleranceUM     float64     `json:"clearanceToleranceUM"`
	SagStepMM                float64     `json:"sagStepMM"`
	MinLimbalClearanceUM     float64     `json:"minLimbalClearanceUM"`
	Power                    PowerRule   `json:"power"`
	Landing                  LandingRule `json:"landing"`
}

// DefaultRules returns lensflow-adjust 2026.1:
//
//	ortho-k: residual beyond ±0.25 D -> BOZR 0.05 mm per 0.25 D (flatter for
//	         under-correction), return zone depth kept in step; central tear
//	         film outside 5-30 microns -> return zone depth by the error to
//	         the 10 micron target
//	scleral: settled central clearance more than 25 microns off the 150
//	         micron target -> sag at 15 mm by the error (0.01 mm steps);
//	         limbal clearance under 50 microns -> raise the sag
//	all:     decentration over 0.5 mm -> landing 1 degree steeper in its
//	         meridian (RGP: TD 0.2 mm larger, up to 10.5 mm);
//	         over-refraction beyond ±0.25 D -> power (RGP, scleral; 0.25 D
//	         steps, vertexed from 12 mm)
func DefaultRules() Rules {
	power := PowerRule{ToleranceD: 0.25, StepD: 0.25, VertexDistanceMM: 12}
	landing := LandingRule{ThresholdMM: 0.5, AngleStepDeg: 1, MinAngleDeg: 20, MaxAngleDeg: 60}
	return Rules{
		Name: DefaultRulesName, Version: DefaultRulesVersion,
		RGP: RGPRules{Power: power, DecentrationMM: 0.5, TDStepMM: 0.2, MaxTDMM: 10.5},
		OrthoK: OrthoKRules{
			BOZRMMPerD: 0.20, ResidualToleranceD: 0.25, BOZRStepMM: 0.01,
			TearFilmMinUM: 5, TearFilmMaxUM: 30, TargetTearFilmUM: 10, DepthStepMM: 0.001,
			Landing: landing,
		},
		Scleral: ScleralRules{
			TargetSettledClearanceUM: 150, ClearanceToleranceUM: 25, SagStepMM: 0.01,
			MinLimbalClearanceUM: 50, Power: power, Landing: landing,
		},
	}
}

type check struct {
	field  string
	v      float64
	lo, hi float64
}

func checkAll(op, prefix string, cs ...check) error {
	for _, c := range cs {
		if !(c.v >= c.lo && c.v <= c.hi) {
			return errs.Field(op, prefix+c.field, "must be %g to %g", c.lo, c.hi)
		}
	}
	return nil
}

func (p PowerRule) checks(prefix string) []check {
	return []check{
		{prefix + "toleranceD", p.ToleranceD, 0, 1},
		{prefix + "stepD", p.StepD, 0, 0.5},
		{prefix + "vertexDistanceMM", p.VertexDistanceMM, 0, 20},
	}
}

func (l LandingRule) checks(prefix string) []check {
	return []check{
		{prefix + "thresholdMM", l.ThresholdMM, 0.1, 3},
		{prefix + "angleStepDeg", l.AngleStepDeg, 0.25, 5},
		{prefix + "minAngleDeg", l.MinAngleDeg, 15, 70},
		{prefix + "maxAngleDeg", l.MaxAngleDeg, l.MinAngleDeg, 70},
	}
}

// Validate checks every rule against its documented range; the error
// names the JSON field ("orthok.bozrMMPerD").
func (r Rules) Validate() error {
	const op = "aftercare.Rules.Validate"
	switch {
	case r.Name == "" || len(r.Name) > 100:
		return errs.Field(op, "name", "rules need a name of at most 100 characters")
	case r.Version == "" || len(r.Version) > 40:
		return errs.Field(op, "version", "rules need a version of at most 40 characters")
	}
	cs := append(r.RGP.Power.checks("rgp.power."),
		check{"rgp.decentrationMM", r.RGP.DecentrationMM, 0.1, 3},
		check{"rgp.tdStepMM", r.RGP.TDStepMM, 0.05, 0.5},
		check{"rgp.maxTDMM", r.RGP.MaxTDMM, 8, 12},
		check{"orthok.bozrMMPerD", r.OrthoK.BOZRMMPerD, 0.1, 0.4},
		check{"orthok.residualToleranceD", r.OrthoK.ResidualToleranceD, 0, 1},
		check{"orthok.bozrStepMM", r.OrthoK.BOZRStepMM, 0, 0.1},
		check{"orthok.tearFilmMinUM", r.OrthoK.TearFilmMinUM, 0, 30},
		check{"orthok.tearFilmMaxUM", r.OrthoK.TearFilmMaxUM, r.OrthoK.TearFilmMinUM + 1, 100},
		check{"orthok.targetTearFilmUM", r.OrthoK.TargetTearFilmUM, r.OrthoK.TearFilmMinUM, r.OrthoK.TearFilmMaxUM},
		check{"orthok.depthStepMM", r.OrthoK.DepthStepMM, 0, 0.05},
		check{"scleral.targetSettledClearanceUM", r.Scleral.TargetSettledClearanceUM, 100, 400},
		check{"scleral.clearanceToleranceUM", r.Scleral.ClearanceToleranceUM, 0, 100},
		check{"scleral.sagStepMM", r.Scleral.SagStepMM, 0, 0.05},
		check{"scleral.minLimbalClearanceUM", r.Scleral.MinLimbalClearanceUM, 0, 200},
	)
	cs = append(cs, r.OrthoK.Landing.checks("orthok.landing.")...)
	cs = append(cs, r.Scleral.Power.checks("scleral.power.")...)
	cs = append(cs, r.Scleral.Landing.checks("scleral.landing.")...)
	return checkAll(op, "", cs...)
}

// DecodeRules reads rules as JSON (unknown fields refused) and validates
// them.
func DecodeRules(r io.Reader) (Rules, error) {
	var rules Rules
	if err := decodeJSON("aftercare.DecodeRules", "rules", r, &rules); err != nil {
		return rules, err
	}
	return rules, rules.Validate()
}

// decodeJSON reads one JSON value of at most 1 MiB from r onto v, refusing
// unknown fields; what names the value in errors ("rules", "schedules").
func decodeJSON(op, what string, r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return errs.E(op, errs.Invalid, fmt.Errorf("reading %s: %w", what, err))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.E(op, errs.Invalid, fmt.Errorf("%s JSON: %w", what, err))
	}
	return nil
}
