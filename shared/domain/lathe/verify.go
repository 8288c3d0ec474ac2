package lathe

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

const opVerify = "lathe.Verify"

// verifySteps is how many parts each segment is cut into for Verify: the
// points themselves and seven places between each pair are checked.
const verifySteps = 8

// Verify checks that the surface reproduces the design: along every
// meridian, the linear interpolation between its points (what the lathe
// cuts) must be within tolUM microns (0 for DefaultTolUM) of sag at that
// meridian's angle, at every point and at seven places between each pair
// of points. sag is the design's sag from its own vertex (z = 0 at the
// centre); on a front surface the centre thickness is not part of it.
//
// The error (errs.Invalid) names the meridian, the radius and the size of
// the worst deviation.
func Verify(s Surface, sag SagFunc, tolUM float64) error {
	if tolUM == 0 {
		tolUM = DefaultTolUM
	}
	if !(tolUM > 0) || math.IsInf(tolUM, 0) {
		return errs.Field(opVerify, "tol", "%g µm is not a tolerance", tolUM)
	}
	if err := s.Validate(); err != nil {
		return errs.E(opVerify, errs.Invalid, err)
	}
	tolMM := tolUM / 1000
	for i, m := range s.Meridians {
		worst, worstR, bad := 0.0, 0.0, math.NaN()
		check := func(r, z float64) {
			want := sag(m.AngleDeg, r)
			if math.IsNaN(want) || math.IsInf(want, 0) {
				if math.IsNaN(bad) {
					bad = r
				}
				return
			}
			if d := math.Abs(want - z); d > worst {
				worst, worstR = d, r
			}
		}
		p := m.Points
		for j := range p {
			check(p[j].XMM, p[j].ZMM)
			if j == 0 {
				continue
			}
			a, b := p[j-1], p[j] // outer, inner
			for k := 1; k < verifySteps; k++ {
				r := b.XMM + (a.XMM-b.XMM)*float64(k)/verifySteps
				check(r, lerp(a, b, r))
			}
		}
		if !math.IsNaN(bad) {
			return errs.Field(opVerify, "meridians["+itoa(i)+"]", "at %g deg the design's sag is not finite at r = %.6f mm", m.AngleDeg, bad)
		}
		if worst > tolMM {
			return errs.Field(opVerify, "meridians["+itoa(i)+"]", "at %g deg the profile is off the design by %.4g µm at r = %.6f mm (tolerance %g µm)", m.AngleDeg, worst*1000, worstR, tolUM)
		}
	}
	return nil
}
