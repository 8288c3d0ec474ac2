package cornea

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
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
	// unless fitted) and the depth offset of the apex below z = 0.
	ApexXMM, ApexYMM, ApexZMM float64

	ZoneDiameterMM float64 // diameter of the zone fitted, centred on x = y = 0
	Points         int     // number of points used
	Coverage       float64 // fraction (0..1) of the zone's area that holds data
	ResidualRMSUM  float64 // root mean square of the height residuals, microns
	Iterations     int     // Levenberg-Marquardt iterations taken
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

// Parameters of the biconic height model. The decentration parameters are
// last, so the free ones are always a prefix.
const (
	bCX = iota // curvature along x', 1/mm
	bCY        // curvature along y', 1/mm
	bPX        // shape factor along x'
	bPY        // shape factor along y'
	bTh        // rotation of x' from +x, radians
	bZ0        // apex depth, mm
	bX0        // apex x, mm
	bY0        // apex y, mm
	nBiconicParams
)

type biconicProblem struct {
	x, y, z []float64
	nFree   int       // 6, or 8 with decentration
	buf     []float64 // derivative tables, reused between evaluations
}

// eval computes the sum of squared residuals at th and, when jtj is not
// nil, the Gauss-Newton normal equations (upper triangle of the first
// nFree rows and columns, row major nBiconicParams wide) and J'r. It
// reports false if th leaves the biconic's domain at some point.
func (p *biconicProblem) eval(th *[nBiconicParams]float64, jtj *[nBiconicParams * nBiconicParams]float64, jtr *[nBiconicParams]float64) (float64, bool) {
	cx, cy, px, py := th[bCX], th[bCY], th[bPX], th[bPY]
	z0, x0, y0 := th[bZ0], th[bX0], th[bY0]
	cs, sn := math.Cos(th[bTh]), math.Sin(th[bTh])
	qx, qy := px*cx*cx, py*cy*cy
	xs, ys, zs := p.x, p.y[:len(p.x)], p.z[:len(p.x)]
	var ssr float64
	if jtj == nil {
		for i := range xs {
			dx, dy := xs[i]-x0, ys[i]-y0
			u, v := dx*cs+dy*sn, dy*cs-dx*sn
			u2, v2 := u*u, v*v
			disc := 1 - qx*u2 - qy*v2
			if disc <= 0 {
				return 0, false
			}
			res := zs[i] - z0 - (cx*u2+cy*v2)/(1+math.Sqrt(disc))
			ssr += res * res
		}
		return ssr, true
	}
	// Derivatives go to per-block tables, one per parameter, and the
	// normal equations are their dot products (gonum's assembly kernel):
	// far faster than 21 to 36 running sums, which cannot all stay in
	// registers.
	const n = nBiconicParams
	nf := p.nFree
	blk := min(len(xs), biconicBlock)
	if len(p.buf) < (n+1)*blk {
		p.buf = make([]float64, (n+1)*blk)
	}
	var g [n][]float64
	for j := range n {
		g[j] = p.buf[j*blk : (j+1)*blk]
	}
	resv := p.buf[n*blk : (n+1)*blk]
	for i := range g[bZ0] {
		g[bZ0][i] = 1
	}
	var a [n * n]float64
	var r [n]float64
	for start := 0; start < len(xs); start += blk {
		m := min(blk, len(xs)-start)
		bx, by, bz := xs[start:start+m], ys[start:start+m], zs[start:start+m]
		g0, g1, g2, g3, g4, g6, g7 := g[bCX][:m], g[bCY][:m], g[bPX][:m], g[bPY][:m], g[bTh][:m], g[bX0][:m], g[bY0][:m]
		rv := resv[:m]
		for i := range bx {
			dx, dy := bx[i]-x0, by[i]-y0
			u, v := dx*cs+dy*sn, dy*cs-dx*sn
			u2, v2 := u*u, v*v
			disc := 1 - qx*u2 - qy*v2
			if disc <= 0 {
				return 0, false
			}
			w := math.Sqrt(disc)
			e := 1 / (w * (1 + w)) // one division: d = w e, 1/w = (1 + w) e
			d := w * e
			f := (cx*u2 + cy*v2) * d
			res := bz[i] - z0 - f
			ssr += res * res
			rv[i] = res
			fQ := 0.5 * f * e                // df/dQ = f d / (2 w); df/dS = d
			ca, cb := d*cx+fQ*qx, d*cy+fQ*qy // df/d(u^2), df/d(v^2)
			g0[i] = u2 * (d + 2*fQ*px*cx)
			g1[i] = v2 * (d + 2*fQ*py*cy)
			g2[i] = fQ * cx * cx * u2
			g3[i] = fQ * cy * cy * v2
			g4[i] = 2 * u * v * (ca - cb)
			g6[i] = 2 * (-ca*u*cs + cb*v*sn)
			g7[i] = 2 * (-ca*u*sn - cb*v*cs)
		}
		for j := range nf {
			gj := g[j][:m]
			r[j] += floats.Dot(gj, rv)
			for k := j; k < nf; k++ {
				a[j*n+k] += floats.Dot(gj, g[k][:m])
			}
		}
	}
	*jtj, *jtr = a, r
	return ssr, true
}

// biconicBlock is the number of points whose derivatives are tabulated at
// once: the nine tables stay in the L1 cache.
const biconicBlock = 384

// fit refines th by Levenberg-Marquardt on the height residuals and
// returns the parameters, their sum of squared residuals and the
// iterations taken.
func (p *biconicProblem) fit(th [nBiconicParams]float64) ([nBiconicParams]float64, float64, int, error) {
	const (
		maxIter = 100
		// Stop when the sum of squares would fall by less than this
		// fraction: on N points that is a parameter change of about
		// sqrt(relTol * N) standard errors, under 0.001 for any scan.
		relTol = 1e-10
		n      = nBiconicParams
	)
	k := p.nFree
	var jtj [n * n]float64
	var jtr [n]float64
	ssr, ok := p.eval(&th, &jtj, &jtr)
	if !ok {
		return th, 0, 0, fmt.Errorf("the starting biconic does not cover every point")
	}
	a := make([]float64, k*k)
	b := make([]float64, k)
	lambda := 1e-3
	iter := 0
	for iter < maxIter {
		iter++
		// A floor on the damping keeps the system definite where a
		// parameter has no effect (the axis of a spherical cornea).
		var maxDiag float64
		for r := range k {
			maxDiag = max(maxDiag, jtj[r*n+r])
		}
		improved := false
		for !improved {
			for r := range k {
				b[r] = jtr[r]
				for c := r; c < k; c++ {
					a[r*k+c] = jtj[r*n+c]
				}
				a[r*k+r] = jtj[r*n+r]*(1+lambda) + lambda*1e-15*maxDiag
			}
			step, err := solveSym(k, a, b)
			if err != nil {
				lambda *= 10
				if lambda > 1e12 {
					return th, ssr, iter, nil
				}
				continue
			}
			trial := th
			small := true
			var predicted float64
			for r := range k {
				trial[r] += step[r]
				predicted += step[r] * b[r]
				if math.Abs(step[r]) > 1e-12*(1+math.Abs(th[r])) {
					small = false
				}
			}
			if small || predicted <= relTol*ssr {
				return th, ssr, iter, nil
			}
			var tj [n * n]float64
			var tr [n]float64
			tssr, ok := p.eval(&trial, &tj, &tr)
			if ok && tssr <= ssr {
				done := ssr-tssr <= relTol*ssr
				th, ssr, jtj, jtr = trial, tssr, tj, tr
				lambda = max(lambda/10, 1e-12)
				improved = true
				if done {
					return th, ssr, iter, nil
				}
			} else {
				lambda *= 10
				if lambda > 1e12 {
					return th, ssr, iter, nil // no step improves: at the minimum within rounding
				}
			}
		}
	}
	return th, ssr, iter, nil
}

// biconicStart estimates the biconic from the fitted mean conic: the
// residuals of the conic are regressed on the change of height with the
// curvature along each direction (dz/dc = h^2 / (w (1 + w)) for a conic),
// giving a 2 x 2 curvature correction whose eigenvectors are the principal
// meridians.
func (p *biconicProblem) biconicStart(mc Conic) ([nBiconicParams]float64, error) {
	c0, pp := 1/mc.R0MM, mc.P
	x0, y0, z0 := mc.ApexXMM, mc.ApexYMM, mc.ApexZMM
	const k = 4 // unknowns: dC11, dC12, dC22, dz
	var ata [k * k]float64
	var atb [k]float64
	for i := range p.x {
		dx, dy := p.x[i]-x0, p.y[i]-y0
		h2 := dx*dx + dy*dy
		disc := 1 - pp*c0*c0*h2
		if disc <= 0 {
			continue
		}
		w := math.Sqrt(disc)
		res := p.z[i] - z0 - c0*h2/(1+w)
		kk := 1 / (w * (1 + w))
		row := [k]float64{kk * dx * dx, 2 * kk * dx * dy, kk * dy * dy, 1}
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
	th[bZ0], th[bX0], th[bY0] = z0+sol[3], x0, y0
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
	}
}
