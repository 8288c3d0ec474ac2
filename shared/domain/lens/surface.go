package lens

import (
	"math"
)

// Zone shapes.
const (
	// ShapeSphere: a sphere of RadiusMM centred on the lens axis, placed so
	// it continues the previous zone: z(r) = InnerSagMM + s(R, r) -
	// s(R, InnerMM), s the sphere's sag. The optic zone is the sphere with
	// InnerMM 0; each peripheral curve adds s(R, outer) - s(R, inner).
	ShapeSphere = "sphere"
	// ShapeCone: a straight line in profile at AngleDeg to the apex plane:
	// z(r) = InnerSagMM + tan(AngleDeg) (r - InnerMM).
	ShapeCone = "cone"
	// ShapeBlend: the cubic (Hermite) that joins the previous zone's end to
	// the next zone's start with the same height and slope at both ends:
	// InnerSagMM, OuterSagMM, InnerAngleDeg, AngleDeg (the outer angle).
	ShapeBlend = "blend"
)

// Zone is one annulus of a back-surface profile, between the semi-chords
// InnerMM and OuterMM.
type Zone struct {
	Name       string  `json:"name"` // "optic", "secondary", "peripheral", "reverse", "landing", "edge", "transition", "haptic"
	Shape      string  `json:"shape"`
	InnerMM    float64 `json:"inner_mm"`
	OuterMM    float64 `json:"outer_mm"`
	InnerSagMM float64 `json:"inner_sag_mm"`
	OuterSagMM float64 `json:"outer_sag_mm"`
	// RadiusMM is a sphere's radius.
	RadiusMM float64 `json:"radius_mm,omitempty"`
	// AngleDeg is a cone's angle, or a blend's angle at its outer end;
	// InnerAngleDeg a blend's angle at its inner end.
	AngleDeg      float64 `json:"angle_deg,omitempty"`
	InnerAngleDeg float64 `json:"inner_angle_deg,omitempty"`
}

// sag evaluates the zone at r (it extends the zone's formula beyond its
// ends).
func (z *Zone) sag(r float64) float64 {
	switch z.Shape {
	case ShapeSphere:
		return z.InnerSagMM + SphereSagMM(z.RadiusMM, r) - SphereSagMM(z.RadiusMM, z.InnerMM)
	case ShapeCone:
		return z.InnerSagMM + math.Tan(z.AngleDeg*math.Pi/180)*(r-z.InnerMM)
	case ShapeBlend:
		h := z.OuterMM - z.InnerMM
		t := (r - z.InnerMM) / h
		m0 := math.Tan(z.InnerAngleDeg*math.Pi/180) * h
		m1 := math.Tan(z.AngleDeg*math.Pi/180) * h
		t2, t3 := t*t, t*t*t
		return (2*t3-3*t2+1)*z.InnerSagMM + (t3-2*t2+t)*m0 + (-2*t3+3*t2)*z.OuterSagMM + (t3-t2)*m1
	}
	return math.NaN()
}

// sphereZone builds a sphere zone continuing from (inner, innerSag).
func sphereZone(name string, radiusMM, inner, outer, innerSag float64) Zone {
	z := Zone{Name: name, Shape: ShapeSphere, InnerMM: inner, OuterMM: outer, InnerSagMM: innerSag, RadiusMM: radiusMM}
	z.OuterSagMM = z.sag(outer)
	return z
}

func coneZone(name string, angleDeg, inner, outer, innerSag float64) Zone {
	z := Zone{Name: name, Shape: ShapeCone, InnerMM: inner, OuterMM: outer, InnerSagMM: innerSag, AngleDeg: angleDeg}
	z.OuterSagMM = z.sag(outer)
	return z
}

func blendZone(name string, inner, outer, innerSag, outerSag, innerAngleDeg, outerAngleDeg float64) Zone {
	return Zone{Name: name, Shape: ShapeBlend, InnerMM: inner, OuterMM: outer, InnerSagMM: innerSag,
		OuterSagMM: outerSag, InnerAngleDeg: innerAngleDeg, AngleDeg: outerAngleDeg}
}

// angleAt is the angle (degrees) of a zone's profile at r, by its formula.
func (z *Zone) angleAt(r float64) float64 {
	switch z.Shape {
	case ShapeSphere:
		return math.Asin(r/z.RadiusMM) * 180 / math.Pi
	case ShapeCone:
		return z.AngleDeg
	}
	const h = 1e-6
	return math.Atan((z.sag(r+h)-z.sag(r-h))/(2*h)) * 180 / math.Pi
}

// Profile is the back surface along one meridian: zones from the centre
// (r = 0) to the edge (r = TD/2), each starting where the previous ends.
type Profile struct {
	MeridianDeg float64 `json:"meridian_deg"`
	Zones       []Zone  `json:"zones"`
}

// SagMM returns the profile's sag (mm) at semi-chord r (mm). Beyond the
// edge the last zone's formula continues; r is taken as |r|.
func (p *Profile) SagMM(r float64) float64 {
	r = math.Abs(r)
	for i := range p.Zones {
		if r <= p.Zones[i].OuterMM || i == len(p.Zones)-1 {
			return p.Zones[i].sag(r)
		}
	}
	return math.NaN()
}

// EdgeMM returns the profile's outer semi-chord (TD/2).
func (p *Profile) EdgeMM() float64 {
	if len(p.Zones) == 0 {
		return 0
	}
	return p.Zones[len(p.Zones)-1].OuterMM
}

// BackSurface is a lens's back surface: one profile for a rotationally
// symmetric lens, or the profiles along its two principal meridians (the
// first the flatter, with less sag) for a toric one.
type BackSurface struct {
	Profiles []Profile `json:"profiles"`
}

// Toric reports whether the surface differs between meridians.
func (b *BackSurface) Toric() bool { return len(b.Profiles) > 1 }

// SagMM returns the back surface's sag (mm) at semi-chord r (mm) along a
// meridian (TABO degrees). A toric surface is interpolated between its
// principal meridians as a toric lathe cuts it: z = z1 cos^2(a) + z2
// sin^2(a), a the angle from the first profile's meridian. A rotationally
// symmetric surface ignores the meridian.
func (b *BackSurface) SagMM(meridianDeg, r float64) float64 {
	switch len(b.Profiles) {
	case 0:
		return math.NaN()
	case 1:
		return b.Profiles[0].SagMM(r)
	}
	p, q := &b.Profiles[0], &b.Profiles[1]
	a := (meridianDeg - p.MeridianDeg) * math.Pi / 180
	c := math.Cos(a)
	w := c * c
	if w == 1 {
		return p.SagMM(r)
	}
	if w < 1e-30 {
		return q.SagMM(r)
	}
	return w*p.SagMM(r) + (1-w)*q.SagMM(r)
}

// Func returns the profile along a meridian as a function of r, the shape
// a lathe point file samples.
func (b *BackSurface) Func(meridianDeg float64) func(rMM float64) float64 {
	return func(r float64) float64 { return b.SagMM(meridianDeg, r) }
}

// EdgeMM returns the surface's outer semi-chord (TD/2).
func (b *BackSurface) EdgeMM() float64 {
	if len(b.Profiles) == 0 {
		return 0
	}
	return b.Profiles[0].EdgeMM()
}

// Samples is a profile sampled densely: r from 0 to the edge and z(r).
type Samples struct {
	MeridianDeg float64   `json:"meridian_deg"`
	RMM         []float64 `json:"r_mm"`
	SagMM       []float64 `json:"sag_mm"`
}

// Sample returns n+1 evenly spaced samples (n >= 1) of the surface along
// a meridian from the centre to the edge.
func (b *BackSurface) Sample(meridianDeg float64, n int) Samples {
	n = max(n, 1)
	s := Samples{MeridianDeg: meridianDeg, RMM: make([]float64, n+1), SagMM: make([]float64, n+1)}
	edge := b.EdgeMM()
	for i := range n + 1 {
		r := edge * float64(i) / float64(n)
		s.RMM[i], s.SagMM[i] = r, b.SagMM(meridianDeg, r)
	}
	return s
}
