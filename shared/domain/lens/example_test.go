package lens_test

import (
	"fmt"
	"strings"

	"github.com/lensflow/lensflow/shared/domain/cornea"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
)

func ExampleDesignRGP() {
	// The handbook's reference cornea (R0 7.80 mm, e 0.5); in production
	// the eye is the fitted cornea of a scan.
	eye := lenstest.Reference()
	d, err := lens.DesignRGP(eye, lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultRGPNomogram())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s: BOZR %.2f BOZD %.1f TD %.1f\n", d.Nomogram, d.NomogramVersion, d.BOZRMM, d.BOZDMM, d.TDMM)
	fmt.Printf("SCR %.2f PCR %.2f, axial edge lift %.3f mm\n", d.RGP.SecondaryCurve.RadiusMM, d.RGP.PeripheralCurve.RadiusMM, d.RGP.AxialEdgeLiftMM)
	fmt.Printf("tear lens %+.2f D, power %+.2f D, front radius %.2f mm\n", d.TearLensD, d.PowerD, d.FrontRadiusMM)
	fmt.Printf("apical clearance %.0f microns\n", d.Clearance[0].ApexClearanceUM)
	// Output:
	// lensflow-rgp-standard 2026.1: BOZR 7.75 BOZD 8.0 TD 9.6
	// SCR 8.75 PCR 10.25, axial edge lift 0.133 mm
	// tear lens +0.28 D, power -3.25 D, front radius 8.29 mm
	// apical clearance 30 microns
}

func ExampleDesignOrthoK() {
	d, err := lens.DesignOrthoK(lenstest.Toric(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultOrthoKNomogram())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("BOZR %.2f (%s), BOZD %.1f, TD %.1f, power %+.2f D\n", d.BOZRMM, d.OrthoK.Method, d.BOZDMM, d.TDMM, d.PowerD)
	fmt.Printf("sag difference at 8 mm %.1f microns: toric %v\n", d.OrthoK.SagDifferenceUM, d.Toric)
	for _, l := range d.OrthoK.Landings {
		fmt.Printf("meridian %3.0f: return zone depth %.4f mm, landing angle %.2f\n", l.MeridianDeg, l.ReturnZoneDepthMM, l.AngleDeg)
	}
	// Output:
	// BOZR 8.54 (jessen), BOZD 6.0, TD 10.6, power +0.75 D
	// sag difference at 8 mm 31.9 microns: toric true
	// meridian 180: return zone depth 0.5476 mm, landing angle 29.79
	// meridian  90: return zone depth 0.5796 mm, landing angle 30.60
}

func ExampleDesignScleral() {
	d, err := lens.DesignScleral(lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}, lens.DefaultScleralNomogram())
	if err != nil {
		fmt.Println(err)
		return
	}
	s := d.Scleral
	fmt.Printf("TD %.1f, ocular sag at 15 mm %.4f (%s)\n", d.TDMM, s.OcularSagMM, s.OcularSagSource)
	fmt.Printf("lens sag at 15 mm %.4f: %g microns at insertion, %g after settling\n", s.LensSagMM, s.InsertionClearanceUM, s.SettledClearanceUM)
	fmt.Printf("landing angle %.2f, toric haptics %v\n", s.Landings[0].AngleDeg, d.Toric)
	// Output:
	// TD 17.5, ocular sag at 15 mm 3.6765 (extrapolated: tangent line from the 10 mm chord)
	// lens sag at 15 mm 3.9765: 300 microns at insertion, 150 after settling
	// landing angle 37.62, toric haptics false
}

func ExampleBackSurface_Func() {
	d, _ := lens.DesignOrthoK(lenstest.Reference(), lens.Clinical{RefractionD: -2}, lens.DefaultOrthoKNomogram())
	back := d.BackSurface.Func(180) // what a lathe point file samples
	for _, r := range []float64{0, 3, 4, d.TDMM / 2} {
		fmt.Printf("z(%.1f) = %.4f mm\n", r, back(r))
	}
	fmt.Println(d.Warnings)
	// Output:
	// z(0.0) = 0.0000 mm
	// z(3.0) = 0.5590 mm
	// z(4.0) = 1.0919 mm
	// z(5.3) = 1.9156 mm
	// [HVID not given: the nomogram default 11.8 mm was used]
}

func ExampleParseOrthoKNomogram() {
	n, err := lens.ParseOrthoKNomogram(strings.NewReader(`{
		"name": "clinic-chan", "version": "1",
		"method": "chan-cho-mountford", "central_clearance_um": 15
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n.Name, n.Version, n.Method, n.CentralClearanceUM, n.BOZDMM)

	_, err = lens.ParseOrthoKNomogram(strings.NewReader(`{"name": "x", "version": "1", "compression_factor_D": 2}`))
	fmt.Println(err)
	// Output:
	// clinic-chan 1 chan-cho-mountford 15 6
	// lens.ParseOrthoKNomogram: compression_factor_D: 2 is out of range (0.5 to 0.75)
}

func ExampleParseRefraction() {
	for _, s := range []string{"-3.00/-1.25x180", "pl/+1.00x90", "-2.5", "-3.00/-1.25"} {
		r, err := lens.ParseRefraction(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-16s -> %s (transposed %v)\n", s, r, r.Transposed)
	}
	// Output:
	// -3.00/-1.25x180  -> -3.00 / -1.25 x 180 (transposed false)
	// pl/+1.00x90      -> +1.00 / -1.00 x 180 (transposed true)
	// -2.5             -> -2.50 DS (transposed false)
	// lens.ParseRefraction: rx: the -1.25 D cylinder has no axis: add it, e.g. -3.00 / -1.25 x 180 (axis 0 to 180 degrees)
}

// A cornea with 3.00 D of with-the-rule astigmatism (7.80 mm along 180) and
// a refraction whose cylinder, at the cornea, matches it: a bitoric lens
// with spherical power effect.
func ExampleDesignRGP_bitoric() {
	eye := lenstest.Biconic{Flat: cornea.Conic{R0MM: 7.80, P: 0.75}, Steep: cornea.Conic{R0MM: 337.5 / (337.5/7.80 + 3), P: 0.75}}
	r, _ := lens.ParseRefraction("-2.00 / -3.25 x 180")
	d, err := lens.DesignRGP(eye, lens.Clinical{HVIDMM: 11.8}.WithRefraction(r), lens.DefaultRGPNomogram())
	if err != nil {
		fmt.Println(err)
		return
	}
	g := d.RGP
	fmt.Printf("%s: corneal cylinder %.2f D at %g, refraction at the cornea %s\n", g.Form, g.CornealCylinderD, g.CornealCylinderAxisDeg,
		lens.Astigmatism{CylinderD: g.CornealPlaneRx.CylinderD, AxisDeg: g.CornealPlaneRx.AxisDeg})
	for _, m := range d.Meridians {
		fmt.Printf("meridian %3.0f: BOZR %.2f, tear lens %+.2f, power %+.2f D, front radius %.3f\n", m.MeridianDeg, m.BOZRMM, m.TearLensD, m.PowerD, m.FrontRadiusMM)
	}
	fmt.Printf("%s (front toric %v), residual astigmatism %s\n", g.Bitoric.Effect, g.Bitoric.FrontToric, g.ResidualAstigmatism)
	// Output:
	// bitoric: corneal cylinder 3.00 D at 90, refraction at the cornea -2.99 x 180
	// meridian 180: BOZR 7.75, tear lens +0.28, power -2.25 D, front radius 8.138
	// meridian  90: BOZR 7.24, tear lens +0.35, power -5.25 D, front radius 8.002
	// spherical power effect (front toric true), residual astigmatism -0.01 x 90
}
