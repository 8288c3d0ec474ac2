package lens_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/cornea"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/lens"
	"github.com/lensflow/lensflow/shared/lens/lenstest"
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
