package cornea

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// Surface is the fitted cornea as a smooth height function in its own
// frame (see Pose: apex at the origin, depth w below the apex tangent
// plane along the corneal axis): the biconic plus a smoothed map of what
// the biconic leaves of the data. Where the exam measured the cornea the
// surface follows the data (a keratoconic cone, a flattened post-surgical
// centre, whatever no conic describes); away from the data the residual
// fades and the biconic alone bridges gaps and carries the surface
// outwards.
//
// The residual map is a normalised convolution: the residuals of every
// point are spread bilinearly onto a square grid of ResidualStepMM
// spacing, along with their weights, both grids are blurred by a Gaussian
// of ResidualSigmaMM, and the value at any point is the interpolated
// blurred residual over the interpolated blurred weight. That averages
// noise over about a square millimetre and keeps features of a millimetre
// and more (a cone of 1 mm standard deviation keeps about 90% of its
// height), whatever the layout of the points (rings, grids, clouds).
type Surface struct {
	// The biconic: curvatures and p c^2 along its principal meridians,
	// whose first lies at angle (cos, sin) = (ax, ay) from +u.
	cf, cs, qf, qs float64
	ax, ay         float64
	index          float64 // keratometric index, (n - 1) * 1000

	grid residualGrid
}

// Residual map settings.
const (
	// ResidualStepMM is the spacing of the residual grid.
	ResidualStepMM = 0.2
	// ResidualSigmaMM is the standard deviation of the Gaussian that
	// smooths the residual map.
	ResidualSigmaMM = 0.3
	// residualFloor is the blurred weight (points per grid cell) below
	// which the residual is pulled towards zero: well under the density of
	// any supported layout, so it only acts beyond the data's edge.
	residualFloor = 0.25
	// slopeStepMM is the finite-difference step of the residual's slope.
	slopeStepMM = 0.1
)

// biconicDepth returns the biconic's depth at (u, v) of the cornea's frame,
// and its slopes du, dv; ok is false where it is not defined.
func (s *Surface) biconicDepth(u, v float64) (w, fu, fv float64, ok bool) {
	a, b := u*s.ax+v*s.ay, v*s.ax-u*s.ay
	a2, b2 := a*a, b*b
	disc := 1 - s.qf*a2 - s.qs*b2
	if disc <= 0 {
		return 0, 0, 0, false
	}
	sq := math.Sqrt(disc)
	e := 1 / (sq * (1 + sq))
	d := sq * e
	w = (s.cf*a2 + s.cs*b2) * d
	fQ := 0.5 * w * e
	fa, fb := 2*a*(d*s.cf+fQ*s.qf), 2*b*(d*s.cs+fQ*s.qs)
	return w, fa*s.ax - fb*s.ay, fa*s.ay + fb*s.ax, true
}

// DepthMM returns the cornea's depth (mm, positive into the eye) below its
// apex tangent plane at (u, v) mm of its own frame; ok is false where the
// fitted biconic is not defined.
func (s *Surface) DepthMM(u, v float64) (float64, bool) {
	w, _, _, ok := s.biconicDepth(u, v)
	if !ok {
		return 0, false
	}
	return w + s.grid.at(u, v), true
}

// slope returns the surface's slope along the unit direction (du, dv) at
// (u, v).
func (s *Surface) slope(u, v, du, dv float64) (float64, bool) {
	_, fu, fv, ok := s.biconicDepth(u, v)
	if !ok {
		return 0, false
	}
	h := slopeStepMM
	r := (s.grid.at(u+h*du, v+h*dv) - s.grid.at(u-h*du, v-h*dv)) / (2 * h)
	return fu*du + fv*dv + r, true
}

// Measured reports whether the exam holds data near (u, v) (within about
// one grid step).
func (s *Surface) Measured(u, v float64) bool { return s.grid.occupied(u, v) }

// AxialPowerD returns the axial (sagittal) power in keratometric dioptres
// at radiusMM from the apex along the semi-meridian semiMeridianDeg (TABO
// degrees, 0-360, examiner's view): index / r_axial, with r_axial = h
// sqrt(1 + s^2) / s the distance along the normal, in the meridional
// plane, from the point to the corneal axis (s the radial slope). It is
// the curvature a Placido axial map shows, about the corneal apex. ok is
// false where the surface is not defined or h is not positive.
func (s *Surface) AxialPowerD(semiMeridianDeg, radiusMM float64) (float64, bool) {
	if !(radiusMM > 0) {
		return 0, false
	}
	sn, cs := math.Sincos(semiMeridianDeg * math.Pi / 180)
	sl, ok := s.slope(radiusMM*cs, radiusMM*sn, cs, sn)
	if !ok || !(sl > 0) {
		return 0, false
	}
	return s.index * sl / (radiusMM * math.Sqrt(1+sl*sl)), true
}

// residualGrid is the smoothed residual map (see Surface).
type residualGrid struct {
	n        int     // nodes per side
	origin   float64 // coordinate of node 0, mm (the grid is square and centred)
	sum, wt  []float64
	occ      []bool // nodes with data in a neighbouring cell
	residual bool   // false: no map (the biconic alone)
	// cells marks, while the map is built, the cells (the squares
	// between four nodes, by their lowest node) that hold a point; finish
	// turns them into occ. Borrowed from a gridWork.
	cells []bool
}

// newResidualGrid returns an empty residual map covering +-ext in u and v,
// marking its cells in w's buffer until finish.
func newResidualGrid(ext float64, w *gridWork) residualGrid {
	var g residualGrid
	if !(ext > 0 && ext < 1e3) {
		return g
	}
	const step = ResidualStepMM
	pad := 3*ResidualSigmaMM + 2*step
	half := math.Ceil((ext+pad)/step) * step
	g.n = int(math.Round(2*half/step)) + 1
	g.origin = -half
	nn := g.n * g.n
	sw := make([]float64, 2*nn)
	g.sum, g.wt = sw[:nn:nn], sw[nn:]
	g.occ = make([]bool, nn)
	w.cells = grow(w.cells, nn)
	clear(w.cells)
	g.cells = w.cells
	return g
}

// surfaceBlock is the number of points the residual map takes at once.
const surfaceBlock = 256

// addPoints spreads the residuals r at (u, v) bilinearly onto the four
// nearest nodes of each, and marks their cells as holding data.
func (g *residualGrid) addPoints(us, vs, rs []float64) {
	const inv = 1 / ResidualStepMM
	n, origin, sum, wt, cells := g.n, g.origin, g.sum, g.wt, g.cells
	vs, rs = vs[:len(us)], rs[:len(us)]
	for i, u := range us {
		r := rs[i]
		fx, fy := (u-origin)*inv, (vs[i]-origin)*inv
		j0, i0 := int(fx), int(fy)
		if !(fx >= 0 && fy >= 0) || j0+1 >= n || i0+1 >= n {
			continue
		}
		tx, ty := fx-float64(j0), fy-float64(i0)
		k := i0*n + j0
		w00, w01, w10, w11 := (1-tx)*(1-ty), tx*(1-ty), (1-tx)*ty, tx*ty
		s0, s1 := sum[k:k+2], sum[k+n:k+n+2]
		s0[0] += w00 * r
		s0[1] += w01 * r
		s1[0] += w10 * r
		s1[1] += w11 * r
		t0, t1 := wt[k:k+2], wt[k+n:k+n+2]
		t0[0] += w00
		t0[1] += w01
		t1[0] += w10
		t1[1] += w11
		cells[k] = true
	}
}

// gridWork holds the residual map's scratch, reused from fit to fit (see
// fitWork).
type gridWork struct {
	cells, near []bool    // the occupied cells; those dilated along the rows
	rows        []float64 // the row pass's output, with blurRadius zero rows above and below
	pad         []float64 // a row with blurRadius zeros either side
	lo, hi      []int     // each padded row's non-zero span after the row pass
}

// finish marks the nodes with data nearby and blurs the map. A node holds
// data when a cell it is a corner of holds a point, and counts as
// measured when it or a neighbour (of the 3 x 3 about it) holds data:
// that is, when one of the 4 x 4 cells from two below it to one above
// it, in both directions, holds a point.
func (g *residualGrid) finish(w *gridWork) {
	if g.n == 0 {
		return
	}
	n := g.n
	cells := g.cells
	g.cells = nil // the model keeps none of the workspace
	w.near = grow(w.near, n*n)
	near := w.near
	for i := range n {
		src, dst := cells[i*n:(i+1)*n], near[i*n:(i+1)*n]
		for j := range dst {
			d := src[j]
			if j >= 1 {
				d = d || src[j-1]
			}
			if j >= 2 {
				d = d || src[j-2]
			}
			if j+1 < n {
				d = d || src[j+1]
			}
			dst[j] = d
		}
	}
	for i := range n {
		dst := g.occ[i*n : (i+1)*n]
		for ii := max(i-2, 0); ii <= min(i+1, n-1); ii++ {
			src := near[ii*n : (ii+1)*n]
			for j, d := range src {
				dst[j] = dst[j] || d
			}
		}
	}
	blur(w, g.sum, g.wt, n)
	g.residual = true
}

// blurRadius is the half-width of blurKernel, in grid steps: three
// standard deviations.
const blurRadius = 5

// blurColumn is written out for blurRadius 5: these do not compile for
// another.
const (
	_ uint = blurRadius - 5
	_ uint = 5 - blurRadius
)

// blurKernel is the Gaussian of ResidualSigmaMM sampled at the grid step,
// normalised to sum 1.
var blurKernel = func() (k [2*blurRadius + 1]float64) {
	s := ResidualSigmaMM / ResidualStepMM
	if int(math.Ceil(3*s)) != blurRadius {
		panic("cornea: blurRadius is not three standard deviations of the residual map's blur")
	}
	var sum float64
	for i := range k {
		d := float64(i - blurRadius)
		k[i] = math.Exp(-d * d / (2 * s * s))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}()

// blur convolves the n x n grids a and b with blurKernel along both axes,
// pairing the kernel's symmetric taps. Only the span of each row that
// holds weight, widened by the kernel, is convolved: the rest is zero
// before and after (a map holds a disc of data in a square).
func blur(w *gridWork, a, b []float64, n int) {
	const r = blurRadius
	k := &blurKernel
	rows := n + 2*r
	w.lo, w.hi = grow(w.lo, rows), grow(w.hi, rows)
	lo, hi := w.lo, w.hi
	w.rows, w.pad = grow(w.rows, 2*rows*n), grow(w.pad, 2*(n+2*r))
	ta, tb := w.rows[:rows*n], w.rows[rows*n:]
	pa, pb := w.pad[:n+2*r], w.pad[n+2*r:]
	clear(ta[:r*n])
	clear(tb[:r*n])
	clear(ta[(n+r)*n:])
	clear(tb[(n+r)*n:])
	for i := range rows {
		lo[i], hi[i] = 0, 0
	}
	// Rows, into rows r to n+r-1 of the padded tables.
	for i := range n {
		ra, rb := a[i*n:(i+1)*n], b[i*n:(i+1)*n]
		oa, ob := ta[(i+r)*n:(i+r+1)*n], tb[(i+r)*n:(i+r+1)*n]
		first, last := -1, -1
		for j, v := range rb {
			if v != 0 {
				if first < 0 {
					first = j
				}
				last = j
			}
		}
		if first < 0 {
			clear(oa)
			clear(ob)
			continue
		}
		l, h := max(first-r, 0), min(last+r+1, n)
		lo[i+r], hi[i+r] = l, h
		clear(pa)
		clear(pb)
		copy(pa[r+first:], ra[first:last+1])
		copy(pb[r+first:], rb[first:last+1])
		clear(oa[:l])
		clear(ob[:l])
		clear(oa[h:])
		clear(ob[h:])
		for j := l; j < h; j++ {
			wa := (*[2*r + 1]float64)(pa[j : j+2*r+1])
			wb := (*[2*r + 1]float64)(pb[j : j+2*r+1])
			sa, sb := k[r]*wa[r], k[r]*wb[r]
			for t := 1; t <= r; t++ {
				sa += k[r+t] * (wa[r-t] + wa[r+t])
				sb += k[r+t] * (wb[r-t] + wb[r+t])
			}
			oa[j], ob[j] = sa, sb
		}
	}
	// Columns: output row i reads padded rows i to i+2r.
	for i := range n {
		oa, ob := a[i*n:(i+1)*n], b[i*n:(i+1)*n]
		l, h := n, 0
		for t := i; t <= i+2*r; t++ {
			if lo[t] < hi[t] {
				l, h = min(l, lo[t]), max(h, hi[t])
			}
		}
		if l >= h {
			clear(oa)
			clear(ob)
			continue
		}
		clear(oa[:l])
		clear(ob[:l])
		clear(oa[h:])
		clear(ob[h:])
		var ra, rb [2*r + 1][]float64
		for t := range ra {
			ra[t], rb[t] = ta[(i+t)*n+l:(i+t)*n+h], tb[(i+t)*n+l:(i+t)*n+h]
		}
		blurColumn(oa[l:h], &ra, k)
		blurColumn(ob[l:h], &rb, k)
	}
}

// blurColumn sets dst[j] to the kernel's sum over the rows src[t][j]. It
// is written out for a kernel of radius 5.
func blurColumn(dst []float64, src *[2*blurRadius + 1][]float64, k *[2*blurRadius + 1]float64) {
	const r = blurRadius
	c := src[r][:len(dst)]
	u1, d1 := src[r-1][:len(dst)], src[r+1][:len(dst)]
	u2, d2 := src[r-2][:len(dst)], src[r+2][:len(dst)]
	u3, d3 := src[r-3][:len(dst)], src[r+3][:len(dst)]
	u4, d4 := src[r-4][:len(dst)], src[r+4][:len(dst)]
	u5, d5 := src[r-5][:len(dst)], src[r+5][:len(dst)]
	k0, k1, k2, k3, k4, k5 := k[r], k[r+1], k[r+2], k[r+3], k[r+4], k[r+5]
	for j := range dst {
		dst[j] = k0*c[j] + k1*(u1[j]+d1[j]) + k2*(u2[j]+d2[j]) + k3*(u3[j]+d3[j]) + k4*(u4[j]+d4[j]) + k5*(u5[j]+d5[j])
	}
}

// at returns the smoothed residual (mm) at (u, v): zero outside the grid
// and far from the data.
func (g *residualGrid) at(u, v float64) float64 {
	if !g.residual {
		return 0
	}
	const inv = 1 / ResidualStepMM
	return g.sample((u-g.origin)*inv, (v-g.origin)*inv)
}

// atSlopes returns what at gives at (u, v), and its central differences
// over (u - h, u + h) and (v - h, v + h): the five readings each step of
// mapPoint's Newton search takes, in one call.
func (g *residualGrid) atSlopes(u, v, h float64) (r, ru, rv float64) {
	if !g.residual {
		return 0, 0, 0
	}
	const inv = 1 / ResidualStepMM
	fx, fy := (u-g.origin)*inv, (v-g.origin)*inv
	fxl, fxh := (u-h-g.origin)*inv, (u+h-g.origin)*inv
	fyl, fyh := (v-h-g.origin)*inv, (v+h-g.origin)*inv
	return g.sample(fx, fy), (g.sample(fxh, fy) - g.sample(fxl, fy)) / (2 * h), (g.sample(fx, fyh) - g.sample(fx, fyl)) / (2 * h)
}

// sample interpolates the map at (fx, fy) in grid steps from its origin.
func (g *residualGrid) sample(fx, fy float64) float64 {
	j0, i0 := int(math.Floor(fx)), int(math.Floor(fy))
	if j0 < 0 || i0 < 0 || j0+1 >= g.n || i0+1 >= g.n {
		return 0
	}
	tx, ty := fx-float64(j0), fy-float64(i0)
	k := i0*g.n + j0
	w00, w01, w10, w11 := (1-tx)*(1-ty), tx*(1-ty), (1-tx)*ty, tx*ty
	s := w00*g.sum[k] + w01*g.sum[k+1] + w10*g.sum[k+g.n] + w11*g.sum[k+g.n+1]
	w := w00*g.wt[k] + w01*g.wt[k+1] + w10*g.wt[k+g.n] + w11*g.wt[k+g.n+1]
	return s / max(w, residualFloor)
}

// occupied reports whether the node nearest (u, v) has data around it.
func (g *residualGrid) occupied(u, v float64) bool {
	if !g.residual {
		return false
	}
	inv := 1 / ResidualStepMM
	j, i := int(math.Round((u-g.origin)*inv)), int(math.Round((v-g.origin)*inv))
	if j < 0 || i < 0 || j >= g.n || i >= g.n {
		return false
	}
	return g.occ[i*g.n+j]
}

// BiconicMapDepthMM returns the depth (mm, along the map's z) of the
// fitted biconic, placed on the map by the model's pose, above the map
// point (x, y) (examiner's view): what a device would have measured there
// had the cornea been the biconic. ok is false where the biconic is not
// defined. Maps are drawn about the instrument axis, so this is what a
// topography map reads; designs read the cornea in its own frame.
func (m *Model) BiconicMapDepthMM(x, y float64) (float64, bool) {
	if m == nil || m.Surface == nil {
		return 0, false
	}
	f := m.Pose.frame()
	// Find the point (u, v, w(u, v)) that the pose puts above (x, y): a
	// fixed-point iteration that gains a factor of about sin(tilt) * slope
	// per step.
	u, v, _, _ := f.own(x, y, f.z0)
	var w float64
	for range 50 {
		var ok bool
		if w, _, _, ok = m.Surface.biconicDepth(u, v); !ok {
			return 0, false
		}
		px, py, _ := f.toMap(u, v, w)
		ex, ey := x-px, y-py
		if math.Abs(ex)+math.Abs(ey) < 1e-13 {
			break
		}
		// Back through the rotation's xy block.
		du, dv, _, _ := f.own(f.x0+ex, f.y0+ey, f.z0)
		u, v = u+du, v+dv
	}
	_, _, z := f.toMap(u, v, w)
	return z, true
}

// AxialPowerD returns the axial (sagittal) power in keratometric dioptres
// at radiusMM from the corneal vertex along a semi-meridian (TABO degrees,
// 0-360, examiner's view), about the axis through the vertex parallel to
// the map's: what a Placido device's axial map shows there. Devices
// centre their maps on the vertex (the point whose normal points at the
// instrument), not on the apex; Sim-K and the screening indices read this,
// so they mean what the devices' do, and a keratoconic cone, which pulls a
// fitted apex towards itself, moves the vertex far less. On a map already
// centred on the vertex, as Placido exports are, the vertex is the map
// centre. A point without data near it is an errs.NotFound error (an index
// is not computed from a model's guess), one the surface does not reach an
// errs.Invalid error.
func (m *Model) AxialPowerD(semiMeridianDeg, radiusMM float64) (float64, error) {
	const op = "cornea.Model.AxialPowerD"
	if m == nil || m.Surface == nil {
		return 0, errs.Ef(op, errs.Invalid, "the model holds no fit; build it with cornea.Fit")
	}
	if !finite(semiMeridianDeg) || !(radiusMM > 0) || math.IsInf(radiusMM, 0) {
		return 0, errs.Ef(op, errs.Invalid, "the point (%g degrees, %g mm) needs a finite angle and a radius above 0", semiMeridianDeg, radiusMM)
	}
	f := m.Pose.frame()
	return m.axialPowerD(&f, semiMeridianDeg, radiusMM)
}

// axialPowerD is AxialPowerD for a valid request, with the pose's frame
// f worked out once for all of them.
func (m *Model) axialPowerD(f *frame, semiMeridianDeg, radiusMM float64) (float64, error) {
	const op = "cornea.Model.AxialPowerD"
	sn, cs := math.Sincos(semiMeridianDeg * math.Pi / 180)
	u, v, gx, gy, ok := m.mapPoint(f, m.VertexXMM+radiusMM*cs, m.VertexYMM+radiusMM*sn)
	if !ok {
		return 0, errs.Ef(op, errs.Invalid, "the fitted cornea does not reach %.1f mm along %.0f degrees", radiusMM, semiMeridianDeg)
	}
	if !m.Surface.Measured(u, v) {
		return 0, errs.Ef(op, errs.NotFound, "no data at %.1f mm along %.0f degrees", radiusMM, semiMeridianDeg)
	}
	sl := gx*cs + gy*sn
	if !(sl > 0) {
		return 0, errs.Ef(op, errs.Invalid, "the cornea does not fall away from the vertex at %.1f mm along %.0f degrees", radiusMM, semiMeridianDeg)
	}
	return m.KeratometricIndex * sl / (radiusMM * math.Sqrt(1+sl*sl)), nil
}

// vertex finds the corneal vertex on the map: the point of the fitted
// surface whose depth has no slope along the map, by Newton's method from
// the apex with a finite-difference Hessian. It stays at the apex when
// the search does not converge (a surface too irregular to have one).
func (m *Model) vertex() {
	f := m.Pose.frame()
	x, y := m.Pose.XMM, m.Pose.YMM
	m.VertexXMM, m.VertexYMM = x, y
	const h = 0.1
	for range 12 {
		_, _, gx, gy, ok := m.mapPoint(&f, x, y)
		_, _, gxx, gyx, ok1 := m.mapPoint(&f, x+h, y)
		_, _, gxy, gyy, ok2 := m.mapPoint(&f, x, y+h)
		if !ok || !ok1 || !ok2 {
			return
		}
		a, b, c, d := (gxx-gx)/h, (gxy-gx)/h, (gyx-gy)/h, (gyy-gy)/h
		det := a*d - b*c
		if !(det > 0) {
			return
		}
		dx, dy := -(d*gx-b*gy)/det, -(a*gy-c*gx)/det
		x, y = x+dx, y+dy
		if math.Hypot(x-m.Pose.XMM, y-m.Pose.YMM) > 3 {
			return
		}
		if math.Abs(dx)+math.Abs(dy) < 1e-7 {
			break
		}
	}
	m.VertexXMM, m.VertexYMM = x, y
}

// mapPoint finds the point of the fitted surface that the pose puts above
// the map point (x, y): its own-frame coordinates (u, v), and the slopes
// of the surface's depth along the map's x and y there. Newton's method on
// the point's position converges in two or three steps for any tilt a
// cornea has in front of an instrument.
func (m *Model) mapPoint(f *frame, x, y float64) (u, v, gx, gy float64, ok bool) {
	sf := m.Surface
	u, v, _, _ = f.own(x, y, f.z0)
	// The rotation, row major: columns are the images of the own frame's
	// axes on the map.
	r00, r01, r02 := f.cb, -f.sb*f.sa, f.sb*f.ca
	r10, r11, r12 := 0.0, f.ca, -f.sa
	r20, r21, r22 := -f.sb, f.cb*f.sa, f.cb*f.ca
	var wu, wv float64
	for it := 0; it < 20; it++ {
		w, bu, bv, okb := sf.biconicDepth(u, v)
		if !okb {
			return 0, 0, 0, 0, false
		}
		r, ru, rv := sf.grid.atSlopes(u, v, slopeStepMM)
		wu, wv = bu+ru, bv+rv
		w += r
		px := f.x0 + r00*u + r01*v + r02*w
		py := f.y0 + r10*u + r11*v + r12*w
		ex, ey := x-px, y-py
		if math.Abs(ex)+math.Abs(ey) < 1e-12 {
			break
		}
		// d(px, py)/d(u, v) = R[:2,:2] + R[:2,2] grad w.
		a, b := r00+r02*wu, r01+r02*wv
		c, d := r10+r12*wu, r11+r12*wv
		det := a*d - b*c
		if det == 0 {
			return 0, 0, 0, 0, false
		}
		u += (d*ex - b*ey) / det
		v += (a*ey - c*ex) / det
	}
	// The normal (-wu, -wv, 1) on the map; the map depth's slopes follow.
	nx := -r00*wu - r01*wv + r02
	ny := -r10*wu - r11*wv + r12
	nz := -r20*wu - r21*wv + r22
	if !(nz > 0) {
		return 0, 0, 0, 0, false
	}
	return u, v, -nx / nz, -ny / nz, true
}

// Cone returns where the cornea stands furthest in front of its fitted
// biconic within the fitted zone, as a keratoconic cone does: the
// semi-meridian (TABO degrees, 0-360) and the distance from the apex (mm)
// of that point, and how far in front it stands (microns). ok is false
// when nothing stands out by minUM or more.
func (m *Model) Cone(minUM float64) (semiMeridianDeg, radiusMM, heightUM float64, ok bool) {
	if m == nil || m.Surface == nil || !m.Surface.grid.residual {
		return 0, 0, 0, false
	}
	g := &m.Surface.grid
	zr2 := m.ZoneDiameterMM * m.ZoneDiameterMM / 4
	best, bu, bv := 0.0, 0.0, 0.0
	for i := range g.n {
		v := g.origin + float64(i)*ResidualStepMM
		for j := range g.n {
			u := g.origin + float64(j)*ResidualStepMM
			if u*u+v*v > zr2 || !g.occ[i*g.n+j] {
				continue
			}
			// Depth below the biconic: negative in front of it.
			if r := g.at(u, v); r < best {
				best, bu, bv = r, u, v
			}
		}
	}
	if -best*1000 < minUM {
		return 0, 0, 0, false
	}
	a := math.Atan2(bv, bu) * 180 / math.Pi
	if a < 0 {
		a += 360
	}
	return a, math.Hypot(bu, bv), -best * 1000, true
}
