package lens

import (
	"fmt"
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

// RGP lens forms (RGPDetails.Form).
const (
	FormSpherical = "spherical"
	FormBitoric   = "bitoric"
)

// Bitoric effects (BitoricDetails.Effect).
const (
	EffectSpherical = "spherical power effect"
	EffectCylinder  = "cylinder power effect"
)

// RGPDetails is what an RGP design adds to Design. The curves and the edge
// lift are the flat meridian's (a bitoric's steep meridian is in Bitoric).
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

	// Form is FormSpherical or FormBitoric.
	Form string `json:"form"`
	// CornealCylinderD is the corneal astigmatism from the K readings:
	// steep K - flat K (keratometric dioptres), at CornealCylinderAxisDeg,
	// the steep meridian.
	CornealCylinderD       float64 `json:"corneal_cylinder_D"`
	CornealCylinderAxisDeg float64 `json:"corneal_cylinder_axis_deg"`
	// CornealPlaneRx is the refraction moved to the cornea meridian by
	// meridian (vertex 0), and CornealPlaneMeridians its power along the
	// cornea's flat and steep meridians, the powers a design corrects.
	CornealPlaneRx        Refraction      `json:"corneal_plane_rx"`
	CornealPlaneMeridians []MeridianPower `json:"corneal_plane_meridians"`
	// ResidualAstigmatism is the corneal-plane refraction's astigmatism
	// less the cornea's (taken as the refractive error it causes, minus
	// cylinder at the flat axis), as power vectors: what a spherical lens,
	// whose tear lens neutralises the cornea's astigmatism, leaves.
	ResidualAstigmatism Astigmatism `json:"residual_astigmatism"`
	// CylinderSteepeningD is how much steeper than the flat K a spherical
	// lens's BOZR was made for the corneal cylinder
	// (bozr_cylinder_fraction times the cylinder), before
	// bozr_steeper_than_k_mm applies; 0 on a bitoric.
	CylinderSteepeningD float64 `json:"cylinder_steepening_D"`
	// Bitoric describes a bitoric lens (nil for a spherical one).
	Bitoric *BitoricDetails `json:"bitoric,omitempty"`
}

// MeridianPower is a power (D) along a meridian (TABO degrees).
type MeridianPower struct {
	MeridianDeg float64 `json:"meridian_deg"`
	PowerD      float64 `json:"power_D"`
}

// MeridianOptics is a lens's optics along one principal meridian of the
// eye.
type MeridianOptics struct {
	MeridianDeg float64 `json:"meridian_deg"`
	// K is the eye's K reading along the meridian, BOZRMM the base curve
	// fitted to it and TearLensD the tear lens between them.
	K         KReading `json:"k"`
	BOZRMM    float64  `json:"bozr_mm"`
	TearLensD float64  `json:"tear_lens_D"`
	// CornealPlaneRxD is the refraction's power along the meridian at the
	// cornea; PowerD the ordered back vertex power (in air) along it:
	// CornealPlaneRxD - TearLensD rounded to the power step; FrontRadiusMM
	// the front radius that gives it.
	CornealPlaneRxD float64 `json:"corneal_plane_rx_D"`
	PowerD          float64 `json:"power_D"`
	FrontRadiusMM   float64 `json:"front_radius_mm"`
}

// BitoricDetails describes a bitoric RGP lens: a back surface and a front
// surface that each differ between the eye's principal meridians.
type BitoricDetails struct {
	// BaseCurveToricityD is the base curves' difference in keratometric
	// dioptres (index/steep BOZR - index/flat BOZR).
	BaseCurveToricityD float64 `json:"base_curve_toricity_D"`
	// PowerDifferenceD is the flat meridian's ordered power less the steep
	// meridian's, in air.
	PowerDifferenceD float64 `json:"power_difference_D"`
	// SphericalPowerEffect is true when PowerDifferenceD equals
	// BaseCurveToricityD within the nomogram's power step (0.125 D when it
	// does not round): the lens then acts on the eye as a sphere would, and
	// turning on the eye costs no vision. Otherwise it is a cylinder power
	// effect bitoric: it also corrects residual astigmatism and must stay
	// aligned. Effect says which in words.
	SphericalPowerEffect bool   `json:"spherical_power_effect"`
	Effect               string `json:"effect"`
	// BackToricCylinderD is the cylinder in air these base curves give
	// under a spherical front (the flat meridian's front radius): about
	// (n - 1) / (keratometric index - 1) times the toricity, 1.27 for
	// n 1.43 and 1.45 for PMMA. FrontToric says a front toric is needed:
	// with a spherical front (a back-toric lens) the steep meridian's power
	// would be off by more than half the power step.
	BackToricCylinderD float64 `json:"back_toric_cylinder_D"`
	FrontToric         bool    `json:"front_toric"`
	// The steep meridian's peripheral curves and axial edge lift.
	SteepSecondaryCurve  Curve   `json:"steep_secondary_curve"`
	SteepPeripheralCurve Curve   `json:"steep_peripheral_curve"`
	SteepAxialEdgeLiftMM float64 `json:"steep_axial_edge_lift_mm"`
	// Summary says all of it in words, for the lab.
	Summary string `json:"summary"`
}

// DesignRGP designs a tricurve RGP corneal lens: BOZR from the flat K, TD
// from the HVID, BOZD from the pupil (or what the TD leaves inside the
// peripheral zones), secondary and peripheral curves flatter by the
// nomogram's steps, and the ordered power from the vertexed refraction less
// the tear lens.
//
// Corneal astigmatism decides the form. Up to the nomogram's
// spherical_max_cylinder_D the lens is spherical, its BOZR steepened from
// the flat K by bozr_cylinder_fraction of the cylinder, and its power is
// the corneal-plane refraction along the flat meridian less the tear lens;
// the design warns when the residual astigmatism it leaves reaches
// residual_astigmatism_warn_D. Above it the lens is bitoric: a base curve
// fitted to each K by the same rule as the flat one, a tricurve back
// profile per principal meridian, and per meridian the refraction there
// (each principal meridian of the refraction vertexed on its own) less
// that meridian's tear lens, with its own front radius; the design says
// whether it has spherical or cylinder power effect and whether a front
// toric is needed.
func DesignRGP(eye Eye, in Clinical, n RGPNomogram) (*Design, error) {
	return designRGP("lens.DesignRGP", eye, in, n, Overrides{})
}

// designRGP is DesignRGP with a revision's overrides substituted for what
// the nomogram would derive.
func designRGP(op string, eye Eye, in Clinical, n RGPNomogram, o Overrides) (*Design, error) {
	d, err := startDesign(op, RGP, n, eye, in)
	if err != nil {
		return nil, err
	}
	if d.HVIDMM, err = hvid(op, d, in, n.DefaultHVIDMM); err != nil {
		return nil, err
	}
	if in.PupilMM != 0 && !(in.PupilMM >= 1.5 && in.PupilMM <= 9) {
		return nil, errs.Field(op, "pupil_mm", "%g mm is not a plausible pupil (1.5-9 mm)", in.PupilMM)
	}
	det := &RGPDetails{Nomogram: n, Form: FormSpherical}
	det.astigmatism(d)
	cyl := math.Abs(det.CornealCylinderD)
	bitoric := n.SphericalMaxCylinderD > 0 && cyl > n.SphericalMaxCylinderD+1e-9
	if o.Toric != nil {
		if !*o.Toric && bitoric {
			d.warnf("a spherical lens on %.2f D of corneal astigmatism, more than the nomogram's %g D for one: expect it to rock and decentre",
				cyl, n.SphericalMaxCylinderD)
		}
		bitoric = *o.Toric
	}

	// The principal meridians, the flatter first, and a base curve for
	// each (one for a spherical lens).
	mer := [2]KReading{d.FlatK, d.SteepK}
	var bozr [2]float64
	if bitoric {
		det.Form = FormBitoric
		if mer[1].RadiusMM > mer[0].RadiusMM {
			mer[0], mer[1] = mer[1], mer[0]
		}
		for i := range mer {
			bozr[i] = RoundToStep(mer[i].RadiusMM-n.BOZRSteeperThanKMM, n.BOZRStepMM)
		}
		if o.BOZRMM != 0 {
			// The flat meridian takes the override; the steep one keeps the
			// base curves' toricity in dioptres, so the tear lenses change
			// alike and the lens keeps its power effect.
			idx := n.KeratometricIndex
			toricity := idx/bozr[1] - idx/bozr[0]
			bozr[0] = o.BOZRMM
			bozr[1] = RoundToStep(idx/(idx/o.BOZRMM+toricity), n.BOZRStepMM)
		}
		if !(bozr[1] < bozr[0]) {
			return nil, errs.Field(op, "toric", "a bitoric lens needs toric base curves, and %.2f D of corneal astigmatism gives %g and %g mm",
				cyl, bozr[0], bozr[1])
		}
	} else {
		base := d.FlatK.RadiusMM
		if s := n.BOZRCylinderFraction * cyl; s > 0 {
			det.CylinderSteepeningD = s
			base = n.KeratometricIndex / (d.FlatK.D + s)
		}
		bozr[0] = o.or(o.BOZRMM, RoundToStep(base-n.BOZRSteeperThanKMM, n.BOZRStepMM))
		mer[0] = d.FlatK
	}
	d.BOZRMM = bozr[0]
	d.TDMM = o.or(o.TDMM, RoundToStep(d.HVIDMM-n.TDSmallerThanHVIDMM, n.TDStepMM))
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
		d.BOZDMM = RoundToStep(in.PupilMM+n.PupilAddMM, 0.1)
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
	rO, rS, rE := d.BOZDMM/2, d.BOZDMM/2+scw, d.TDMM/2
	n2 := 1
	if bitoric {
		n2 = 2
	}
	for _, b := range bozr[:n2] {
		if rE >= b {
			return nil, errs.Ef(op, errs.Invalid, "a %g mm lens is too wide for a %g mm BOZR", d.TDMM, b)
		}
	}
	var secs, pers [2]Curve
	var lifts [2]float64
	for i, b := range bozr[:n2] {
		scr := b + n.SecondaryCurveFlatterMM
		pcr := scr + n.PeripheralCurveFlatterMM
		optic := sphereZone("optic", b, 0, rO, 0)
		sec := sphereZone("secondary", scr, rO, rS, optic.OuterSagMM)
		per := sphereZone("peripheral", pcr, rS, rE, sec.OuterSagMM)
		d.BackSurface.Profiles = append(d.BackSurface.Profiles, Profile{MeridianDeg: mer[i].AxisDeg, Zones: []Zone{optic, sec, per}})
		secs[i] = Curve{RadiusMM: scr, WidthMM: scw, InnerChordMM: 2 * rO, OuterChordMM: 2 * rS, SagAddedMM: sec.OuterSagMM - sec.InnerSagMM}
		pers[i] = Curve{RadiusMM: pcr, WidthMM: pcw, InnerChordMM: 2 * rS, OuterChordMM: 2 * rE, SagAddedMM: per.OuterSagMM - per.InnerSagMM}
		lifts[i] = SphereSagMM(b, rE) - per.OuterSagMM
	}
	d.SagMM = d.BackSurface.Profiles[0].SagMM(rE)
	det.SecondaryCurve, det.PeripheralCurve, det.AxialEdgeLiftMM = secs[0], pers[0], lifts[0]
	d.RGP = det

	d.CornealPlaneRxD = VertexD(d.RefractionD, d.Refraction.VertexMM)
	if bitoric {
		d.Toric = true
		d.ToricStepUM = 1000 * (d.BackSurface.Profiles[1].SagMM(rO) - d.BackSurface.Profiles[0].SagMM(rO))
		det.Bitoric = &BitoricDetails{SteepSecondaryCurve: secs[1], SteepPeripheralCurve: pers[1], SteepAxialEdgeLiftMM: lifts[1]}
		if err := bitoricPower(op, d, n, mer, bozr, o.PowerD); err != nil {
			return nil, err
		}
	} else {
		if err := power(op, d, n.Common, det.CornealPlaneRx.MeridianPowerD(d.FlatK.AxisDeg), o.PowerD); err != nil {
			return nil, err
		}
		if w := n.ResidualAstigmatismWarnD; w > 0 && math.Abs(det.ResidualAstigmatism.CylinderD) >= w-1e-9 {
			r := det.ResidualAstigmatism
			if d.Refraction.CylinderD == 0 {
				// A sphere alone may be a refraction without cylinder, or one
				// whose cylinder was not passed on.
				d.warnf("the refraction was given without a cylinder: if it has none, a spherical lens leaves the cornea's %.2f D of astigmatism (%s at the cornea) as residual astigmatism, and %g D or more costs vision; if it has one, give it",
					-r.CylinderD, r, w)
			} else {
				d.warnf("a spherical lens leaves %.2f D of residual astigmatism (%s at the cornea): %g D or more costs vision, and a front-toric or bitoric lens would correct it",
					-r.CylinderD, r, w)
			}
		}
	}
	if d.Clearance, err = clearanceProfiles(op, eye, &d.BackSurface, d.FlatK.AxisDeg, d.SteepK.AxisDeg, rO, rS, rE); err != nil {
		return nil, err
	}
	return d, nil
}

// astigmatism fills the corneal cylinder, the corneal-plane refraction and
// the residual astigmatism from d's K readings and refraction.
func (det *RGPDetails) astigmatism(d *Design) {
	det.CornealCylinderD = d.SteepK.D - d.FlatK.D
	det.CornealCylinderAxisDeg = d.SteepK.AxisDeg
	cp := d.Refraction.AtCornea(0)
	det.CornealPlaneRx = cp
	det.CornealPlaneMeridians = []MeridianPower{
		{MeridianDeg: d.FlatK.AxisDeg, PowerD: cp.MeridianPowerD(d.FlatK.AxisDeg)},
		{MeridianDeg: d.SteepK.AxisDeg, PowerD: cp.MeridianPowerD(d.SteepK.AxisDeg)},
	}
	det.ResidualAstigmatism = ResidualAstigmatism(cp, d.FlatK, d.SteepK)
}

// bitoricPower fills a bitoric lens's optics per principal meridian (mer,
// the flatter first, with base curves bozr): the refraction along the
// meridian at the cornea less its tear lens, rounded; one centre thickness
// (from the more plus meridian); a front radius each. A revision's power
// (non-nil) is the flat meridian's, and the steep meridian keeps the
// designed difference. It then says what kind of bitoric the lens is.
func bitoricPower(op string, d *Design, n RGPNomogram, mer [2]KReading, bozr [2]float64, override *float64) error {
	c, det := n.Common, d.RGP
	ms := make([]MeridianOptics, 2)
	for i := range ms {
		m := &ms[i]
		m.MeridianDeg, m.K, m.BOZRMM = mer[i].AxisDeg, mer[i], bozr[i]
		m.TearLensD = TearLensD(bozr[i], mer[i].RadiusMM, c.TearIndex)
		m.CornealPlaneRxD = det.CornealPlaneRx.MeridianPowerD(m.MeridianDeg)
		m.PowerD = RoundToStep(m.CornealPlaneRxD-m.TearLensD, c.PowerStepD)
	}
	field := "refraction_D"
	if override != nil {
		ms[1].PowerD += *override - ms[0].PowerD
		ms[0].PowerD, field = *override, "power_D"
	}
	ct := c.CentreThicknessMM + c.PlusThicknessPerDMM*max(0, ms[0].PowerD, ms[1].PowerD)
	for i := range ms {
		m := &ms[i]
		m.FrontRadiusMM = FrontRadiusMM(m.PowerD, m.BOZRMM, ct, c.MaterialIndex)
		if math.IsNaN(m.FrontRadiusMM) {
			return errs.Field(op, field, "no front surface gives %+.2f D on a %g mm BOZR (the meridian at %g degrees)", m.PowerD, m.BOZRMM, m.MeridianDeg)
		}
	}
	d.Meridians = ms
	d.MaterialIndex, d.CentreThicknessMM = c.MaterialIndex, ct
	d.TearLensD, d.PowerD, d.FrontRadiusMM = ms[0].TearLensD, ms[0].PowerD, ms[0].FrontRadiusMM

	b := det.Bitoric
	idx := n.KeratometricIndex
	b.BaseCurveToricityD = idx/bozr[1] - idx/bozr[0]
	b.PowerDifferenceD = ms[0].PowerD - ms[1].PowerD
	step := c.PowerStepD
	if step == 0 {
		step = 0.125
	}
	b.SphericalPowerEffect = math.Abs(b.PowerDifferenceD-b.BaseCurveToricityD) <= step+1e-9
	b.Effect = EffectCylinder
	if b.SphericalPowerEffect {
		b.Effect = EffectSpherical
	}
	steepBackToric := BackVertexPowerD(ms[0].FrontRadiusMM, bozr[1], ct, c.MaterialIndex)
	b.BackToricCylinderD = ms[0].PowerD - steepBackToric
	b.FrontToric = math.Abs(steepBackToric-ms[1].PowerD) > step/2+1e-9

	b.Summary = fmt.Sprintf("Bitoric with %s: %+.2f D along %s degrees and %+.2f D along %s degrees differ by %.2f D in air, the base curves (%.2f and %.2f mm) by %.2f D",
		b.Effect, ms[0].PowerD, axisText(ms[0].MeridianDeg), ms[1].PowerD, axisText(ms[1].MeridianDeg), b.PowerDifferenceD, bozr[0], bozr[1], b.BaseCurveToricityD)
	if b.SphericalPowerEffect {
		b.Summary += ": on the eye it acts as a sphere, and may turn."
	} else {
		b.Summary += fmt.Sprintf(": it also corrects the residual astigmatism (%s at the cornea) along the cornea's meridians, and must stay aligned.",
			det.ResidualAstigmatism)
	}
	ratio := b.BackToricCylinderD / b.BaseCurveToricityD
	if b.FrontToric {
		b.Summary += fmt.Sprintf(" A front toric is needed: a spherical front (a back-toric lens) gives %.2f D of cylinder in air, %.2f times the toricity, not %.2f.",
			b.BackToricCylinderD, ratio, b.PowerDifferenceD)
	} else {
		b.Summary += fmt.Sprintf(" A back-toric lens (spherical front) would do: it gives %.2f D of cylinder in air, %.2f times the toricity, within half a power step of %.2f.",
			b.BackToricCylinderD, ratio, b.PowerDifferenceD)
	}

	// What a lens aligned with the cornea cannot correct: the refraction's
	// astigmatism oblique (45 degrees) to its meridians.
	if w := n.ResidualAstigmatismWarnD; w > 0 {
		p := det.CornealPlaneRx.PowerVector()
		a := 2 * ms[0].MeridianDeg * math.Pi / 180
		j := -p.J0D*math.Sin(a) + p.J45D*math.Cos(a)
		if 2*math.Abs(j) >= w-1e-9 {
			left := astigmatism(PowerVector{J0D: -j * math.Sin(a), J45D: j * math.Cos(a)})
			d.warnf("the refraction's astigmatism is oblique to the cornea: a bitoric lens aligned with its meridians (%g and %g degrees) leaves %.2f D of cylinder (%s at the cornea) uncorrected",
				ms[0].MeridianDeg, ms[1].MeridianDeg, -left.CylinderD, left)
		}
	}
	return nil
}

// power fills the tear lens, the ordered power (cornealRxD, the refraction
// at the cornea to correct, less the tear lens, rounded to the nomogram's
// step; an ortho-k design sets its own power beforehand), the centre
// thickness and the front radius. A revision's power override (non-nil)
// replaces the ordered power. The caller sets CornealPlaneRxD.
func power(op string, d *Design, c Common, cornealRxD float64, override *float64) error {
	d.TearLensD = TearLensD(d.BOZRMM, d.FlatK.RadiusMM, c.TearIndex)
	field := "refraction_D"
	switch {
	case override != nil:
		d.PowerD, field = *override, "power_D"
	case d.Type != OrthoK:
		d.PowerD = RoundToStep(cornealRxD-d.TearLensD, c.PowerStepD)
	}
	d.MaterialIndex = c.MaterialIndex
	d.CentreThicknessMM = c.CentreThicknessMM + c.PlusThicknessPerDMM*max(0, d.PowerD)
	d.FrontRadiusMM = FrontRadiusMM(d.PowerD, d.BOZRMM, d.CentreThicknessMM, c.MaterialIndex)
	if math.IsNaN(d.FrontRadiusMM) {
		return errs.Field(op, field, "no front surface gives %+.2f D on a %g mm BOZR", d.PowerD, d.BOZRMM)
	}
	return nil
}
