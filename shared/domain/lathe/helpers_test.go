package lathe_test

import (
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lathe"
)

// sphere is the sag of a sphere of radius rMM.
func sphere(radiusMM float64) lathe.Profile {
	return conic(radiusMM, 1)
}

// conic is the sag of a conic with apical radius r0 and shape factor p.
func conic(r0, p float64) lathe.Profile {
	return func(r float64) float64 { return r * r / (r0 + math.Sqrt(r0*r0-p*r*r)) }
}

// reverseGeometry is an ortho-k-like back surface: a spherical optic zone
// (BOZR 8.54 mm to r = 3), a steeper reverse curve (radius 6.2 mm, joined
// without a common tangent, so the slope jumps) to r = 3.8, then a straight
// landing line at 34 degrees from r = 3.8 to the edge (another slope
// change). It is continuous with kinks at the junctions returned.
func reverseGeometry() (lathe.Profile, []float64) {
	const (
		bozr, oz  = 8.54, 3.0
		rc, rcEnd = 6.2, 3.8
	)
	oc := sphere(bozr)
	z1 := oc(oz)
	// The reverse curve is a circle of radius rc, centred on the axis side,
	// passing through (oz, z1): z = z1 + s(r) - s(oz) with s the sphere sag
	// of rc; steeper than the optic zone at the junction.
	rev := sphere(rc)
	z2 := z1 + rev(rcEnd) - rev(oz)
	slope := math.Tan(34 * math.Pi / 180)
	p := func(r float64) float64 {
		switch {
		case r <= oz:
			return oc(r)
		case r <= rcEnd:
			return z1 + rev(r) - rev(oz)
		default:
			return z2 + slope*(r-rcEnd)
		}
	}
	return p, []float64{oz, rcEnd}
}

// maxDeviationUM checks the linear interpolation of pts against p on a
// grid of step stepMM and at extra radii, and returns the worst difference
// in microns and where it is.
func maxDeviationUM(t *testing.T, pts []lathe.Point, p lathe.Profile, stepMM float64, extra ...float64) (worstUM, atMM float64) {
	t.Helper()
	m := lathe.Meridian{Points: pts}
	rMax := pts[0].XMM
	n := int(math.Ceil(rMax / stepMM))
	check := func(r float64) {
		z, ok := m.SagMM(r)
		if !ok {
			t.Fatalf("no sag at r = %g", r)
		}
		if d := math.Abs(z-p(r)) * 1000; d > worstUM {
			worstUM, atMM = d, r
		}
	}
	for i := 0; i <= n; i++ {
		check(math.Min(rMax, float64(i)*stepMM))
	}
	for _, r := range extra {
		for _, d := range []float64{-1e-7, -1e-9, 0, 1e-9, 1e-7} {
			if r+d >= 0 && r+d <= rMax {
				check(r + d)
			}
		}
	}
	return worstUM, atMM
}

// symmetricBack is a small valid back surface of a sphere 7.8 sampled at
// five points.
func symmetricBack() lathe.Surface {
	p := sphere(7.8)
	var pts []lathe.Point
	for _, x := range []float64{2, 1.5, 1, 0.5, 0} {
		pts = append(pts, lathe.Point{XMM: x, ZMM: p(x)})
	}
	return lathe.Surface{
		Side:         lathe.Back,
		Meridians:    []lathe.Meridian{{AngleDeg: 0, Points: pts}},
		BaseCurveHMM: 7.8, BaseCurveVMM: 7.8,
		OpticZoneMM: 3.5, DiameterMM: 4,
		Parts: 1, SagMM: p(2),
	}
}

// toricSag is the sag of a toric conic surface with radii flat (along
// axisDeg) and steep (90 degrees away), both with asphericity q.
func toricSag(flat, steep, q, axisDeg float64) lathe.SagFunc {
	return func(deg, r float64) float64 {
		th := (deg - axisDeg) * math.Pi / 180
		c := math.Cos(th)*math.Cos(th)/flat + math.Sin(th)*math.Sin(th)/steep
		return c * r * r / (1 + math.Sqrt(1-(1+q)*c*c*r*r))
	}
}
