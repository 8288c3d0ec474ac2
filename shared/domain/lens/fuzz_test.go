package lens_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
	"github.com/lensflow/lensflow/shared/errs"
)

// FuzzDesigns designs every lens type for arbitrary eyes and inputs: no
// panic, errors are classified, and a design is finite and rests on the
// eye without negative clearance.
func FuzzDesigns(f *testing.F) {
	f.Add(7.8, 7.8, 0.75, 0.75, 180.0, 11.8, -3.0, 0.0)
	f.Add(7.8, 7.6, 0.75, 0.75, 180.0, 11.4, -2.0, 5.0)
	f.Add(8.4, 7.2, 1.2, 0.4, 35.0, 12.5, -5.75, 3.0)
	f.Add(6.5, 6.1, -0.5, 0.1, 90.0, 10.2, 4.0, 7.5)
	f.Add(9.5, 9.4, 0.0, 1.0, 0.0, 13.4, -0.25, 0.0)
	f.Fuzz(func(t *testing.T, flatR, steepR, pf, ps, axis, hvid, rx, pupil float64) {
		eye := lenstest.Biconic{Flat: cornea.Conic{R0MM: flatR, P: pf}, Steep: cornea.Conic{R0MM: steepR, P: ps}, FlatAxisDeg: axis}
		in := lens.Clinical{RefractionD: rx, HVIDMM: hvid, PupilMM: pupil}
		for _, ty := range []lens.Type{lens.RGP, lens.OrthoK, lens.Scleral} {
			d, err := lens.New(ty, eye, in, lens.DefaultNomograms())
			if err != nil {
				if errs.KindOf(err) != errs.Invalid {
					t.Fatalf("%s: unclassified error %v", ty, err)
				}
				continue
			}
			if _, err := json.Marshal(d); err != nil {
				t.Fatalf("%s: design does not encode: %v", ty, err)
			}
			for _, c := range d.Clearance {
				if c.MinClearanceUM < -1e-6 || math.IsNaN(c.ApexClearanceUM) {
					t.Fatalf("%s: clearance %v at %v", ty, c.MinClearanceUM, c.MinAtMM)
				}
			}
		}
	})
}

// FuzzDesignRGPAstigmatism designs RGP lenses for arbitrary toric eyes and
// sphero-cylindrical refractions: no panic, errors are Invalid, and a
// design is finite, rests on the eye, and (bitoric or not) has front radii
// that give its powers.
func FuzzDesignRGPAstigmatism(f *testing.F) {
	f.Add(7.8, 7.29, 180.0, -2.0, -3.25, 180.0, 0.0)
	f.Add(7.8, 7.71, 180.0, -2.0, -1.5, 180.0, 12.0)
	f.Add(8.1, 7.5, 35.0, 3.0, -2.0, 120.0, 14.0)
	f.Add(7.4, 7.6, 90.0, -8.0, -6.0, 45.0, 0.0)
	f.Add(7.8, 6.9, 10.0, 25.0, -0.25, 0.0, 20.0)
	f.Fuzz(func(t *testing.T, flatR, steepR, axis, sph, cyl, rxAxis, vertex float64) {
		eye := lenstest.Biconic{Flat: cornea.Conic{R0MM: flatR, P: 0.75}, Steep: cornea.Conic{R0MM: steepR, P: 0.75}, FlatAxisDeg: axis}
		in := lens.Clinical{RefractionD: sph, CylinderD: cyl, AxisDeg: rxAxis, VertexMM: vertex, HVIDMM: 11.8}
		d, err := lens.DesignRGP(eye, in, lens.DefaultRGPNomogram())
		if err != nil {
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("design does not encode: %v", err)
		}
		for _, c := range d.Clearance {
			if c.MinClearanceUM < -1e-6 || math.IsNaN(c.ApexClearanceUM) {
				t.Fatalf("clearance %v at %v", c.MinClearanceUM, c.MinAtMM)
			}
		}
		if d.Toric != d.BackSurface.Toric() || d.Toric != (len(d.Meridians) == 2) || d.Toric != (d.RGP.Bitoric != nil) {
			t.Fatalf("toric %v, %d profiles, %d meridians", d.Toric, len(d.BackSurface.Profiles), len(d.Meridians))
		}
		optics := []lens.MeridianOptics{{BOZRMM: d.BOZRMM, PowerD: d.PowerD, FrontRadiusMM: d.FrontRadiusMM}}
		if d.Toric {
			optics = d.Meridians
		}
		for _, m := range optics {
			if got := lens.BackVertexPowerD(m.FrontRadiusMM, m.BOZRMM, d.CentreThicknessMM, d.MaterialIndex); !near(got, m.PowerD, 1e-6) {
				t.Fatalf("front radius %v on %v gives %v D, want %v", m.FrontRadiusMM, m.BOZRMM, got, m.PowerD)
			}
		}
		if r := d.RGP.ResidualAstigmatism; math.IsNaN(r.CylinderD) || r.CylinderD > 0 || !(r.AxisDeg >= 0 && r.AxisDeg <= 180) {
			t.Fatalf("residual astigmatism %+v", r)
		}
	})
}
