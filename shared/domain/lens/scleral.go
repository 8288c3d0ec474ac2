package lens

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// ScleralDetails is what a scleral design adds to Design.
type ScleralDetails struct {
	Nomogram       ScleralNomogram `json:"nomogram_values"`
	LandingChordMM float64         `json:"landing_chord_mm"`
	// OcularSagMM is the eye's sag at the landing chord along the meridian
	// the lens was designed on (the one with less sag; for toric haptics
	// the flat haptic), and OcularSagSource how it was obtained
	// (extrapolated beyond the measured cornea, typically).
	OcularSagMM     float64 `json:"ocular_sag_mm"`
	OcularSagSource string  `json:"ocular_sag_source"`
	// LensSagMM is the lens's sag at the landing chord on that meridian:
	// OcularSagMM + InsertionClearanceUM.
	LensSagMM            float64 `json:"lens_sag_mm"`
	InsertionClearanceUM float64 `json:"insertion_clearance_um"`
	// SettledClearanceUM is the central clearance expected after settling.
	SettledClearanceUM float64 `json:"settled_clearance_um"`
	// SagDifferenceUM is the eye's sag difference between its principal
	// meridians at the landing chord; toric haptics when it is more than
	// the nomogram's threshold.
	SagDifferenceUM float64 `json:"sag_difference_um"`
	// LimbalClearanceUM is the clearance at insertion over the limbus
	// (HVID/2) along the flat meridian.
	LimbalClearanceUM float64 `json:"limbal_clearance_um"`
	// SettledLimbalClearanceUM is LimbalClearanceUM less the settling.
	SettledLimbalClearanceUM float64   `json:"settled_limbal_clearance_um"`
	Landings                 []Landing `json:"landings"`
	// Cone is the clearance over a keratoconic cone, when the eye has one.
	Cone *ConeClearance `json:"cone,omitempty"`
}

// ConeClearance is a scleral lens's clearance over the cone, along the
// semi-meridian through it.
type ConeClearance struct {
	SemiMeridianDeg float64 `json:"semi_meridian_deg"`
	RadiusMM        float64 `json:"radius_mm"`
	// ClearanceUM is the clearance at the cone at insertion, and
	// SettledClearanceUM after the nomogram's settling.
	ClearanceUM        float64 `json:"clearance_um"`
	SettledClearanceUM float64 `json:"settled_clearance_um"`
	// MinOverCorneaUM is the least clearance at insertion along that
	// semi-meridian inside the haptic (over the cornea and limbus), at
	// MinAtMM.
	MinOverCorneaUM float64 `json:"min_over_cornea_um"`
	MinAtMM         float64 `json:"min_at_mm"`
}

// ScleralTDMM is the scleral total diameter for an HVID under the
// nomogram: HVID + TDLargerThanHVIDMM, rounded up to TDRoundUpMM.
func ScleralTDMM(hvidMM float64, n ScleralNomogram) float64 {
	return roundUpTo(hvidMM+n.TDLargerThanHVIDMM, n.TDRoundUpMM)
}

// DesignScleral designs a scleral lens: TD from the HVID; a spherical optic
// zone whose sag at the BOZD matches the eye's (so the optic zone vaults
// the cornea evenly); a haptic cone landing at the landing chord at the
// eye's tangent angle there, with the lens sag at the landing chord equal
// to the ocular sag plus the clearance at insertion; and a smooth
// transition (a cubic with matching heights and slopes) between the two.
// Toric haptics, one landing per principal meridian, when the meridians'
// ocular sag at the landing chord differ by more than the threshold; the
// step is that difference. The ordered power is the vertexed refraction
// less the tear lens.
func DesignScleral(eye Eye, in Clinical, n ScleralNomogram) (*Design, error) {
	return designScleral("lens.DesignScleral", eye, in, n, Overrides{})
}

// designScleral is DesignScleral with a revision's overrides substituted
// for what the nomogram would derive.
func designScleral(op string, eye Eye, in Clinical, n ScleralNomogram, o Overrides) (*Design, error) {
	d, err := startDesign(op, Scleral, n, eye, in)
	if err != nil {
		return nil, err
	}
	if d.HVIDMM, err = hvid(op, d, in, n.DefaultHVIDMM); err != nil {
		return nil, err
	}
	d.TDMM = o.or(o.TDMM, ScleralTDMM(d.HVIDMM, n))
	d.BOZDMM = o.or(o.BOZDMM, n.BOZDMM)
	rO, rL, rE := d.BOZDMM/2, n.LandingChordMM/2, d.TDMM/2
	rH := rL - n.LandingInsideMM
	if rL >= rE {
		return nil, errs.Field(op, o.tdField(), "a %g mm lens does not reach the %g mm landing chord", d.TDMM, n.LandingChordMM)
	}
	if rO >= rH {
		return nil, errs.Field(op, "bozd_mm", "a %g mm optic zone reaches the haptic (from %g mm)", d.BOZDMM, 2*rH)
	}
	det := &ScleralDetails{Nomogram: n, LandingChordMM: n.LandingChordMM, InsertionClearanceUM: n.InsertionClearanceUM,
		SettledClearanceUM: n.InsertionClearanceUM - n.SettlingUM}
	if det.SettledClearanceUM < n.MinSettledClearanceUM {
		return nil, errs.Field(op, "nomogram.insertion_clearance_um", "leaves %g microns after settling, less than %g",
			det.SettledClearanceUM, n.MinSettledClearanceUM)
	}
	clearance := n.InsertionClearanceUM / 1000

	toric := func(sagDifferenceUM float64) bool { return sagDifferenceUM > n.ToricHapticThresholdUM } // toric haptics above the threshold
	lands, lo, order, err := land(op, eye, d, o, n.LandingChordMM, toric)
	if err != nil {
		return nil, err
	}
	det.SagDifferenceUM = sagDifferenceUM(lands)
	det.OcularSagMM, det.OcularSagSource = lands[lo].EyeSagMM, lands[lo].EyeSagSource
	if o.LensSagMM != 0 {
		// A revision's lens sag on the designed meridian moves every
		// haptic by the same amount (toric haptics keep their step): it
		// changes the clearance at insertion, and after settling.
		clearance = o.LensSagMM - det.OcularSagMM
		det.InsertionClearanceUM = 1000 * clearance
		det.SettledClearanceUM = det.InsertionClearanceUM - n.SettlingUM
		if det.SettledClearanceUM < n.MinSettledClearanceUM {
			d.warnf("the revised lens sag leaves %.0f microns of central clearance after settling (modelled on this eye), less than %g",
				det.SettledClearanceUM, n.MinSettledClearanceUM)
		}
	}
	det.LensSagMM = det.OcularSagMM + clearance
	if det.OcularSagSource != SourceMeasured {
		d.warnf("the ocular sag at %g mm is %s", n.LandingChordMM, det.OcularSagSource)
	}

	// Optic zone: the sphere through the eye's sag at the BOZD on the
	// designed meridian.
	so, _, err := eyeSag(op, eye, lands[lo].MeridianDeg, d.BOZDMM)
	if err != nil {
		return nil, err
	}
	if !(so > 0) {
		return nil, errs.Ef(op, errs.Invalid, "the eye has no sag at the %g mm optic zone chord", d.BOZDMM)
	}
	d.BOZRMM = RoundToStep((rO*rO+so*so)/(2*so), n.BOZRStepMM)
	if d.BOZRMM <= rO {
		return nil, errs.Ef(op, errs.Invalid, "a %g mm BOZR cannot span a %g mm optic zone", d.BOZRMM, d.BOZDMM)
	}
	optic := sphereZone("optic", d.BOZRMM, 0, rO, 0)
	opticAngle := optic.angleAt(rO)
	for _, k := range order {
		l := &lands[k]
		zL := l.EyeSagMM + clearance
		zH := zL - math.Tan(l.AngleDeg*math.Pi/180)*(rL-rH)
		trans := blendZone("transition", rO, rH, optic.OuterSagMM, zH, opticAngle, l.AngleDeg)
		haptic := coneZone("haptic", l.AngleDeg, rH, rE, zH)
		d.BackSurface.Profiles = append(d.BackSurface.Profiles, Profile{MeridianDeg: l.MeridianDeg, Zones: []Zone{optic, trans, haptic}})
	}
	for k := range lands {
		lands[k].LensSagMM = d.BackSurface.SagMM(lands[k].MeridianDeg, rL)
	}
	det.Landings = lands[:]
	d.SagMM = d.BackSurface.SagMM(lands[lo].MeridianDeg, rE)
	d.Scleral = det

	d.CornealPlaneRxD = VertexD(d.RefractionD, d.Refraction.VertexMM)
	if err := power(op, d, n.Common, d.CornealPlaneRxD, o.PowerD); err != nil {
		return nil, err
	}
	d.warnCylinderNotCorrected()
	limbus := d.HVIDMM / 2
	if d.Clearance, err = clearanceProfiles(op, eye, &d.BackSurface, d.FlatK.AxisDeg, d.SteepK.AxisDeg, rO, limbus, rH, rL, rE); err != nil {
		return nil, err
	}
	flat := &d.Clearance[0]
	det.LimbalClearanceUM = flat.At(limbus)
	det.SettledLimbalClearanceUM = det.LimbalClearanceUM - n.SettlingUM
	if det.SettledLimbalClearanceUM < 0 {
		d.warnf("the lens may touch the limbus after settling: %.0f microns of limbal clearance at insertion, %g of settling",
			det.LimbalClearanceUM, n.SettlingUM)
	}
	for k := range d.Clearance {
		c := &d.Clearance[k]
		ce, ok := eye.(ConeEye)
		if c.Label != ProfileSteepest || !ok {
			continue
		}
		semi, rc, _ := ce.Cone()
		cc := &ConeClearance{SemiMeridianDeg: semi, RadiusMM: rc, ClearanceUM: c.At(rc), MinOverCorneaUM: math.Inf(1)}
		cc.SettledClearanceUM = cc.ClearanceUM - n.SettlingUM
		for i, r := range c.RMM {
			if r < rH && c.ClearanceUM[i] < cc.MinOverCorneaUM {
				cc.MinOverCorneaUM, cc.MinAtMM = c.ClearanceUM[i], r
			}
		}
		det.Cone = cc
		if settled := cc.MinOverCorneaUM - n.SettlingUM; settled < n.MinSettledClearanceUM {
			d.warnf("over the cone (%.0f degrees, %.1f mm from the apex) the lens keeps %.0f microns at %.1f mm after settling, less than %g: raise the lens sag",
				semi, rc, settled, cc.MinAtMM, n.MinSettledClearanceUM)
		}
	}
	if got := flat.ApexClearanceUM; math.Abs(got-det.InsertionClearanceUM) > 0.5 {
		d.warnf("the lens %s before its haptic: central clearance %.0f microns instead of %.0f",
			bearing(d.Clearance), got, det.InsertionClearanceUM)
	}
	return d, nil
}
