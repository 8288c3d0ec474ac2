package cornea_test

import (
	"fmt"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

func ExampleFitConic() {
	// A scan of the handbook's reference cornea (R0 7.80 mm, e 0.5) with
	// 2 microns of measurement noise; in production it comes from topo.Parse.
	scan := topotest.Reference()
	scan.NoiseUM = 2
	s := scan.Surface()

	c, err := cornea.FitConic(s, cornea.ConicOptions{}) // 8 mm zone
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("R0 %.2f mm, e %.2f, Q %.2f over %g mm (%.0f%% covered)\n", c.R0MM, c.E(), c.Q(), c.ZoneDiameterMM, 100*c.Coverage)
	sag, _ := c.Sag(10)
	fmt.Printf("sag at 10 mm %.2f mm (extrapolated: %v)\n", sag, c.Extrapolates(10))
	k := c.FlatK(cornea.StandardKeratometricIndex)
	fmt.Printf("flat K %.2f mm = %.1f D\n", k.RadiusMM, k.Dioptres)
	// Output:
	// R0 7.80 mm, e 0.50, Q -0.25 over 8 mm (100% covered)
	// sag at 10 mm 1.75 mm (extrapolated: true)
	// flat K 7.80 mm = 43.3 D
}

func ExampleConic_Sag() {
	reference := cornea.Conic{R0MM: 7.80, P: cornea.PFromE(0.5)}
	for _, chord := range []float64{6, 8, 10, 12} {
		sag, _ := reference.Sag(chord)
		fmt.Printf("%g mm: %.4f mm\n", chord, sag)
	}
	// Output:
	// 6 mm: 0.5939 mm
	// 8 mm: 1.0819 mm
	// 10 mm: 1.7498 mm
	// 12 mm: 2.6437 mm
}
