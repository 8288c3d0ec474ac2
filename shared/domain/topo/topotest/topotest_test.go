package topotest_test

import (
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

// TestTiltIsARigidRotation: a point of a tilted cornea, taken back to the
// cornea's own frame by the inverse rotation, lies on the untilted cornea.
func TestTiltIsARigidRotation(t *testing.T) {
	tilted := topotest.Cornea{R0MM: 7.7, R0YMM: 7.5, P: 0.8, AxisDeg: 20, TiltXDeg: 2, TiltYDeg: -1.5,
		ApexXMM: 0.4, ApexYMM: -0.6, ConeUM: 40, ConeYMM: -1}
	flat := tilted
	flat.TiltXDeg, flat.TiltYDeg, flat.ApexXMM, flat.ApexYMM = 0, 0, 0, 0
	r := tilted.Rotation()
	for _, p := range [][2]float64{{0, 0}, {3, 1}, {-4, -2}, {0.5, 4.5}, {-5, 3}} {
		z, ok := tilted.Height(p[0], p[1])
		if !ok {
			t.Fatalf("no height at %v", p)
		}
		dx, dy, dz := p[0]-0.4, p[1]+0.6, z
		u := r[0]*dx + r[3]*dy + r[6]*dz
		v := r[1]*dx + r[4]*dy + r[7]*dz
		w := r[2]*dx + r[5]*dy + r[8]*dz
		want, ok := flat.Height(u, v)
		if !ok || math.Abs(w-want) > 1e-10 {
			t.Errorf("at %v: own-frame depth %.12f, the cornea has %.12f", p, w, want)
		}
	}
	// The tilt leans the axis the way the fields say: the surface normal at
	// the apex points along (sin 2 deg, ...) towards +x.
	if r[2] <= 0 || r[5] >= 0 {
		t.Errorf("rotation %v does not lean +x for TiltXDeg > 0 and -y for TiltYDeg < 0", r)
	}
}

func TestMeasuredHonoursLidsAndGaps(t *testing.T) {
	c := topotest.Cornea{Lid: true, LidYMM: 3, LowerLid: true, LowerLidYMM: -3.2,
		Gaps: []topotest.Gap{{FromDeg: 350, ToDeg: 10, BeyondMM: 2}}}
	for _, tc := range []struct {
		x, y float64
		want bool
	}{
		{0, 2.9, true}, {0, 3.1, false}, {0, -3.1, true}, {0, -3.3, false},
		{3, 0, false}, {1.5, 0, true}, {-3, 0, true}, {6.9, 0.5, false}, {0, 7.5, false},
	} {
		if got := c.Measured(tc.x, tc.y); got != tc.want {
			t.Errorf("Measured(%g, %g) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}
