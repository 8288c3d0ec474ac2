package aftercare_test

import (
	"fmt"
	"time"

	"github.com/lensflow/lensflow/shared/domain/aftercare"
	"github.com/lensflow/lensflow/shared/httpkit"
)

func ExampleDue() {
	dispatched := time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC)
	// The daily run the morning after dispatch: the delivery reminder is
	// still in its window, and day 1 has arrived. The caller sends one
	// reminder per (order id, key) it has not sent before.
	visits, err := aftercare.Due("orthok", dispatched, time.Date(2026, 3, 11, 6, 0, 0, 0, time.UTC))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range visits {
		fmt.Printf("%s (%s) due %s\n", v.Key, v.Label, v.Due.Format(time.DateOnly))
	}
	// Output:
	// delivery (Delivery) due 2026-03-10
	// day-1 (Day 1 (morning after the first night)) due 2026-03-11
}

func ExampleSchedule_Plan() {
	s, _ := aftercare.DefaultSchedule("scleral")
	for _, v := range s.Plan(time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC))[:8] {
		fmt.Println(v.Key, v.Due.Format(time.DateOnly))
	}
	// Output:
	// delivery 2026-01-31
	// week-2 2026-02-14
	// month-1 2026-02-28
	// month-3 2026-04-30
	// month-6 2026-07-31
	// month-12 2027-01-31
	// year-2 2028-01-31
	// year-3 2029-01-31
}

func ExampleAssessment_Validate() {
	body := []byte(`{"visitKey":"month-1","visualAcuity":"6/6","centralClearanceUM":250,
		"centralTearFilmUM":12,"comfort":8,"outcome":"adjust"}`)
	var a aftercare.Assessment
	if err := httpkit.UnmarshalStrict(body, &a); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Validate("scleral"))
	// Output:
	// aftercare.Assessment.Validate: centralTearFilmUM: applies to orthok lenses only
}

func ExampleAdjust() {
	current := aftercare.DesignParams{
		BOZRMM: 8.54, BOZDMM: 6, TDMM: 10.6, PowerD: 0.75, LandingChordMM: 8, ReturnZoneDepthMM: 0.5476,
		TargetClearanceUM: 10, Landings: []aftercare.LandingAngle{{MeridianDeg: 180, AngleDeg: 29.79}, {MeridianDeg: 90, AngleDeg: 29.79}},
	}
	residual := -0.50
	a := aftercare.Assessment{VisitKey: "week-2", VisualAcuity: "6/9", ResidualRefractionD: &residual,
		Centration: &aftercare.Centration{Status: aftercare.Decentred, Direction: "temporal", MM: 0.8},
		Comfort:    8, Outcome: aftercare.OutcomeAdjust}
	adj, err := aftercare.Adjust("orthok", current, a, aftercare.DefaultRules())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(adj.Rules, adj.RulesVersion)
	for _, c := range adj.Changes {
		fmt.Printf("%s: %g -> %g\n", c.Parameter, c.From, c.To)
	}
	fmt.Println(adj.Changes[0].Reason)
	// Output:
	// lensflow-adjust 2026.1
	// bozrMM: 8.54 -> 8.64
	// returnZoneDepthMM: 0.5476 -> 0.5546
	// landingAngleDeg: 29.79 -> 30.79
	// toric: 0 -> 1
	// under-correction: residual refraction -0.50 D; BOZR flattened by 0.10 mm (0.050 mm per 0.25 D)
}
