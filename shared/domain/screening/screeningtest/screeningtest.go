// Package screeningtest provides analytic corneas for testing screening
// and anything else that reads a corneal power map: a biconic (a conic per
// principal meridian) with an optional decentred Gaussian cone, whose
// axial power is computed exactly from the height's derivatives. It is
// real, deterministic code: Cornea implements screening.Map, and
// FitInputs fits the lab's corneal model (cornea.Fit) to the sampled
// heights to give the rest of screening.Inputs as a scan would.
package screeningtest

import (
	"math"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/screening"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

// KeratometricIndex converts curvature to dioptres: D = 337.5 / r (mm).
const KeratometricIndex = cornea.StandardKeratometricIndex

// Bump is a local change of shape: the depth is reduced by
// HeightUM * exp(-d^2 / (2 SigmaMM^2)) microns, d the distance (mm) from
// (XMM, YMM) in the examiner's view (+x to the examiner's right, +y
// superior). A positive height is an anterior bulge (a cone), a negative
// one a depression (a scar, a decentred ablation).
type Bump struct {
	HeightUM float64
	XMM, YMM float64
	SigmaMM  float64
}

// Cornea is an analytic cornea: the biconic
//
//	z = (cf u^2 + cs v^2) / (1 + sqrt(1 - pf cf^2 u^2 - ps cs^2 v^2))
//
// (mm, depth below the apex tangent plane, positive into the eye; u along
// the flat meridian, v along the steep one, cf = 1/FlatR0MM, cs =
// 1/SteepR0MM) less the Bumps, less the plane tangent to the bumps at
// x = y = 0 (so that z is 0 there). Taking that plane away keeps the centre the apex, with its
// tangent plane z = 0 and its normal along the axis, as a topographer
// aligned on the corneal vertex measures: without it a cone would tilt
// the whole map, and the axial power (measured from the axis through the
// centre) would steepen the side opposite the cone. The centre is the
// origin of AxialPowerD's semi-meridians.
type Cornea struct {
	FlatR0MM, SteepR0MM float64 // apical radii, mm
	FlatP, SteepP       float64 // shape factors p = 1 - e^2
	FlatAxisDeg         float64 // TABO, 0-180
	Bumps               []Bump
	// SuperiorLidMM, when more than 0, hides every point whose y exceeds
	// it, as an upper lid does: AxialPowerD returns an errs.NotFound error
	// there and Surface leaves those points out.
	SuperiorLidMM float64
}

// Reference is the handbook's reference cornea: R0 7.80 mm, p 0.75 (e
// 0.5) in every meridian.
func Reference() Cornea {
	return Cornea{FlatR0MM: 7.80, SteepR0MM: 7.80, FlatP: 0.75, SteepP: 0.75, FlatAxisDeg: 180}
}

// Toric is the handbook's with-the-rule toric cornea: 7.80 mm along 180
// and 7.60 mm along 90, both p 0.75.
func Toric() Cornea {
	return Cornea{FlatR0MM: 7.80, SteepR0MM: 7.60, FlatP: 0.75, SteepP: 0.75, FlatAxisDeg: 180}
}

// Oblate is a cornea after myopic LASIK: R0 8.6 mm, p 1.5 (Q +0.5).
func Oblate() Cornea {
	return Cornea{FlatR0MM: 8.6, SteepR0MM: 8.6, FlatP: 1.5, SteepP: 1.5, FlatAxisDeg: 180}
}

// InferiorCone is the reference cornea with a cone of heightUM microns
// centred at (-0.4, -1.2) mm, 1.26 mm from the centre, inferior and a
// little temporal on a right eye, with sigma 1.0 mm: where keratoconus
// usually steepens.
func InferiorCone(heightUM float64) Cornea {
	c := Reference()
	c.Bumps = []Bump{{HeightUM: heightUM, XMM: -0.4, YMM: -1.2, SigmaMM: 1.0}}
	return c
}

// Scarred is the reference cornea with a peripheral depression, as a scar
// or a decentred ablation leaves: 150 microns deep at (3.2, 2.8) mm,
// superior and nasal on a right eye, 4.25 mm from the centre, sigma 0.7
// mm. A biconic fits it with a residual above 10 microns while the
// central indices stay regular.
func Scarred() Cornea {
	c := Reference()
	c.Bumps = []Bump{{HeightUM: -150, XMM: 3.2, YMM: 2.8, SigmaMM: 0.7}}
	return c
}

// HeightMM returns the depth (mm) at (x, y), NaN beyond the biconic's
// edge.
func (c Cornea) HeightMM(x, y float64) float64 {
	z, _, _ := c.height(x, y)
	return z
}

// height returns the depth and its gradient at (x, y).
func (c Cornea) height(x, y float64) (z, zx, zy float64) {
	a := c.FlatAxisDeg * math.Pi / 180
	cs, sn := math.Cos(a), math.Sin(a)
	u, v := x*cs+y*sn, -x*sn+y*cs
	cf, cst := 1/c.FlatR0MM, 1/c.SteepR0MM
	q := 1 - c.FlatP*cf*cf*u*u - c.SteepP*cst*cst*v*v
	if !(q > 0) {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := math.Sqrt(q)
	num := cf*u*u + cst*v*v
	d := 1 + s
	z = num / d
	// dz/du = (2 cf u d - num ds/du) / d^2, ds/du = -pf cf^2 u / s.
	zu := (2*cf*u*d + num*c.FlatP*cf*cf*u/s) / (d * d)
	zv := (2*cst*v*d + num*c.SteepP*cst*cst*v/s) / (d * d)
	zx, zy = zu*cs-zv*sn, zu*sn+zv*cs
	for _, k := range c.Bumps {
		if k.HeightUM == 0 || !(k.SigmaMM > 0) {
			continue
		}
		dx, dy := x-k.XMM, y-k.YMM
		s2 := k.SigmaMM * k.SigmaMM
		g := k.HeightUM / 1000 * math.Exp(-(dx*dx+dy*dy)/(2*s2))
		z -= g
		zx += g * dx / s2
		zy += g * dy / s2
		// The bump's height and slope at the centre, which the tangent
		// plane there takes away.
		g0 := k.HeightUM / 1000 * math.Exp(-(k.XMM*k.XMM+k.YMM*k.YMM)/(2*s2))
		tx, ty := -g0*k.XMM/s2, -g0*k.YMM/s2
		z += g0 - tx*x - ty*y
		zx -= tx
		zy -= ty
	}
	return z, zx, zy
}

// AxialPowerD implements screening.Map: index * s / (h * sqrt(1 + s^2))
// at the point h = radiusMM from the apex along semiMeridianDeg, s = dz/dh
// the radial slope there; that is index / r_axial with r_axial = h *
// sqrt(1 + s^2) / s, the distance along the normal to the axis. A radius
// that is not positive, or beyond the biconic's edge, is an errs.Invalid
// error; a point above the lid an errs.NotFound error.
func (c Cornea) AxialPowerD(semiMeridianDeg, radiusMM float64) (float64, error) {
	const op = "screeningtest.Cornea.AxialPowerD"
	if !(radiusMM > 0) || math.IsInf(radiusMM, 0) || math.IsNaN(semiMeridianDeg) || math.IsInf(semiMeridianDeg, 0) {
		return 0, errs.Ef(op, errs.Invalid, "the point (%g degrees, %g mm) must have a finite angle and a radius above 0", semiMeridianDeg, radiusMM)
	}
	th := semiMeridianDeg * math.Pi / 180
	ct, st := math.Cos(th), math.Sin(th)
	x, y := radiusMM*ct, radiusMM*st
	if c.SuperiorLidMM > 0 && y > c.SuperiorLidMM {
		return 0, errs.Ef(op, errs.NotFound, "no data above the lid (%g mm)", c.SuperiorLidMM)
	}
	_, zx, zy := c.height(x, y)
	if math.IsNaN(zx) {
		return 0, errs.Ef(op, errs.Invalid, "the point (%g degrees, %g mm) is beyond the cornea's edge", semiMeridianDeg, radiusMM)
	}
	s := zx*ct + zy*st
	return KeratometricIndex * s / (radiusMM * math.Sqrt(1+s*s)), nil
}

// Inputs returns screening inputs from the analytic surface alone: the Map
// is c, Sim-K the apical powers of the biconic's principal meridians, the
// apical K their mean, Q the mean of the two meridians' p less 1; no
// Zernike expansion and no residual (the biconic fits itself exactly).
// The bumps are seen by the map only; FitInputs sees them everywhere.
func (c Cornea) Inputs() screening.Inputs {
	flat, steep := KeratometricIndex/c.FlatR0MM, KeratometricIndex/c.SteepR0MM
	return screening.Inputs{
		Map:      c,
		SimK:     screening.SimK{FlatD: flat, SteepD: steep, FlatAxisDeg: math.Mod(c.FlatAxisDeg, 180)},
		ApicalKD: (flat + steep) / 2,
		Q:        (c.FlatP+c.SteepP)/2 - 1,
	}
}

// Surface samples the heights as a polar scan does: rings every 0.2 mm
// out to 5.2 mm, 128 semi-meridians each, the centre once; points above
// the lid are left out.
func (c Cornea) Surface() *topo.Surface {
	s := &topo.Surface{Eye: topo.OD, Format: "screeningtest"}
	add := func(x, y float64) {
		if c.SuperiorLidMM > 0 && y > c.SuperiorLidMM {
			return
		}
		if z := c.HeightMM(x, y); !math.IsNaN(z) {
			s.X, s.Y, s.Z = append(s.X, x), append(s.Y, y), append(s.Z, z)
		}
	}
	add(0, 0)
	for ring := 1; ring <= 26; ring++ {
		r := 0.2 * float64(ring)
		for k := range 128 {
			th := 2 * math.Pi * float64(k) / 128
			add(r*math.Cos(th), r*math.Sin(th))
		}
	}
	return s
}

// FitInputs fits the lab's corneal model to c's sampled heights (Surface)
// and maps it to screening inputs as the engine does (screening.FromModel),
// except that the Map stays the analytic c. The model is returned too.
func (c Cornea) FitInputs(opts cornea.ModelOptions) (screening.Inputs, *cornea.Model, error) {
	m, err := cornea.Fit(c.Surface(), opts)
	if err != nil {
		return screening.Inputs{}, nil, err
	}
	in := screening.FromModel(m)
	in.Map = c
	return in, m, nil
}
