package cornea

import (
	"fmt"
	"math"
)

// Biconic is a toric (biconic) corneal surface: a conic of its own apical
// radius and shape factor along each of two perpendicular principal
// meridians,
//
//	z = (cx x'^2 + cy y'^2) / (1 + sqrt(1 - px cx^2 x'^2 - py cy^2 y'^2))
//
// with x' along the flat meridian and y' along the steep one (cx = 1 /
// FlatR0MM, cy = 1 / SteepR0MM), measured from the apex. With equal radii
// and shape factors it is the rotationally symmetric Conic. Along any
// meridian its section is exactly a conic (see Meridian).
//
// Axes are TABO degrees in the examiner's view for both eyes:
// counterclockwise from the examiner's right, 0 <= axis < 180.
type Biconic struct {
	FlatR0MM, SteepR0MM float64 // apical radii along the flat and steep meridians, mm (FlatR0MM >= SteepR0MM)
	FlatP, SteepP       float64 // shape factors p = 1 - e^2 along them
	FlatAxisDeg         float64 // TABO axis of the flat meridian, [0, 180)

	// The fit's apex in the surface frame: the lateral decentration (zero
	// unless fitted) and the depth offset of the apex below z = 0; and the
	// tilt of its axis (zero unless fitted). See Pose.
	ApexXMM, ApexYMM, ApexZMM float64
	TiltXDeg, TiltYDeg        float64

	ZoneDiameterMM float64 // diameter of the zone fitted, centred on x = y = 0
	Points         int     // number of points used
	Coverage       float64 // fraction (0..1) of the zone's area that holds data
	ResidualRMSUM  float64 // root mean square of the height residuals, microns
	Iterations     int     // Levenberg-Marquardt iterations taken
}

// Pose returns where the fit placed the biconic's apex on the map.
func (b Biconic) Pose() Pose {
	return Pose{XMM: b.ApexXMM, YMM: b.ApexYMM, ZMM: b.ApexZMM, TiltXDeg: b.TiltXDeg, TiltYDeg: b.TiltYDeg}
}

// SteepAxisDeg returns the TABO axis of the steep meridian: the flat axis
// plus 90 degrees, modulo 180.
func (b Biconic) SteepAxisDeg() float64 { return axisMod180(b.FlatAxisDeg + 90) }

// Meridian returns the section of the biconic along a meridian (TABO
// degrees): a conic whose curvature is c = cf cos^2(a) + cs sin^2(a) and
// whose p c^2 is pf cf^2 cos^2(a) + ps cs^2 sin^2(a), a being the angle from
// the flat meridian. Only R0MM and P (and the apex) are set.
func (b Biconic) Meridian(meridianDeg float64) Conic {
	a := (meridianDeg - b.FlatAxisDeg) * math.Pi / 180
	c2, s2 := math.Cos(a), math.Sin(a)
	c2, s2 = c2*c2, s2*s2
	cf, cs := 1/b.FlatR0MM, 1/b.SteepR0MM
	c := cf*c2 + cs*s2
	pc2 := b.FlatP*cf*cf*c2 + b.SteepP*cs*cs*s2
	return Conic{R0MM: 1 / c, P: pc2 / (c * c), ApexXMM: b.ApexXMM, ApexYMM: b.ApexYMM, ApexZMM: b.ApexZMM}
}

// String summarises the biconic.
func (b Biconic) String() string {
	return fmt.Sprintf("biconic flat %.3f mm (p %.3f) @ %.0f, steep %.3f mm (p %.3f) @ %.0f",
		b.FlatR0MM, b.FlatP, b.FlatAxisDeg, b.SteepR0MM, b.SteepP, b.SteepAxisDeg())
}

// axisMod180 maps an angle in degrees to [0, 180).
func axisMod180(deg float64) float64 {
	a := math.Mod(deg, 180)
	if a < 0 {
		a += 180
	}
	if a >= 180 { // -tiny + 180 rounds to 180
		a = 0
	}
	return a
}

// Parameters of the biconic height model, in the cornea's own frame (see
// Pose). The pose parameters are last, so the free ones are always a
// prefix.
const (
	bCX = iota // curvature along x', 1/mm
	bCY        // curvature along y', 1/mm
	bPX        // shape factor along x'
	bPY        // shape factor along y'
	bTh        // rotation of x' from +x, radians
	bZ0        // apex depth, mm
	bX0        // apex x, mm
	bY0        // apex y, mm
	bTA        // tilt alpha, radians
	bTB        // tilt beta, radians
	nBiconicParams
)

type biconicProblem struct {
	x, y, z []float64
	nFree   int // 6 (apex depth only), or nBiconicParams with the pose
}

// normal implements lsqProblem.
func (p *biconicProblem) normal(th []float64, ne *normalEq) (float64, bool) {
	cx, cy, px, py := th[bCX], th[bCY], th[bPX], th[bPY]
	f := frameOf(th[bX0], th[bY0], th[bZ0], th[bTA], th[bTB])
	tilted := th[bTA] != 0 || th[bTB] != 0 || p.nFree > bTA
	cs, sn := math.Cos(th[bTh]), math.Sin(th[bTh])
	qx, qy := px*cx*cx, py*cy*cy
	xs, ys, zs := p.x, p.y[:len(p.x)], p.z[:len(p.x)]
	ssr := tiltPriorPerPoint * float64(len(xs)) * (th[bTA]*th[bTA] + th[bTB]*th[bTB])
	if ne == nil {
		for i := range xs {
			u, v, w, _ := f.own(xs[i], ys[i], zs[i])
			a, b := u*cs+v*sn, v*cs-u*sn
			a2, b2 := a*a, b*b
			disc := 1 - qx*a2 - qy*b2
			if disc <= 0 {
				return 0, false
			}
			res := w - (cx*a2+cy*b2)/(1+math.Sqrt(disc))
			ssr += res * res
		}
		return ssr, true
	}
	ne.reset()
	g := ne.g
	for start := 0; start < len(xs); start += lmBlock {
		m := min(lmBlock, len(xs)-start)
		bx, by, bz := xs[start:start+m], ys[start:start+m], zs[start:start+m]
		g0, g1, g2, g3, g4 := g[bCX][:m], g[bCY][:m], g[bPX][:m], g[bPY][:m], g[bTh][:m]
		gZ, gX, gY, gA, gB := g[bZ0][:m], g[bX0][:m], g[bY0][:m], g[bTA][:m], g[bTB][:m]
		rv := ne.res[:m]
		for i := range bx {
			u, v, w, ez := f.place(bx[i], by[i], bz[i], tilted)
			a, b := u*cs+v*sn, v*cs-u*sn // along the principal meridians
			a2, b2 := a*a, b*b
			disc := 1 - qx*a2 - qy*b2
			if disc <= 0 {
				return 0, false
			}
			sq := math.Sqrt(disc)
			e := 1 / (sq * (1 + sq)) // one division: d = sq e, 1/sq = (1 + sq) e
			d := sq * e
			h := (cx*a2 + cy*b2) * d
			res := w - h
			ssr += res * res
			rv[i] = res
			fQ := 0.5 * h * e                // dh/dQ = h d / (2 sq); dh/dS = d
			ca, cb := d*cx+fQ*qx, d*cy+fQ*qy // dh/d(a^2), dh/d(b^2)
			g0[i] = a2 * (d + 2*fQ*px*cx)
			g1[i] = b2 * (d + 2*fQ*py*cy)
			g2[i] = fQ * cx * cx * a2
			g3[i] = fQ * cy * cy * b2
			g4[i] = 2 * a * b * (ca - cb)
			// The slopes in the cornea's frame.
			fa, fb := 2*ca*a, 2*cb*b
			fu, fv := fa*cs-fb*sn, fa*sn+fb*cs
			gX[i], gY[i], gZ[i], gA[i], gB[i] = f.grads(tilted, u, v, w, ez, fu, fv)
		}
		ne.add(m)
	}
	ne.addPrior(bTA, th, tiltPriorPerPoint*float64(len(xs)))
	ne.addPrior(bTB, th, tiltPriorPerPoint*float64(len(xs)))
	return ssr, true
}

// fit refines th by Levenberg-Marquardt on the height residuals and
// returns the parameters, their sum of squared residuals and the
// iterations taken.
//
// Coarse to fine: on a large scan the refinement first runs on a
// subsample of about coarsePoints points spread over the whole zone
// (every k-th point: scans list their points ring by ring or row by row),
// which takes the parameters to within their uncertainty at a fraction of
// the cost, and then on every point, which takes a step or two from there.
func (p *biconicProblem) fit(th [nBiconicParams]float64) ([nBiconicParams]float64, float64, int, error) {
	free := make([]int, p.nFree)
	for i := range free {
		free[i] = i
	}
	iters := 0
	if k := len(p.x) / coarsePoints; k >= 2 {
		n := len(p.x) / k
		sub := &biconicProblem{x: make([]float64, n), y: make([]float64, n), z: make([]float64, n), nFree: p.nFree}
		for i := range n {
			sub.x[i], sub.y[i], sub.z[i] = p.x[i*k], p.y[i*k], p.z[i*k]
		}
		trial := th
		if _, it, err := levenbergMarquardt(sub, trial[:], free, lmFit(n)); err == nil {
			if _, ok := p.normal(trial[:], nil); ok {
				th = trial
			}
			iters = it
		}
	}
	ssr, it, err := levenbergMarquardt(p, th[:], free, lmFit(len(p.x)))
	return th, ssr, iters + it, err
}

// coarsePoints is the size of the subsample the biconic is first fitted
// on.
const coarsePoints = 2000

// biconicStart estimates the biconic from the fitted mean conic: the
// residuals of the conic, in its own frame, are regressed on the change of
// height with the curvature along each direction (dz/dc = h^2 / (w (1 +
// w)) for a conic), giving a 2 x 2 curvature correction whose eigenvectors
// are the principal meridians. The pose starts at the conic's.
func (p *biconicProblem) biconicStart(mc Conic) ([nBiconicParams]float64, error) {
	c0, pp := 1/mc.R0MM, mc.P
	f := mc.Pose().frame()
	const k = 4 // unknowns: dC11, dC12, dC22, dz
	var ata [k * k]float64
	var atb [k]float64
	for i := range p.x {
		u, v, w, _ := f.own(p.x[i], p.y[i], p.z[i])
		h2 := u*u + v*v
		disc := 1 - pp*c0*c0*h2
		if disc <= 0 {
			continue
		}
		sq := math.Sqrt(disc)
		res := w - c0*h2/(1+sq)
		kk := 1 / (sq * (1 + sq))
		row := [k]float64{kk * u * u, 2 * kk * u * v, kk * v * v, 1}
		for r := range k {
			atb[r] += row[r] * res
			for c := r; c < k; c++ {
				ata[r*k+c] += row[r] * row[c]
			}
		}
	}
	sol, err := solveSym(k, ata[:], atb[:])
	if err != nil {
		return [nBiconicParams]float64{}, fmt.Errorf("surface does not determine a toric fit: %w", err)
	}
	a, b, d := c0+sol[0], sol[1], c0+sol[2]
	mean, diff := (a+d)/2, math.Hypot((a-d)/2, b)
	// The eigenvector of the larger curvature is at angle atan2(2b, a-d)/2;
	// the flat meridian is perpendicular to it.
	steep := math.Atan2(2*b, a-d) / 2
	var th [nBiconicParams]float64
	th[bCX], th[bCY] = mean-diff, mean+diff
	th[bPX], th[bPY] = pp, pp
	th[bTh] = steep + math.Pi/2
	// A depth offset in the cornea's frame moves the apex along its axis.
	th[bX0] = mc.ApexXMM + sol[3]*f.sb*f.ca
	th[bY0] = mc.ApexYMM - sol[3]*f.sa
	th[bZ0] = mc.ApexZMM + sol[3]*f.cb*f.ca
	th[bTA], th[bTB] = -mc.TiltYDeg*math.Pi/180, mc.TiltXDeg*math.Pi/180
	if !(th[bCX] > 0) || !(th[bCY] > 0) {
		return [nBiconicParams]float64{}, fmt.Errorf("surface does not fit a toric cornea")
	}
	return th, nil
}

// toBiconic turns fitted parameters into a Biconic with the flat meridian
// first.
func toBiconic(th [nBiconicParams]float64) Biconic {
	cx, cy, px, py, ang := th[bCX], th[bCY], th[bPX], th[bPY], th[bTh]
	if cx > cy {
		cx, cy, px, py, ang = cy, cx, py, px, ang+math.Pi/2
	}
	return Biconic{
		FlatR0MM: 1 / cx, SteepR0MM: 1 / cy, FlatP: px, SteepP: py,
		FlatAxisDeg: axisMod180(ang * 180 / math.Pi),
		ApexXMM:     th[bX0], ApexYMM: th[bY0], ApexZMM: th[bZ0],
		TiltXDeg: th[bTB] * 180 / math.Pi, TiltYDeg: -th[bTA] * 180 / math.Pi,
	}
}
