package cornea

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
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
//
// The solver does not step in the principal curvatures, shape factors and
// axis of the biconic. On a nearly spherical cornea the axis is barely
// determined and its effect on the heights scales with the toricity, so
// the fit's curvature along it changes many times over as the toricity
// moves by its uncertainty: steps in it overshoot or creep, and the
// refinement on every point of twelve noisy spheres took from 3 to 25
// passes over the points (see TestNoisySphereTakesFewPasses). The solver
// steps in the tensors of a more general surface that holds the biconic,
//
//	z = N / (1 + sqrt(1 - Q)),  N = cm r^2 + J.T,
//	Q = (pm (cm^2 + |J|^2) + 2 cm K.J) r^2 + (2 pm cm J + (cm^2 + |J|^2) K).T,
//
// with r^2 = u^2 + v^2 and T = (u^2 - v^2, 2 u v): cm and pm are the mean
// curvature and shape factor, J the curvature's toric part and K the shape
// factor's. The biconic whose steep meridian (curvature cs, shape factor
// ps) lies at angle t from +u, and its flat one (cf, pf) 90 degrees away,
// is this surface with J = (cs - cf) / 2 e and K = (ps - pf) / 2 e, e =
// (cos 2t, sin 2t): the general surface is the biconic when K is parallel
// to J. Near a sphere its heights are linear in J and K whatever the axis,
// so the solver's quadratic model of the sum of squares holds there. Each
// step is the Gauss-Newton step of the general surface, taken back onto
// the biconics (see constrain); the fit is the biconic's, and the axis
// comes out of J and K at the end (see principal).
//
// Nor does it place the cornea by its apex. A tilt about the apex moves a
// nearly spherical cornea's centre of curvature sideways by its radius
// times the angle, which the data pin down: a tilt and a decentration
// trade off almost freely, the fit's curvature along that trade changes
// as it moves, and a keratoconic map, whose cone pulls the apex a
// millimetre aside and tilts it by degrees, took up to twenty iterations
// on its subsample. A tilt about the centre of curvature leaves a sphere
// where it is, and shows only through the asphericity. So the position
// parameters (bX0, bY0, bZ0) place the point of the corneal axis that
// lies the problem's pivot below the apex, the pivot being the start's
// radius of curvature, and the tilt turns the cornea about that point
// (see pivotForm); the fit returns the apex.
const (
	bCM  = iota // mean curvature (cs + cf) / 2, 1/mm
	bPM         // mean shape factor (ps + pf) / 2
	bJ0         // the curvature's toric part J: J0, 1/mm
	bJ45        // and J45, 1/mm
	bK0         // the shape factor's toric part K: K0
	bK45        // and K45
	bZ0         // depth of the point the position places (the apex without a pivot), mm
	bX0         // its x, mm
	bY0         // its y, mm
	bTA         // tilt alpha, radians
	bTB         // tilt beta, radians
	nBiconicParams
)

// principal returns the biconic of the parameters th (J and K parallel)
// along its principal meridians: the curvatures and shape factors of the
// steep one and of the flat one, and the steep one's angle from +u,
// radians. With equal curvatures the axis is the shape factors'.
func principal(th *[nBiconicParams]float64) (cs, cf, ps, pf, steep float64) {
	rho := math.Hypot(th[bJ0], th[bJ45])
	var d float64
	if rho > 0 {
		d = (th[bK0]*th[bJ0] + th[bK45]*th[bJ45]) / rho
		steep = math.Atan2(th[bJ45], th[bJ0]) / 2
	} else {
		d = math.Hypot(th[bK0], th[bK45])
		steep = math.Atan2(th[bK45], th[bK0]) / 2
	}
	return th[bCM] + rho, th[bCM] - rho, th[bPM] + d, th[bPM] - d, steep
}

type biconicProblem struct {
	x, y, z []float64
	nFree   int // 7 (apex depth only), or nBiconicParams with the pose
	// pivot is how far below the apex, along the corneal axis, lies the
	// point the position parameters place (mm; see bCM).
	pivot float64
	// work, when set, lends biconicStart its tables and constrain its
	// scratch (see lmWork).
	work *lmWork
}

// normal implements lsqProblem for the general surface (see bCM).
func (p *biconicProblem) normal(th []float64, ne *normalEq) (float64, bool) {
	cm, pm, j0, j45, k0, k45 := th[bCM], th[bPM], th[bJ0], th[bJ45], th[bK0], th[bK45]
	// Q = qr r^2 + (bq0, bq45).T.
	c2 := cm*cm + j0*j0 + j45*j45
	kj := k0*j0 + k45*j45
	qr := pm*c2 + 2*cm*kj
	bq0, bq45 := 2*pm*cm*j0+c2*k0, 2*pm*cm*j45+c2*k45
	f := p.frame(th)
	xs, ys, zs := p.x, p.y[:len(p.x)], p.z[:len(p.x)]
	ssr := tiltPriorPerPoint * float64(len(xs)) * (th[bTA]*th[bTA] + th[bTB]*th[bTB])
	if ne == nil {
		for i := range xs {
			u, v, w, _ := f.own(xs[i], ys[i], zs[i])
			uu, vv := u*u, v*v
			r2, t0, t45 := uu+vv, uu-vv, 2*u*v
			disc := 1 - qr*r2 - bq0*t0 - bq45*t45
			if disc <= 0 {
				return 0, false
			}
			res := w - (cm*r2+j0*t0+j45*t45)/(1+math.Sqrt(disc))
			ssr += res * res
		}
		return ssr, true
	}
	// Every factor that does not change from point to point, multiplied
	// out once: dQ/dcm's coefficients, dQ/dJ's T coefficient and those of
	// the slopes (N and Q are quadratic forms of (u, v)), doubled.
	qcr, pm2, cm2, pmcm := 2*pm*cm+2*kj, 2*pm, 2*cm, 2*pm*cm
	nu, nv, nx := 2*(cm+j0), 2*(cm-j0), 2*j45
	qu, qv, qx := 2*(qr+bq0), 2*(qr-bq0), 2*bq45
	ne.reset()
	g := ne.g
	// The frame's rotation and its derivatives written out (see own and
	// poseGrads): this loop is where a fit spends its time. An untilted
	// frame gives the same numbers, and the tilt's columns are read only
	// when the tilt is free.
	x0, y0, z0, fca, fsa, fcb, fsb := f.x0, f.y0, f.z0, f.ca, f.sa, f.cb, f.sb
	xc, xv, zc, zv := fca*fsb, fsa*fsb, fca*fcb, fsa*fcb // the rotation's products in the apex's columns
	// A tilt about the pivot point also moves the apex, by the pivot
	// times the axis's turn: the tilt's columns take the apex's along.
	rc := p.pivot
	aX, aY, aZ, bX, bZ := rc*fsb*fsa, rc*fca, rc*fcb*fsa, -rc*fcb*fca, rc*fsb*fca
	for start := 0; start < len(xs); start += lmBlock {
		m := min(lmBlock, len(xs)-start)
		bx, by, bz := xs[start:start+m], ys[start:start+m], zs[start:start+m]
		gC, gP, gJ0, gJ45, gK0, gK45 := g[bCM][:m], g[bPM][:m], g[bJ0][:m], g[bJ45][:m], g[bK0][:m], g[bK45][:m]
		gZ, gX, gY, gA, gB := g[bZ0][:m], g[bX0][:m], g[bY0][:m], g[bTA][:m], g[bTB][:m]
		rv := ne.res[:m]
		// The points in the cornea's frame, and the square roots and
		// divisions, first, in a loop of their own: independent from point
		// to point, they overlap there instead of each waiting for the last
		// in a long loop, whose registers go to the derivatives.
		sqs, es := ne.aux[0][:m], ne.aux[1][:m]
		us, vs, ws, ezs := ne.aux[2][:m], ne.aux[3][:m], ne.aux[4][:m], ne.aux[5][:m]
		for i := range bx {
			dx, dy, dz := bx[i]-x0, by[i]-y0, bz[i]-z0
			ez := fsb*dx + fcb*dz
			u := fcb*dx - fsb*dz
			v := fca*dy + fsa*ez
			us[i], vs[i], ws[i], ezs[i] = u, v, -fsa*dy+fca*ez, ez
			uu, vv := u*u, v*v
			disc := 1 - qr*(uu+vv) - bq0*(uu-vv) - bq45*2*u*v
			if disc <= 0 {
				return 0, false
			}
			sq := math.Sqrt(disc)
			sqs[i], es[i] = sq, 1/(sq*(1+sq)) // one division: d = sq e, 1/sq = (1 + sq) e
		}
		for i := range us {
			u, v, w, ez := us[i], vs[i], ws[i], ezs[i]
			uu, vv := u*u, v*v
			r2, t0, t45 := uu+vv, uu-vv, 2*u*v
			jt, kt := j0*t0+j45*t45, k0*t0+k45*t45
			sq, e := sqs[i], es[i]
			d := sq * e
			h := (cm*r2 + jt) * d
			res := w - h
			ssr += res * res
			rv[i] = res
			fQ := 0.5 * h * e // dh/dQ = h d / (2 sq); dh/dN = d
			gC[i] = d*r2 + fQ*(qcr*r2+pm2*jt+cm2*kt)
			gP[i] = fQ * (c2*r2 + cm2*jt)
			dj, pj, ck, fc := d+pmcm*fQ, fQ*(pm2*r2+2*kt), fQ*cm2*r2, fQ*c2
			gJ0[i] = dj*t0 + pj*j0 + ck*k0
			gJ45[i] = dj*t45 + pj*j45 + ck*k45
			gK0[i] = ck*j0 + fc*t0
			gK45[i] = ck*j45 + fc*t45
			// The slopes in the cornea's frame.
			fu := (d*nu+fQ*qu)*u + (d*nx+fQ*qx)*v
			fv := (d*nv+fQ*qv)*v + (d*nx+fQ*qx)*u
			dX, dY, dZ := xc-fu*fcb-fv*xv, -fsa-fv*fca, zc+fu*fsb-fv*zv
			gX[i], gY[i], gZ[i] = dX, dY, dZ
			gA[i] = v + fv*w + aX*dX + aY*dY + aZ*dZ
			gB[i] = u*(fv*fsa-fca) - fu*ez + bX*dX + bZ*dZ
		}
		ne.add(m)
	}
	ne.addPrior(bTA, th, tiltPriorPerPoint*float64(len(xs)))
	ne.addPrior(bTB, th, tiltPriorPerPoint*float64(len(xs)))
	return ssr, true
}

// frame returns the pose of the parameters th: the apex lies the pivot
// back along the corneal axis from the point they place.
func (p *biconicProblem) frame(th []float64) frame {
	f := frameOf(0, 0, 0, th[bTA], th[bTB])
	// The axis, R (0, 0, 1), is (sin b cos a, -sin a, cos b cos a).
	f.x0, f.y0, f.z0 = th[bX0]-p.pivot*f.sb*f.ca, th[bY0]+p.pivot*f.sa, th[bZ0]-p.pivot*f.cb*f.ca
	return f
}

// pivotForm turns parameters that place the apex into those of a problem
// of the given pivot, which place the point the pivot below it along the
// corneal axis; apexForm turns them back.
func pivotForm(th *[nBiconicParams]float64, pivot float64) { moveAlongAxis(th, pivot) }

func apexForm(th *[nBiconicParams]float64, pivot float64) { moveAlongAxis(th, -pivot) }

// moveAlongAxis moves the point th places by d along the corneal axis.
func moveAlongAxis(th *[nBiconicParams]float64, d float64) {
	f := frameOf(0, 0, 0, th[bTA], th[bTB])
	th[bX0] += d * f.sb * f.ca
	th[bY0] -= d * f.sa
	th[bZ0] += d * f.cb * f.ca
}

// toricParams are the parameters of the toric parts, J and K: the free
// parameters of every biconic fit are a prefix that holds them.
var toricParams = [4]int{bJ0, bJ45, bK0, bK45}

// constrain implements constrainedProblem: the step of the general
// surface (see bCM) taken back onto the biconics. With every other
// parameter at its best for it, the quadratic model of the sum of squares
// is, over the toric part y = (J, K), (y - yh)' S (y - yh) plus a
// constant: yh is where the unconstrained step takes it and S the inverse
// of the toric block of the damped J'J's inverse. Of the parallel y = (rho
// e, d e), e = (cos 2t, sin 2t), the best for a given t is a 2 x 2 linear
// least squares problem, and the best t is searched for over the half
// turn (see parallelNearest). The other parameters then follow y: the
// step is the unconstrained one plus D^-1 E S (y - yh), E the toric
// columns of the identity and D the damped J'J.
func (p *biconicProblem) constrain(th, trial []float64, ne *normalEq, chol, step []float64) (float64, bool) {
	k := len(ne.free)
	w := p.work
	if w == nil {
		w = new(lmWork)
	}
	// Z = D^-1 E (k x 4) from the damped system's Cholesky factor, and S
	// from Z's toric rows, inverted in place of the identity.
	w.proj = grow(w.proj, 4*k+32)
	z, zt, s := w.proj[:4*k], w.proj[4*k:4*k+16], (*[16]float64)(w.proj[4*k+16:])
	clear(z)
	*s = [16]float64{0: 1, 5: 1, 10: 1, 15: 1}
	for c, j := range toricParams {
		z[j*4+c] = 1
	}
	lapack64.Potrs(blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: k, Stride: k, Data: chol[:k*k]},
		blas64.General{Rows: k, Cols: 4, Stride: 4, Data: z})
	for r, i := range toricParams {
		copy(zt[r*4:r*4+4], z[i*4:i*4+4])
	}
	u, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: 4, Stride: 4, Data: zt})
	if !ok {
		return 0, false
	}
	lapack64.Potrs(u, blas64.General{Rows: 4, Cols: 4, Stride: 4, Data: s[:]})
	var yh [4]float64
	for r, i := range toricParams {
		yh[r] = th[i] + step[i]
	}
	_, _, _, _, t0 := principal((*[nBiconicParams]float64)(th))
	y := parallelNearest(s, yh, t0)
	// mu = S (y - yh); the step grows by Z mu.
	var mu [4]float64
	for r := range 4 {
		for c := range 4 {
			mu[r] += s[r*4+c] * (y[c] - yh[c])
		}
	}
	copy(trial, th)
	for i := range k {
		step[i] += z[i*4]*mu[0] + z[i*4+1]*mu[1] + z[i*4+2]*mu[2] + z[i*4+3]*mu[3]
		trial[i] += step[i]
	}
	for r, i := range toricParams {
		trial[i] = y[r] // parallel to the last bit
	}
	// The decrease the linearised model predicts: 2 b'x - x'(J'J)x.
	a := ne.a
	var pred float64
	for r := range k {
		xr := step[r]
		pred += (2*ne.b[r] - a[r*k+r]*xr) * xr
		for c := r + 1; c < k; c++ {
			pred -= 2 * a[r*k+c] * xr * step[c]
		}
	}
	return pred, true
}

// parallelNearest returns the y = (rho e, d e), e = (cos 2t, sin 2t), that
// minimises (y - yh)' S (y - yh) (S symmetric positive definite, row
// major). For a given t that is a linear least squares problem in (rho,
// d); over t the gain it leaves, v' M^-1 v with M = B'SB and v = B'S yh (B
// the 4 x 2 matrix of y = B (rho, d)), is a ratio of trigonometric
// polynomials of 2t of degree four at most, with a few maxima on the half
// turn. The search samples the half turn every 3 degrees, and the current
// axis t0, and narrows the best sample's bracket by golden sections to a
// third of a nanoradian. A maximum narrower than the samples' spacing
// could be missed: the step is then a poorer one, which the solver's test
// of the sum of squares judges like any other.
func parallelNearest(s *[16]float64, yh [4]float64, t0 float64) [4]float64 {
	var sy [4]float64
	for r := range 4 {
		for c := range 4 {
			sy[r] += s[r*4+c] * yh[c]
		}
	}
	solve := func(t float64) (gain, rho, d float64) {
		sn, cs := math.Sincos(2 * t)
		m11 := cs*cs*s[0] + 2*cs*sn*s[1] + sn*sn*s[5]
		m12 := cs*cs*s[2] + cs*sn*(s[3]+s[6]) + sn*sn*s[7]
		m22 := cs*cs*s[10] + 2*cs*sn*s[11] + sn*sn*s[15]
		v1, v2 := cs*sy[0]+sn*sy[1], cs*sy[2]+sn*sy[3]
		det := m11*m22 - m12*m12
		rho, d = (m22*v1-m12*v2)/det, (m11*v2-m12*v1)/det
		return rho*v1 + d*v2, rho, d
	}
	const samples = 60
	const h = math.Pi / samples
	bt := t0
	bg, _, _ := solve(t0)
	for i := range samples {
		t := float64(i) * h
		if g, _, _ := solve(t); g > bg {
			bg, bt = g, t
		}
	}
	// Golden sections of [bt - h, bt + h], keeping the better end.
	const phi = 0.6180339887498949
	lo, hi := bt-h, bt+h
	m1, m2 := hi-phi*(hi-lo), lo+phi*(hi-lo)
	g1, _, _ := solve(m1)
	g2, _, _ := solve(m2)
	for range 40 {
		if g1 > g2 {
			hi, m2, g2 = m2, m1, g1
			m1 = hi - phi*(hi-lo)
			g1, _, _ = solve(m1)
		} else {
			lo, m1, g1 = m1, m2, g2
			m2 = lo + phi*(hi-lo)
			g2, _, _ = solve(m2)
		}
	}
	t := (lo + hi) / 2
	if g, _, _ := solve(t); g < bg {
		t = bt // the bracket's best sample (t0 when nothing beats it)
	}
	_, rho, d := solve(t)
	sn, cs := math.Sincos(2 * t)
	return [4]float64{rho * cs, rho * sn, d * cs, d * sn}
}

// pointSet is a set of points of the map, x, y and z of equal length.
type pointSet struct{ x, y, z []float64 }

// fitBiconic fits the biconic to the zone's points full, coarse to fine
// when it has a subsample sub of them (see subsample): the start (the
// linearised conic, then the biconic's estimate from it) and the
// Levenberg-Marquardt refinement run on the subsample, which takes the
// parameters to within their uncertainty at a fraction of the cost, and
// the refinement then continues on every point, which takes a step or
// two from there at the damping the subsample's fit ended with, with the
// subsample's J'J (see lmSettings.hessian). When the subsample's biconic
// does not reach every point, or the subsample does not determine one,
// the fit starts again from every point. It returns the parameters
// (placing the apex) and the solver's result on every point (its evals
// are the passes over every point), with the iterations of both runs.
func fitBiconic(w *fitWork, full, sub pointSet, freePose bool) ([nBiconicParams]float64, lmResult, error) {
	if len(sub.x) > 0 {
		th, cres, pivot, err := fitBiconicOn(w, sub, freePose, true)
		if err == nil {
			bp := &biconicProblem{x: full.x, y: full.y, z: full.z, nFree: biconicFree(freePose), pivot: pivot, work: &w.lm}
			s := lmFit(len(full.x))
			s.work, s.lambda = &w.lm, cres.lambda
			// A subsample fitted exactly: the whole zone may be too.
			s.exactFirst = cres.ssr <= float64(len(sub.x))*biconicExactTol*biconicExactTol
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
				apexForm(&th, pivot)
				return th, res, nil
			}
		}
	}
	th, res, pivot, err := fitBiconicOn(w, full, freePose, false)
	apexForm(&th, pivot)
	return th, res, err
}

// fitBiconicOn fits the biconic to pts from nothing: the linearised
// conic with the apex's position (its tilt left at zero: a tilted,
// decentred conic seen from off its axis looks toric, so on a toric
// cornea a free tilt runs away to mimic the toricity), refined first only
// if it leaves some point outside; the biconic's estimate from that
// conic; and the Levenberg-Marquardt refinement of the biconic, about the
// pivot of the estimate's radius of curvature when the pose is free. It
// returns the parameters in the problem's form (see pivotForm) and the
// pivot. A coarse fit, of a subsample that the refinement on every point
// continues from, keeps its J'J and stops within a standard error of its
// minimum rather than a tenth: the refinement starts a standard error or
// two from its own minimum whatever the subsample's fit does (the scan's
// other points move it that much), and finishes in its two or three
// passes either way; the coarse fits of the noisy toric cornea and of
// most keratoconic maps then pass over the subsample once or twice less.
func fitBiconicOn(w *fitWork, pts pointSet, freePose, coarse bool) ([nBiconicParams]float64, lmResult, float64, error) {
	p := &problem{x: pts.x, y: pts.y, z: pts.z, work: &w.lm}
	p.free = [nParams]bool{iR0: true, iP: true, iZ0: true, iX0: freePose, iY0: freePose}
	th, err := p.initial()
	if err != nil {
		return [nBiconicParams]float64{}, lmResult{}, 0, err
	}
	if _, ok := p.normal(th[:], nil); !ok {
		s := p.settings()
		s.work = &w.lm
		if th, _, err = p.refine(th, s); err != nil {
			return [nBiconicParams]float64{}, lmResult{}, 0, err
		}
	}
	pose := p.pose(th)
	start := Conic{R0MM: th[iR0], P: th[iP], ApexXMM: pose.XMM, ApexYMM: pose.YMM, ApexZMM: pose.ZMM}
	bp := &biconicProblem{x: pts.x, y: pts.y, z: pts.z, nFree: biconicFree(freePose), work: &w.lm}
	bth, err := bp.biconicStart(start)
	if err != nil {
		return bth, lmResult{}, 0, err
	}
	if freePose { // with the apex held, the tilt is too
		bp.pivot = 1 / bth[bCM]
		pivotForm(&bth, bp.pivot)
	}
	s := lmFit(len(pts.x))
	s.work = &w.lm
	if coarse {
		s.keepHessian, s.statTol = true, 1
	}
	res, err := levenbergMarquardt(bp, bth[:], biconicFreeIndices(freePose), s)
	return bth, res, bp.pivot, err
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
// w)) for a conic), giving a 2 x 2 curvature correction: the start's
// curvature tensor (see bCM; its eigenvectors are the principal
// meridians), with the conic's shape factor along every meridian. The
// pose starts at the conic's.
func (p *biconicProblem) biconicStart(mc Conic) ([nBiconicParams]float64, error) {
	c0, pp := 1/mc.R0MM, mc.P
	f := mc.Pose().frame()
	const k = 4 // unknowns: dC11, dC12, dC22, dz
	sol, err := linearLeastSquares(p.work, k, p.x, p.y, p.z, func(ne *normalEq, bx, by, bz []float64) {
		m := len(bx)
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
	})
	if err != nil {
		return [nBiconicParams]float64{}, fmt.Errorf("surface does not determine a toric fit: %w", err)
	}
	// The curvature tensor [[c0 + dC11, dC12], [dC12, c0 + dC22]], with
	// the conic's shape factor along every meridian.
	var th [nBiconicParams]float64
	th[bCM], th[bPM] = c0+(sol[0]+sol[2])/2, pp
	th[bJ0], th[bJ45] = (sol[0]-sol[2])/2, sol[1]
	// A depth offset in the cornea's frame moves the apex along its axis.
	th[bX0] = mc.ApexXMM + sol[3]*f.sb*f.ca
	th[bY0] = mc.ApexYMM - sol[3]*f.sa
	th[bZ0] = mc.ApexZMM + sol[3]*f.cb*f.ca
	th[bTA], th[bTB] = -mc.TiltYDeg*math.Pi/180, mc.TiltXDeg*math.Pi/180
	if _, cf, _, _, _ := principal(&th); !(cf > 0) {
		return [nBiconicParams]float64{}, fmt.Errorf("surface does not fit a toric cornea")
	}
	return th, nil
}

// toBiconic turns fitted parameters into a Biconic.
func toBiconic(th [nBiconicParams]float64) Biconic {
	cs, cf, ps, pf, steep := principal(&th)
	return Biconic{
		FlatR0MM: 1 / cf, SteepR0MM: 1 / cs, FlatP: pf, SteepP: ps,
		FlatAxisDeg: axisMod180(steep*180/math.Pi + 90),
		ApexXMM:     th[bX0], ApexYMM: th[bY0], ApexZMM: th[bZ0],
		TiltXDeg: th[bTB] * 180 / math.Pi, TiltYDeg: -th[bTA] * 180 / math.Pi,
	}
}
