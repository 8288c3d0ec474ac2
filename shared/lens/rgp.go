package lens

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// Curve is a peripheral curve of an RGP lens.
type Curve struct {
	RadiusMM float64 `json:"radius_mm"`
	// WidthMM is the zone's radial width; InnerChordMM and OuterChordMM the
	// diameters it spans.
	WidthMM      float64 `json:"width_mm"`
	InnerChordMM float64 `json:"inner_chord_mm"`
	OuterChordMM float64 `json:"outer_chord_mm"`
	// SagAddedMM is the sag the zone adds: s(R, outer) - s(R, inner).
	SagAddedMM float64 `json:"sag_added_mm"`
}

// RGPDetails is what an RGP design adds to Design.
type RGPDetails struct {
	Nomogram        RGPNomogram `json:"nomogram_values"`
	SecondaryCurve  Curve       `json:"secondary_curve"`
	PeripheralCurve Curve       `json:"peripheral_curve"`
	// AxialEdgeLiftMM is the sag of the BOZR sphere extended to the TD
	// minus the lens's sag at the TD.
	AxialEdgeLiftMM float64 `json:"axial_edge_lift_mm"`
	// BOZDRule says how the BOZD was chosen ("pupil + 2", "TD less the
	// peripheral zones", or BOZDRuleRevision when a revision set it).
	BOZDRule string `json:"bozd_rule"`
}

// DesignRGP designs a tricurve RGP corneal lens: BOZR from the flat K, TD
// from the HVID, BOZD from the pupil (or what the TD leaves inside the
// peripheral zones), secondary and peripheral curves flatter by the
// nomogram's steps, and the ordered power from the vertexed refraction less
// the tear lens.
func DesignRGP(eye Eye, in Clinical, n RGPNomogram) (*Design, error) {
	return designRGP("lens.DesignRGP", eye, in, n, Overrides{})
}

// designRGP is DesignRGP with a revision's overrides substituted for what
// the nomogram would derive.
func designRGP(op string, eye Eye, in Clinical, n RGPNomogram, o Overrides) (*Design, error) {
	if err := n.validate(op, "nomogram."); err != nil {
		return nil, err
	}
	d := &Design{Type: RGP, Nomogram: n.Name, NomogramVersion: n.Version, RefractionD: in.RefractionD}
	var err error
	if d.FlatK, d.SteepK, err = eyeK(op, eye, n.KeratometricIndex); err != nil {
		return nil, err
	}
	if err := checkRefraction(op, in); err != nil {
		return nil, err
	}
	if d.HVIDMM, err = hvid(op, d, in, n.DefaultHVIDMM); err != nil {
		return nil, err
	}
	if in.PupilMM != 0 && !(in.PupilMM >= 1.5 && in.PupilMM <= 9) {
		return nil, errs.Field(op, "pupil_mm", "%g mm is not a plausible pupil (1.5-9 mm)", in.PupilMM)
	}

	d.BOZRMM = o.or(o.BOZRMM, roundTo(d.FlatK.RadiusMM-n.BOZRSteeperThanKMM, n.BOZRStepMM))
	d.TDMM = o.or(o.TDMM, roundTo(d.HVIDMM-n.TDSmallerThanHVIDMM, n.TDStepMM))
	det := &RGPDetails{Nomogram: n}
	pcw := n.PeripheralCurveWidthMM
	scw := n.SecondaryCurveWidthMM
	if o.BOZDMM != 0 {
		d.BOZDMM = o.BOZDMM
		scw = (d.TDMM-d.BOZDMM)/2 - pcw
		det.BOZDRule = BOZDRuleRevision
		if scw < 0.1 {
			return nil, errs.Field(op, "bozd_mm", "a %g mm optic zone leaves no room for the peripheral curves of a %g mm lens", d.BOZDMM, d.TDMM)
		}
	} else if in.PupilMM > 0 {
		d.BOZDMM = roundTo(in.PupilMM+n.PupilAddMM, 0.1)
		scw = (d.TDMM-d.BOZDMM)/2 - pcw
		det.BOZDRule = "pupil + pupil_add_mm"
		if scw < 0.1 {
			return nil, errs.Field(op, "pupil_mm", "a %g mm optic zone (pupil %g mm) leaves no room for the peripheral curves of a %g mm lens",
				d.BOZDMM, in.PupilMM, d.TDMM)
		}
	} else {
		d.BOZDMM = d.TDMM - 2*(scw+pcw)
		det.BOZDRule = "td less the secondary and peripheral zones"
		if d.BOZDMM < 5 {
			return nil, errs.Field(op, "nomogram.secondary_curve_width_mm", "the peripheral zones leave a %.2f mm optic zone in a %g mm lens", d.BOZDMM, d.TDMM)
		}
	}
	scr := d.BOZRMM + n.SecondaryCurveFlatterMM
	pcr := scr + n.PeripheralCurveFlatterMM
	rO, rS, rE := d.BOZDMM/2, d.BOZDMM/2+scw, d.TDMM/2
	if rE >= d.BOZRMM {
		return nil, errs.Ef(op, errs.Invalid, "a %g mm lens is too wide for a %g mm BOZR", d.TDMM, d.BOZRMM)
	}
	optic := sphereZone("optic", d.BOZRMM, 0, rO, 0)
	sec := sphereZone("secondary", scr, rO, rS, optic.OuterSagMM)
	per := sphereZone("peripheral", pcr, rS, rE, sec.OuterSagMM)
	d.BackSurface = BackSurface{Profiles: []Profile{{MeridianDeg: d.FlatK.AxisDeg, Zones: []Zone{optic, sec, per}}}}
	d.SagMM = per.OuterSagMM
	det.SecondaryCurve = Curve{RadiusMM: scr, WidthMM: scw, InnerChordMM: 2 * rO, OuterChordMM: 2 * rS, SagAddedMM: sec.OuterSagMM - sec.InnerSagMM}
	det.PeripheralCurve = Curve{RadiusMM: pcr, WidthMM: pcw, InnerChordMM: 2 * rS, OuterChordMM: 2 * rE, SagAddedMM: per.OuterSagMM - per.InnerSagMM}
	det.AxialEdgeLiftMM = SphereSagMM(d.BOZRMM, rE) - d.SagMM
	d.RGP = det

	if err := power(op, d, n.Common, d.RefractionD, o.PowerD); err != nil {
		return nil, err
	}
	if d.Clearance, err = clearanceProfiles(op, eye, &d.BackSurface, d.FlatK.AxisDeg, d.SteepK.AxisDeg, rO, rS, rE); err != nil {
		return nil, err
	}
	return d, nil
}

// power fills the tear lens, the corneal-plane refraction, the ordered
// power (the refraction at the cornea less the tear lens, rounded to the
// nomogram's step; an ortho-k design sets its own power beforehand), the
// centre thickness and the front radius. A revision's power override
// (non-nil) replaces the ordered power.
func power(op string, d *Design, c Common, refractionD float64, override *float64) error {
	d.CornealPlaneRxD = VertexD(refractionD, c.VertexDistanceMM)
	d.TearLensD = TearLensD(d.BOZRMM, d.FlatK.RadiusMM, c.TearIndex)
	field := "refraction_D"
	switch {
	case override != nil:
		d.PowerD, field = *override, "power_D"
	case d.Type != OrthoK:
		d.PowerD = roundTo(d.CornealPlaneRxD-d.TearLensD, c.PowerStepD)
	}
	d.MaterialIndex = c.MaterialIndex
	d.CentreThicknessMM = c.CentreThicknessMM + c.PlusThicknessPerDMM*max(0, d.PowerD)
	d.FrontRadiusMM = FrontRadiusMM(d.PowerD, d.BOZRMM, d.CentreThicknessMM, c.MaterialIndex)
	if math.IsNaN(d.FrontRadiusMM) {
		return errs.Field(op, field, "no front surface gives %+.2f D on a %g mm BOZR", d.PowerD, d.BOZRMM)
	}
	return nil
}
