package cornea

import "math"

// Pose places a cornea on a map. Topographers centre their maps on the
// instrument axis, not on the corneal apex: the apex sits some tenths of a
// millimetre away and the cornea is tilted by a degree or two. A point q
// = (u, v, w) of the cornea's own frame (apex at the origin, w the depth
// below the apex tangent plane along the corneal axis) lies on the map at
//
//	p = a + Ry(beta) Rx(alpha) q
//
// with a = (XMM, YMM, ZMM) the apex on the map, Ry(beta) the rotation that
// leans the corneal axis by TiltXDeg towards +x (beta = TiltXDeg) and
// Rx(alpha) the one that leans it by TiltYDeg towards +y (alpha =
// -TiltYDeg). Fits take the pose as free parameters unless told to hold
// the apex at the map centre; every model of the package is expressed in
// the cornea's own frame, so sags, angles and curvatures are those of the
// cornea, not of how it sat in front of the instrument.
type Pose struct {
	XMM, YMM, ZMM      float64 // the apex on the map, mm (ZMM: its depth below the map's z = 0)
	TiltXDeg, TiltYDeg float64 // the corneal axis leans by these towards +x and +y, degrees
}

// TiltDeg returns the angle between the corneal axis and the map's z
// axis, degrees.
func (p Pose) TiltDeg() float64 {
	ca, cb := math.Cos(p.TiltYDeg*math.Pi/180), math.Cos(p.TiltXDeg*math.Pi/180)
	return math.Acos(min(1, ca*cb)) * 180 / math.Pi
}

// TiltAxisDeg returns the direction (TABO degrees, 0-360, counterclockwise
// from the examiner's right) towards which the corneal axis leans; 0 for
// an untilted cornea.
func (p Pose) TiltAxisDeg() float64 {
	if p.TiltXDeg == 0 && p.TiltYDeg == 0 {
		return 0
	}
	// The axis direction R (0, 0, 1) has x and y components sin(beta)
	// cos(alpha) and -sin(alpha).
	a, b := -p.TiltYDeg*math.Pi/180, p.TiltXDeg*math.Pi/180
	d := math.Atan2(-math.Sin(a), math.Sin(b)*math.Cos(a)) * 180 / math.Pi
	if d < 0 {
		d += 360
	}
	return d
}

// DecentrationMM returns how far the apex lies from the map centre, mm.
func (p Pose) DecentrationMM() float64 { return math.Hypot(p.XMM, p.YMM) }

// frame is a pose ready to move points: its rotation's sines and cosines.
type frame struct {
	x0, y0, z0     float64
	ca, sa, cb, sb float64
}

func (p Pose) frame() frame {
	a, b := -p.TiltYDeg*math.Pi/180, p.TiltXDeg*math.Pi/180
	return frameOf(p.XMM, p.YMM, p.ZMM, a, b)
}

func frameOf(x0, y0, z0, alpha, beta float64) frame {
	sa, ca := math.Sincos(alpha)
	sb, cb := math.Sincos(beta)
	return frame{x0: x0, y0: y0, z0: z0, ca: ca, sa: sa, cb: cb, sb: sb}
}

// own returns the point (x, y, z) of the map in the cornea's frame, and
// ez, the intermediate (Ry' d).z that the tilt derivatives need.
func (f *frame) own(x, y, z float64) (u, v, w, ez float64) {
	dx, dy, dz := x-f.x0, y-f.y0, z-f.z0
	ez = f.sb*dx + f.cb*dz
	u = f.cb*dx - f.sb*dz
	v = f.ca*dy + f.sa*ez
	w = -f.sa*dy + f.ca*ez
	return u, v, w, ez
}

// toMap returns the point (u, v, w) of the cornea's frame on the map.
func (f *frame) toMap(u, v, w float64) (x, y, z float64) {
	// Rx(alpha) then Ry(beta).
	ey := f.ca*v - f.sa*w
	ez := f.sa*v + f.ca*w
	return f.x0 + f.cb*u + f.sb*ez, f.y0 + ey, f.z0 - f.sb*u + f.cb*ez
}

// place returns a point of the map in the cornea's frame, as own does;
// an untilted frame (tilted false: no tilt, none being fitted) only shifts
// it, at less cost.
func (f *frame) place(x, y, z float64, tilted bool) (u, v, w, ez float64) {
	if tilted {
		return f.own(x, y, z)
	}
	return x - f.x0, y - f.y0, z - f.z0, 0
}

// grads is poseGrads, or for an untilted frame the derivatives of a
// shift alone (and none for the tilt, which is held).
func (f *frame) grads(tilted bool, u, v, w, ez, fu, fv float64) (gx, gy, gz, ga, gb float64) {
	if tilted {
		return f.poseGrads(u, v, w, ez, fu, fv)
	}
	return -fu, -fv, 1, 0, 0
}

// poseGrads returns the derivatives of the model height (the depth a
// cornea f places at the point, in the point's own frame) with respect to
// the pose parameters x0, y0, z0, alpha and beta, for the residual w -
// f(u, v), given the cornea's slopes fu = df/du and fv = df/dv there.
func (f *frame) poseGrads(u, v, w, ez, fu, fv float64) (gx, gy, gz, ga, gb float64) {
	gx = f.ca*f.sb - fu*f.cb - fv*f.sa*f.sb
	gy = -f.sa - fv*f.ca
	gz = f.ca*f.cb + fu*f.sb - fv*f.sa*f.cb
	ga = v + fv*w
	gb = -f.ca*u - fu*ez + fv*f.sa*u
	return gx, gy, gz, ga, gb
}
