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
	// work, when set, lends biconicStart its tables (see lmWork).
	work *lmWork
}

// normal implements lsqProblem.
func (p *biconicProblem) normal(th []float64, ne *normalEq) (float64, bool) {
	cx, cy, px, py := th[bCX], th[bCY], th[bPX], th[bPY]
	f := frameOf(th[bX0], th[bY0], th[bZ0], th[bTA], th[bTB])
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
	// The frame's rotation and its derivatives written out (see own and
	// poseGrads): this loop is where a fit spends its time. An untilted
	// frame gives the same numbers, and the tilt's columns are read only
	// when the tilt is free.
	x0, y0, z0, fca, fsa, fcb, fsb := f.x0, f.y0, f.z0, f.ca, f.sa, f.cb, f.sb
	for start := 0; start < len(xs); start += lmBlock {
		m := min(lmBlock, len(xs)-start)
		bx, by, bz := xs[start:start+m], ys[start:start+m], zs[start:start+m]
		g0, g1, g2, g3, g4 := g[bCX][:m], g[bCY][:m], g[bPX][:m], g[bPY][:m], g[bTh][:m]
		gZ, gX, gY, gA, gB := g[bZ0][:m], g[bX0][:m], g[bY0][:m], g[bTA][:m], g[bTB][:m]
		rv := ne.res[:m]
		// The square roots and divisions first, in a loop of their own:
		// independent from point to point, they overlap there instead of
		// each waiting for the last in a long loop.
		sqs, es := ne.aux[0][:m], ne.aux[1][:m]
		for i := range bx {
			dx, dy, dz := bx[i]-x0, by[i]-y0, bz[i]-z0
			ez := fsb*dx + fcb*dz
			u := fcb*dx - fsb*dz
			v := fca*dy + fsa*ez
			a, b := u*cs+v*sn, v*cs-u*sn
			a2, b2 := a*a, b*b
			disc := 1 - qx*a2 - qy*b2
			if disc <= 0 {
				return 0, false
			}
			sq := math.Sqrt(disc)
			sqs[i], es[i] = sq, 1/(sq*(1+sq)) // one division: d = sq e, 1/sq = (1 + sq) e
		}
		for i := range bx {
			dx, dy, dz := bx[i]-x0, by[i]-y0, bz[i]-z0
			ez := fsb*dx + fcb*dz
			u := fcb*dx - fsb*dz
			v := fca*dy + fsa*ez
			w := -fsa*dy + fca*ez
			a, b := u*cs+v*sn, v*cs-u*sn // along the principal meridians
			a2, b2 := a*a, b*b
			sq, e := sqs[i], es[i]
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
			gX[i] = fca*fsb - fu*fcb - fv*fsa*fsb
			gY[i] = -fsa - fv*fca
			gZ[i] = fca*fcb + fu*fsb - fv*fsa*fcb
			gA[i] = v + fv*w
			gB[i] = -fca*u - fu*ez + fv*fsa*u
		}
		ne.add(m)
	}
	ne.addPrior(bTA, th, tiltPriorPerPoint*float64(len(xs)))
	ne.addPrior(bTB, th, tiltPriorPerPoint*float64(len(xs)))
	return ssr, true
}

// pointSet is a set of points of the map, x, y and z of equal length.
type pointSet struct{ x, y, z []float64 }

// fitBiconic fits the biconic to the zone's points full, coarse to fine
// when it has a subsample sub of them (see subsample): the start (the
// linearised conic, then the biconic's estimate from it) and the
// Levenberg-Marquardt refinement run on the subsample, which takes the
// parameters to within their uncertainty at a fraction of the cost, and
// the refinement then continues on every point, which takes a step or
// two from there at the damping the subsample's fit ended with. When
// the subsample's biconic does not reach every point, or the subsample
// does not determine one, the fit starts again from every point. It
// returns the parameters and the solver's result on every point, with
// the iterations of both runs.
func fitBiconic(w *fitWork, full, sub pointSet, freePose bool) ([nBiconicParams]float64, lmResult, error) {
	if len(sub.x) > 0 {
		th, cres, err := fitBiconicOn(w, sub, freePose, true)
		if err == nil {
			bp := &biconicProblem{x: full.x, y: full.y, z: full.z, nFree: biconicFree(freePose)}
			s := lmFit(len(full.x))
			s.work, s.lambda = &w.lm, cres.lambda
			// A subsample fitted exactly: the whole zone may be too.
			s.exactFirst = cres.ssr <= float64(len(sub.x))*exactPointTol*exactPointTol
			// The subsample's J'J, for as many points as the zone holds.
			if len(w.lm.hessian) > 0 {
				w.hessian = append(w.hessian[:0], w.lm.hessian...)
				scale := float64(len(full.x)) / float64(len(sub.x))
				for i := range w.hessian {
					w.hessian[i] *= scale
				}
				s.hessian = w.hessian
			}
			res, err := levenbergMarquardt(bp, th[:], biconicFreeIndices(freePose), s)
			if err == nil {
				res.iters += cres.iters
				return th, res, nil
			}
		}
	}
	return fitBiconicOn(w, full, freePose, false)
}

// fitBiconicOn fits the biconic to pts from nothing: the linearised
// conic with the apex's position (its tilt left at zero: a tilted,
// decentred conic seen from off its axis looks toric, so on a toric
// cornea a free tilt runs away to mimic the toricity), refined first only
// if it leaves some point outside; the biconic's estimate from that
// conic; and the Levenberg-Marquardt refinement of the biconic.
func fitBiconicOn(w *fitWork, pts pointSet, freePose, keepHessian bool) ([nBiconicParams]float64, lmResult, error) {
	p := &problem{x: pts.x, y: pts.y, z: pts.z, work: &w.lm}
	p.free = [nParams]bool{iR0: true, iP: true, iZ0: true, iX0: freePose, iY0: freePose}
	th, err := p.initial()
	if err != nil {
		return [nBiconicParams]float64{}, lmResult{}, err
	}
	if _, ok := p.normal(th[:], nil); !ok {
		s := p.settings()
		s.work = &w.lm
		if th, _, err = p.refine(th, s); err != nil {
			return [nBiconicParams]float64{}, lmResult{}, err
		}
	}
	pose := p.pose(th)
	start := Conic{R0MM: th[iR0], P: th[iP], ApexXMM: pose.XMM, ApexYMM: pose.YMM, ApexZMM: pose.ZMM}
	bp := &biconicProblem{x: pts.x, y: pts.y, z: pts.z, nFree: biconicFree(freePose), work: &w.lm}
	bth, err := bp.biconicStart(start)
	if err != nil {
		return bth, lmResult{}, err
	}
	s := lmFit(len(pts.x))
	s.work, s.keepHessian = &w.lm, keepHessian
	res, err := levenbergMarquardt(bp, bth[:], biconicFreeIndices(freePose), s)
	return bth, res, err
}

// biconicFree is the number of free biconic parameters: the pose's are
// last, so the free ones are a prefix.
func biconicFree(freePose bool) int {
	if freePose {
		return nBiconicParams
	}
	return bX0
}

func biconicFreeIndices(freePose bool) []int { return identity[:biconicFree(freePose)] }

// coarsePoints is the size of the subsample the biconic is first fitted
// on: enough that its fit lies within a few standard errors of the fit to
// every point.
const coarsePoints = 2000

// subsample draws, in one pass over a zone's points, a subsample spread
// evenly over the zone: stratified by radius and angle (the coverage
// bins: coverageRings rings of equal area by coverageSectors sectors),
// each stratum giving its first point and then every (n / coarsePoints)-th
// in the scan's order, so that every part of the zone is represented in
// proportion to its points whatever order the scan lists them in. It is
// deterministic. A zone of fewer than 2 * coarsePoints points gets none:
// it is fitted whole.
type subsample struct {
	x, y, z   []float64
	on        bool
	n, take   int
	ringScale float64 // rings per unit of squared radius
	acc       [coverageRings * coverageSectors]int
}

// reset readies s for a zone of n points within squared radius zr2.
func (s *subsample) reset(n int, zr2 float64) {
	s.x, s.y, s.z = s.x[:0], s.y[:0], s.z[:0]
	s.on = n >= 2*coarsePoints
	if !s.on {
		return
	}
	s.n, s.take, s.ringScale = n, coarsePoints, coverageRings/zr2
	for k := range s.acc {
		s.acc[k] = n - coarsePoints // the first point of a stratum is taken
	}
}

// add offers the zone's next point, at squared radius r2 in reach
// sector sec.
func (s *subsample) add(x, y, z, r2 float64, sec uint8) {
	if !s.on {
		return
	}
	ring := min(int(r2*s.ringScale), coverageRings-1)
	k := ring*coverageSectors + int(sec)/(ReachSectors/coverageSectors)
	a := s.acc[k] + s.take
	if a >= s.n {
		a -= s.n
		s.x, s.y, s.z = append(s.x, x), append(s.y, y), append(s.z, z)
	}
	s.acc[k] = a
}

func (s *subsample) points() pointSet { return pointSet{x: s.x, y: s.y, z: s.z} }

// biconicStart estimates the biconic from the fitted mean conic: the
// residuals of the conic, in its own frame, are regressed on the change of
// height with the curvature along each direction (dz/dc = h^2 / (w (1 +
// w)) for a conic), giving a 2 x 2 curvature correction whose eigenvectors
// are the principal meridians. The pose starts at the conic's.
func (p *biconicProblem) biconicStart(mc Conic) ([nBiconicParams]float64, error) {
	c0, pp := 1/mc.R0MM, mc.P
	f := mc.Pose().frame()
	const k = 4 // unknowns: dC11, dC12, dC22, dz
	ne := scratchNormalEq(p.work).init(k, identity[:k])
	ne.reset()
	xs, ys, zs := p.x, p.y[:len(p.x)], p.z[:len(p.x)]
	for start := 0; start < len(xs); start += lmBlock {
		m := min(lmBlock, len(xs)-start)
		bx, by, bz := xs[start:start+m], ys[start:start+m], zs[start:start+m]
		g0, g1, g2, g3, rv := ne.g[0][:m], ne.g[1][:m], ne.g[2][:m], ne.g[3][:m], ne.res[:m]
		for i, x := range bx {
			u, v, w, _ := f.own(x, by[i], bz[i])
			h2 := u*u + v*v
			disc := 1 - pp*c0*c0*h2
			if disc <= 0 { // outside the conic: no row
				g0[i], g1[i], g2[i], g3[i], rv[i] = 0, 0, 0, 0, 0
				continue
			}
			sq := math.Sqrt(disc)
			kk := 1 / (sq * (1 + sq))
			g0[i], g1[i], g2[i], g3[i] = kk*u*u, 2*kk*u*v, kk*v*v, 1
			rv[i] = w - c0*h2/(1+sq)
		}
		ne.add(m)
	}
	sol, err := solveSym(k, ne.a, ne.b)
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
