package cornea_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

// Real maps are centred on the instrument axis: the apex sits up to
// 0.8 mm away and the cornea is tilted by a degree or two. The model finds
// both, and reads the cornea's shape undistorted by them (issue 14: R0
// within 0.01 mm, p within 0.02, apex within 0.05 mm).
func TestFitFindsApexAndTilt(t *testing.T) {
	type tc struct {
		name string
		c    topotest.Cornea
	}
	var tests []tc
	for _, pose := range []struct{ x, y, tx, ty float64 }{
		{0.8, 0, 0, 0}, {0, 0, 2, 0}, {0.5, -0.6, -1.2, 1.5}, {-0.3, -0.7, 2, -0.5}, {-0.56, 0.56, 0, -2},
	} {
		for _, noise := range []float64{0, 1, 2} {
			c := topotest.Reference()
			c.ApexXMM, c.ApexYMM, c.TiltXDeg, c.TiltYDeg, c.NoiseUM, c.Seed = pose.x, pose.y, pose.tx, pose.ty, noise, uint64(10*noise+1)
			tests = append(tests, tc{fmt.Sprintf("apex %g,%g tilt %g,%g noise %g", pose.x, pose.y, pose.tx, pose.ty, noise), c})
		}
		toric := topotest.Cornea{R0MM: 7.9, R0YMM: 7.55, P: 0.7, AxisDeg: 20, RadiusMM: 6.5, NoiseUM: 1.5, Eye: topo.OS,
			ApexXMM: pose.x, ApexYMM: pose.y, TiltXDeg: pose.tx, TiltYDeg: pose.ty}
		tests = append(tests, tc{fmt.Sprintf("toric apex %g,%g tilt %g,%g", pose.x, pose.y, pose.tx, pose.ty), toric})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			m, err := cornea.Fit(c.Surface(), cornea.ModelOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r0x, r0y := c.R0MM, c.R0YMM
			if r0y == 0 {
				r0y = r0x
			}
			b := m.Biconic
			if math.Abs(b.FlatR0MM-max(r0x, r0y)) > 0.01 || math.Abs(b.SteepR0MM-min(r0x, r0y)) > 0.01 {
				t.Errorf("R0 %.4f / %.4f, want %g / %g", b.FlatR0MM, b.SteepR0MM, max(r0x, r0y), min(r0x, r0y))
			}
			if math.Abs(b.FlatP-c.P) > 0.02 || math.Abs(b.SteepP-c.P) > 0.02 {
				t.Errorf("p %.4f / %.4f, want %g", b.FlatP, b.SteepP, c.P)
			}
			if r0y == r0x && (math.Abs(m.Mean.R0MM-r0x) > 0.01 || math.Abs(m.Mean.P-c.P) > 0.02) {
				t.Errorf("mean conic R0 %.4f p %.4f", m.Mean.R0MM, m.Mean.P)
			}
			if d := math.Hypot(m.Pose.XMM-c.ApexXMM, m.Pose.YMM-c.ApexYMM); d > 0.05 {
				t.Errorf("apex at %.3f, %.3f, want %g, %g (%.3f mm off)", m.Pose.XMM, m.Pose.YMM, c.ApexXMM, c.ApexYMM, d)
			}
			if math.Abs(m.Pose.TiltXDeg-c.TiltXDeg) > 0.3 || math.Abs(m.Pose.TiltYDeg-c.TiltYDeg) > 0.3 {
				t.Errorf("tilt %.2f, %.2f, want %g, %g", m.Pose.TiltXDeg, m.Pose.TiltYDeg, c.TiltXDeg, c.TiltYDeg)
			}
			if m.ResidualRMSUM > c.NoiseUM*1.05+0.1 {
				t.Errorf("residual %.2f microns with %g of noise: the pose is not the cornea's", m.ResidualRMSUM, c.NoiseUM)
			}
			t.Logf("apex %.3f, %.3f tilt %.2f, %.2f (%.2f deg towards %.0f); R0 %.4f p %.4f; residual %.2f",
				m.Pose.XMM, m.Pose.YMM, m.Pose.TiltXDeg, m.Pose.TiltYDeg, m.Pose.TiltDeg(), m.Pose.TiltAxisDeg(), m.Mean.R0MM, m.Mean.P, m.ResidualRMSUM)
		})
	}
}
