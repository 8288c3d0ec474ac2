package lathe_test

import (
	"math"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/errs"
)

func TestVerify(t *testing.T) {
	rg, breaks := reverseGeometry()
	pts, err := lathe.SampleWithBreaks(rg, 5.2, 0.1, breaks)
	if err != nil {
		t.Fatal(err)
	}
	s := lathe.Surface{
		Side: lathe.Back, Meridians: []lathe.Meridian{{Points: pts}},
		BaseCurveHMM: 8.54, BaseCurveVMM: 8.54, OpticZoneMM: 6, DiameterMM: 10.4, Parts: 1,
	}
	design := func(_, r float64) float64 { return rg(r) }
	// Move the reverse curve junction by 1 micron: a different design.
	moved := func(_, r float64) float64 { return rg(r) + 0.001*max(0, min(r-3, 0.8))/0.8 }
	coarse := s
	coarse.Meridians = []lathe.Meridian{{Points: everyNth(pts, 60)}}
	front := s
	front.Side, front.CenterThicknessMM = lathe.Front, 0.22
	for _, tc := range []struct {
		name  string
		s     lathe.Surface
		sag   lathe.SagFunc
		tol   float64
		field string // "" for success
		msg   string
	}{
		{"design", s, design, 0.1, "", ""},
		{"default tolerance", s, design, 0, "", ""},
		{"front surface compares without CT", front, design, 0.1, "", ""},
		{"another design", s, moved, 0.1, "meridians[0]", "off the design"},
		{"too coarse", coarse, design, 0.1, "meridians[0]", "off the design"},
		{"NaN design", s, func(_, r float64) float64 { return math.NaN() }, 0.1, "meridians[0]", "not finite"},
		{"design undefined near the centre only", s, func(_, r float64) float64 {
			if r < 0.1 {
				return math.NaN()
			}
			return rg(r)
		}, 0.1, "meridians[0]", "not finite"},
		{"bad tolerance", s, design, -1, "tol", "tolerance"},
		{"invalid surface", lathe.Surface{}, design, 0.1, "side", "Back or Front"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := lathe.Verify(tc.s, tc.sag, tc.tol)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want invalid %s mentioning %q", err, tc.field, tc.msg)
			}
		})
	}
}

// everyNth keeps every nth point and the centre.
func everyNth(pts []lathe.Point, n int) []lathe.Point {
	var out []lathe.Point
	for i := 0; i < len(pts)-1; i += n {
		out = append(out, pts[i])
	}
	return append(out, pts[len(pts)-1])
}
