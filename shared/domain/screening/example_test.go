package screening_test

import (
	"fmt"
	"strings"

	"github.com/lensflow/lensflow/shared/domain/screening"
	"github.com/lensflow/lensflow/shared/domain/screening/screeningtest"
)

func ExampleScreen() {
	// The handbook's reference cornea with a 60 micron cone below and a
	// little temporal of the centre. In production the map is the fitted
	// cornea of a scan, and the other inputs come from its model.
	in := screeningtest.InferiorCone(60).Inputs()
	r, err := screening.Screen(in, screening.DefaultTable())
	if err != nil {
		fmt.Println(err)
		return
	}
	x := r.Indices
	fmt.Printf("%s by %s\n", r.Pattern, r.Table)
	fmt.Printf("central K %.2f D, I-S %.2f D, SRAX %.0f degrees, KISA%% %.0f\n", *x.CentralKD, *x.ISD, *x.SRAXDeg, *x.KISAPercent)
	fmt.Printf("steepest %.1f D at %.0f degrees, %.1f mm from the apex\n", x.Steepest.PowerD, x.Steepest.SemiMeridianDeg, x.Steepest.RadiusMM)
	for _, s := range r.Reasons {
		fmt.Println(s)
	}
	// Output:
	// keratoconus by lensflow-screening@2026.1
	// central K 45.33 D, I-S 5.36 D, SRAX 123 degrees, KISA% 0
	// steepest 53.2 D at 230 degrees, 1.5 mm from the apex
	// I-S 5.36 D is above the keratoconus threshold 1.8 D
	// SRAX 123 degrees is above the suspect threshold 21 degrees (steepest radial axes at 175 and 232 degrees)
}

func ExampleParseTable() {
	// A clinic's table: stricter I-S, everything else as published.
	t, err := screening.ParseTable(strings.NewReader(`{"name": "clinic-a", "version": "2", "iS_D": {"suspect": 1.2, "keratoconus": 1.6}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t, t.ISD, t.CentralKD)
	_, err = screening.ParseTable(strings.NewReader(`{"name": "clinic-a", "version": "2", "iS_D": {"keratoconus": 9}}`))
	fmt.Println(err)
	// Output:
	// clinic-a@2 {1.2 1.6} {47.2 48.7}
	// screening.ParseTable: iS_D.keratoconus: 9 is out of range (0.5 to 5)
}
