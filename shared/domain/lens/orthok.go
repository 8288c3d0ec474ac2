package lens

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// OrthoKDetails is what an ortho-k design adds to Design.
type OrthoKDetails struct {
	Nomogram OrthoKNomogram `json:"nomogram_values"`
	Method   string         `json:"method"`
	// TargetD is the myopia the BOZR formula corrects (positive), FlatKD
	// the flat K in dioptres and BOZRD the BOZR in keratometric dioptres
	// before rounding to the BOZR step.
	TargetD            float64 `json:"target_D"`
	FlatKD             float64 `json:"flat_k_D"`
	BOZRD              float64 `json:"bozr_D"`
	CentralClearanceUM float64 `json:"central_clearance_um"`
	LandingChordMM     float64 `json:"landing_chord_mm"`
	// SagDifferenceUM is the eye's sag difference between its principal
	// meridians at the landing chord; toric landing when it reaches the
	// nomogram's threshold.
	SagDifferenceUM float64 `json:"sag_difference_um"`
	// Landings are the flat and steep principal meridians (lens values
	// from the back surface, which is the same along both when not toric).
	Landings []Landing `json:"landings"`
	// ReturnZoneDepthMM is the return zone depth of the designed meridian
	// with less sag (the flat landing of a toric lens).
	ReturnZoneDepthMM float64 `json:"return_zone_depth_mm"`
}

// OrthoKBOZRMM returns the ortho-k BOZR (mm, unrounded) and its dioptric
// value for a flat K radius (mm) and a myopic target (D, positive or
// negative: its magnitude is used) under the nomogram's method and
// keratometric index:
//
//	Jessen:              K - |target| - compression factor
//	Chan-Cho-Mountford:  K - (slope |target| + intercept)
func OrthoKBOZRMM(flatKMM, targetD float64, n OrthoKNomogram) (bozrMM, bozrD float64) {
	k := n.KeratometricIndex / flatKMM
	t := math.Abs(targetD)
	if n.Method == MethodChanChoMountford {
		bozrD = k - (n.ChanSlope*t + n.ChanInterceptD)
	} else {
		bozrD = k - t - n.CompressionFactorD
	}
	return n.KeratometricIndex / bozrD, bozrD
}

// ReturnZoneDepthMM is the sag-matched return zone depth: the eye's sag at
// the landing chord plus the central clearance less the sag of the BOZR
// sphere at the BOZD (all mm).
func ReturnZoneDepthMM(eyeSagAtLandingMM, clearanceMM, bozrMM, bozdMM float64) float64 {
	return eyeSagAtLandingMM + clearanceMM - SphereSagMM(bozrMM, bozdMM/2)
}

// DesignOrthoK designs a reverse-geometry ortho-k lens for myopia: BOZR by
// the nomogram's method, a reverse curve from the optic zone to a landing
// cone centred on the landing chord at the cornea's tangent angle there,
// the lens sag at the landing chord matching the corneal sag plus the
// central clearance, and an edge curve. When the principal meridians' sag
// at the landing chord differ by the threshold or more, each gets its own
// reverse curve and landing (a toric landing); otherwise the lens lands on
// the meridian with less sag, where a rotationally symmetric lens rests.
// The ordered power is the compression factor.
func DesignOrthoK(eye Eye, in Clinical, n OrthoKNomogram) (*Design, error) {
	return designOrthoK("lens.DesignOrthoK", eye, in, n, Overrides{})
}

// designOrthoK is DesignOrthoK with a revision's overrides substituted for
// what the nomogram would derive.
func designOrthoK(op string, eye Eye, in Clinical, n OrthoKNomogram, o Overrides) (*Design, error) {
	d, err := startDesign(op, OrthoK, n, eye, in)
	if err != nil {
		return nil, err
	}
	if !(in.RefractionD < 0) {
		return nil, errs.Field(op, "refraction_D", "ortho-k corrects myopia: the refraction must be negative (got %+.2f D)", in.RefractionD)
	}
	if d.HVIDMM, err = hvid(op, d, in, n.DefaultHVIDMM); err != nil {
		return nil, err
	}
	target := in.RefractionD
	if n.VertexTarget {
		target = VertexD(target, d.Refraction.VertexMM)
	}
	if -target > n.MaxMyopiaD {
		return nil, errs.Field(op, "refraction_D", "%.2f D of myopia is more than the nomogram's %g D", -target, n.MaxMyopiaD)
	}
	det := &OrthoKDetails{Nomogram: n, Method: n.Method, TargetD: -target, FlatKD: d.FlatK.D,
		CentralClearanceUM: n.CentralClearanceUM, LandingChordMM: n.LandingChordMM}
	raw, bozrD := OrthoKBOZRMM(d.FlatK.RadiusMM, target, n)
	det.BOZRD = bozrD
	if !(bozrD > 0) {
		return nil, errs.Field(op, "refraction_D", "the BOZR formula gives no radius (%.2f D)", bozrD)
	}
	d.BOZRMM = RoundToStep(raw, n.BOZRStepMM)
	if o.BOZRMM != 0 {
		d.BOZRMM, det.BOZRD = o.BOZRMM, n.KeratometricIndex/o.BOZRMM
	}
	d.BOZDMM = o.or(o.BOZDMM, n.BOZDMM)
	d.TDMM = o.or(o.TDMM, RoundToStep(d.HVIDMM-n.TDSmallerThanHVIDMM, n.TDStepMM))
	rO, rL := d.BOZDMM/2, n.LandingChordMM/2
	rA, rB, rE := rL-n.LandingZoneWidthMM/2, rL+n.LandingZoneWidthMM/2, d.TDMM/2
	if rB >= rE {
		return nil, errs.Field(op, o.tdField(), "a %g mm lens leaves no edge outside the landing zone (to %g mm)", d.TDMM, 2*rB)
	}
	clearance := n.CentralClearanceUM / 1000
	edgeR := d.FlatK.RadiusMM + n.EdgeCurveFlatterThanKMM
	if rO >= rA {
		return nil, errs.Field(op, "bozd_mm", "a %g mm optic zone reaches the landing zone (from %g mm)", d.BOZDMM, 2*rA)
	}
	if edgeR <= rE || d.BOZRMM <= rO {
		return nil, errs.Ef(op, errs.Invalid, "the curves do not reach a %g mm lens", d.TDMM)
	}

	// The eye along the principal meridians.
	toric := func(sagDifferenceUM float64) bool { return sagDifferenceUM >= n.ToricLandingThresholdUM } // a toric landing from the threshold on
	lands, lo, order, err := land(op, eye, d, o, n.LandingChordMM, toric)
	if err != nil {
		return nil, err
	}
	for _, l := range lands {
		if l.EyeSagSource != SourceMeasured {
			d.warnf("the corneal sag at the %g mm landing chord along %g degrees is %s", n.LandingChordMM, l.MeridianDeg, l.EyeSagSource)
		}
	}
	det.SagDifferenceUM = sagDifferenceUM(lands)
	// A revision's lens sag or return zone depth on the designed meridian
	// moves every landing by the same amount (a toric landing keeps its
	// step): it changes the central clearance.
	switch {
	case o.LensSagMM != 0:
		clearance = o.LensSagMM - lands[lo].EyeSagMM
	case o.ReturnZoneDepthMM != 0:
		clearance = SphereSagMM(d.BOZRMM, rO) + o.ReturnZoneDepthMM - lands[lo].EyeSagMM
	}
	if o.LensSagMM != 0 || o.ReturnZoneDepthMM != 0 {
		det.CentralClearanceUM = 1000 * clearance
		if lo, hi := orthoKClearanceUM[0], orthoKClearanceUM[1]; !(det.CentralClearanceUM >= lo && det.CentralClearanceUM <= hi) {
			d.warnf("the revised central clearance is %.0f microns, outside the %g-%g microns of a tear film that neither bears nor pools", det.CentralClearanceUM, lo, hi)
		}
	}

	optic := sphereZone("optic", d.BOZRMM, 0, rO, 0)
	for _, k := range order {
		l := &lands[k]
		lensSag := l.EyeSagMM + clearance
		tanA := math.Tan(l.AngleDeg * math.Pi / 180)
		zA := lensSag - tanA*(rL-rA)
		delta := zA - optic.OuterSagMM
		if !(delta > 0) || delta*delta >= rA*rA-rO*rO {
			return nil, errs.Ef(op, errs.Invalid, "no reverse curve joins the %g mm optic zone to the landing along %g degrees (depth %.3f mm over %.2f mm)",
				d.BOZDMM, l.MeridianDeg, delta, rA-rO)
		}
		a := ((rA*rA-rO*rO)/delta + delta) / 2
		rc := math.Sqrt(a*a + rO*rO)
		rev := sphereZone("reverse", rc, rO, rA, optic.OuterSagMM)
		rev.OuterSagMM = zA // exact by construction; keep the design value
		land := coneZone("landing", l.AngleDeg, rA, rB, zA)
		edge := sphereZone("edge", edgeR, rB, rE, land.OuterSagMM)
		d.BackSurface.Profiles = append(d.BackSurface.Profiles, Profile{MeridianDeg: l.MeridianDeg, Zones: []Zone{optic, rev, land, edge}})
		l.ReturnZoneDepthMM = ReturnZoneDepthMM(l.EyeSagMM, clearance, d.BOZRMM, d.BOZDMM)
		l.ReverseCurveRadiusMM = rc
	}
	for k := range lands {
		lands[k].LensSagMM = d.BackSurface.SagMM(lands[k].MeridianDeg, rL)
		if !d.Toric && k != lo {
			lands[k].ReturnZoneDepthMM = lands[lo].ReturnZoneDepthMM
			lands[k].ReverseCurveRadiusMM = lands[lo].ReverseCurveRadiusMM
		}
	}
	det.Landings = lands[:]
	det.ReturnZoneDepthMM = lands[lo].ReturnZoneDepthMM
	d.SagMM = d.BackSurface.SagMM(lands[lo].MeridianDeg, rE)
	d.OrthoK = det

	d.PowerD = n.CompressionFactorD
	d.CornealPlaneRxD = VertexD(d.RefractionD, d.Refraction.VertexMM)
	if err := power(op, d, n.Common, d.CornealPlaneRxD, o.PowerD); err != nil {
		return nil, err
	}
	d.warnCylinderNotCorrected()
	if d.Clearance, err = clearanceProfiles(op, eye, &d.BackSurface, d.FlatK.AxisDeg, d.SteepK.AxisDeg, rO, rA, rL, rB, rE); err != nil {
		return nil, err
	}
	if got := d.Clearance[0].ApexClearanceUM; math.Abs(got-det.CentralClearanceUM) > 0.5 {
		d.warnf("the lens %s, not on its landing: central clearance %.0f microns instead of %.0f",
			bearing(d.Clearance), got, det.CentralClearanceUM)
	}
	return d, nil
}
