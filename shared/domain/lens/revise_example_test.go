package lens_test

import (
	"fmt"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/lens/lenstest"
)

// A scleral lens settled with too much clearance: the lab lowers its sag at
// the 15 mm landing chord by 0.100 mm and the whole design follows.
func ExampleRevise() {
	eye, in := lenstest.Reference(), lens.Clinical{RefractionD: -3, HVIDMM: 11.8}
	d, err := lens.DesignScleral(eye, in, lens.DefaultScleralNomogram())
	if err != nil {
		panic(err)
	}
	r, err := lens.Revise(d, eye, in, lens.Overrides{LensSagMM: d.Scleral.LensSagMM - 0.100})
	if err != nil {
		panic(err)
	}
	fmt.Printf("sag at 15 mm: %.3f -> %.3f mm\n", d.Scleral.LensSagMM, r.Scleral.LensSagMM)
	fmt.Printf("central clearance: %.0f -> %.0f microns\n", d.Clearance[0].ApexClearanceUM, r.Clearance[0].ApexClearanceUM)
	for _, o := range r.Revision.Overrides {
		fmt.Printf("revision %d: %s %.3f -> %.3f\n", r.Revision.Number, o.Field, o.From, o.To)
	}
	// Output:
	// sag at 15 mm: 3.976 -> 3.876 mm
	// central clearance: 300 -> 200 microns
	// revision 1: lens_sag_mm 3.976 -> 3.876
}
