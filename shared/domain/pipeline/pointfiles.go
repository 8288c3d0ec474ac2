package pipeline

import (
	"fmt"
	"math"

	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/errs"
)

// PointFile is one lathe point file of a design.
type PointFile struct {
	Name   string // e.g. "<id>.V5B"; ids are opaque, never PHI
	Side   lathe.Side
	Points int // points per meridian
	Data   []byte
}

// ToricMeridians is how many meridians a toric back surface is cut from:
// the principal meridians at both ends (0, 90, 180 and 270 degrees from
// the flat axis), equally spaced as the point file requires.
const ToricMeridians = 4

// PointFiles builds the lathe point files of design d under id: the back
// surface (.V5B) always, and the front surface (.V5F) when the design
// specifies a front optic radius. A toric back surface is cut from
// ToricMeridians meridians; so is the front of a lens whose front radius
// differs between its principal meridians (d.Meridians, a bitoric RGP).
// Profiles are sampled densely enough that the file reproduces the
// design's sag at every chord to within lathe.DefaultTolUM (0.1 micron).
func PointFiles(id string, d *lens.Design) ([]PointFile, error) {
	const op = "engine.PointFiles"
	b := &d.BackSurface
	rMax := b.EdgeMM()
	if !(rMax > 0) {
		return nil, errs.Ef(op, errs.Invalid, "the design has no back surface")
	}
	var breaks []float64
	for _, p := range b.Profiles {
		for _, z := range p.Zones {
			breaks = append(breaks, z.OuterMM)
		}
	}
	s := lathe.Sampler{Breaks: breaks}
	n, first := 1, 0.0
	if b.Toric() {
		n, first = ToricMeridians, b.Profiles[0].MeridianDeg
	}
	ms, err := s.Meridians(b.SagMM, n, first, rMax)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	back := lathe.Surface{Side: lathe.Back, Meridians: ms, BaseCurveHMM: d.BOZRMM, BaseCurveVMM: d.BOZRMM,
		OpticZoneMM: d.BOZDMM, DiameterMM: d.TDMM, Parts: 1, SagMM: b.SagMM(first, rMax)}
	if b.Toric() {
		back.BaseCurveHMM, back.BaseCurveVMM = baseCurves(b)
	}
	data, err := lathe.Marshal(back)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	files := []PointFile{{Name: lathe.FileName(id, lathe.Back), Side: lathe.Back, Points: len(ms[0].Points), Data: data}}

	if d.FrontRadiusMM > 0 && d.CentreThicknessMM > 0 {
		pf, err := frontFile(id, d, breaks)
		if err != nil {
			return nil, errs.Wrap(op, err)
		}
		files = append(files, pf)
	}
	return files, nil
}

// frontFile samples the front surface: one meridian, or ToricMeridians
// from the first principal meridian when the front is toric.
func frontFile(id string, d *lens.Design, backBreaks []float64) (PointFile, error) {
	const op = "engine.PointFiles"
	rMax := d.BackSurface.EdgeMM()
	sag, rj, err := FrontSurface(d)
	if err != nil {
		return PointFile{}, err
	}
	n, first := 1, 0.0
	h, v := d.FrontRadiusMM, d.FrontRadiusMM
	breaks := []float64{rj}
	if frontToric(d) {
		n, first = ToricMeridians, d.Meridians[0].MeridianDeg
		h, v = frontRadiusAt(d, 0), frontRadiusAt(d, 90)
		// Outside the optic zone the front follows the back, kinks and all.
		breaks = append(breaks, backBreaks...)
	}
	ms, err := lathe.Sampler{Breaks: breaks}.Meridians(sag, n, first, rMax)
	if err != nil {
		return PointFile{}, errs.Wrap(op, err)
	}
	fs := lathe.Surface{Side: lathe.Front, Meridians: ms,
		BaseCurveHMM: h, BaseCurveVMM: v, OpticZoneMM: 2 * rj, DiameterMM: d.TDMM, Parts: 1,
		SagMM: sag(first, rMax), CenterThicknessMM: d.CentreThicknessMM}
	data, err := lathe.Marshal(fs)
	if err != nil {
		return PointFile{}, errs.Wrap(op, err)
	}
	return PointFile{Name: lathe.FileName(id, lathe.Front), Side: lathe.Front, Points: len(ms[0].Points), Data: data}, nil
}

// frontToric reports whether the design's front radius differs between
// its principal meridians.
func frontToric(d *lens.Design) bool {
	return len(d.Meridians) == 2 && d.Meridians[0].FrontRadiusMM != d.Meridians[1].FrontRadiusMM
}

// frontRadiusAt is the front optic radius along a principal meridian of a
// toric front: the meridian's own, interpolated as the surface is
// (information only, for the file header).
func frontRadiusAt(d *lens.Design, meridianDeg float64) float64 {
	a := (meridianDeg - d.Meridians[0].MeridianDeg) * math.Pi / 180
	w := math.Cos(a) * math.Cos(a)
	return w*d.Meridians[0].FrontRadiusMM + (1-w)*d.Meridians[1].FrontRadiusMM
}

// FrontSurface is the front surface the lathe cuts for design d, as a sag
// from its own vertex (z = 0 at the centre) along any meridian, and the
// semi-chord of its optic zone. Along a meridian it is frontProfile's; a
// toric front (a front radius per principal meridian, d.Meridians) is
// interpolated between its principal meridians as a toric back surface is:
// z = z1 cos^2(a) + z2 sin^2(a), a the angle from the first.
func FrontSurface(d *lens.Design) (lathe.SagFunc, float64, error) {
	if !frontToric(d) {
		f, rj, err := frontProfile(d, d.FlatK.AxisDeg, d.FrontRadiusMM)
		if err != nil {
			return nil, 0, errs.E("engine.FrontSurface", errs.Invalid, err)
		}
		return func(_, r float64) float64 { return f(r) }, rj, nil
	}
	var fs [2]func(float64) float64
	var rj float64
	for i, m := range d.Meridians {
		f, j, err := frontProfile(d, m.MeridianDeg, m.FrontRadiusMM)
		if err != nil {
			return nil, 0, errs.E("engine.FrontSurface", errs.Invalid, fmt.Errorf("meridian %g: %w", m.MeridianDeg, err))
		}
		fs[i], rj = f, j
	}
	first := d.Meridians[0].MeridianDeg
	return func(meridianDeg, r float64) float64 {
		a := (meridianDeg - first) * math.Pi / 180
		c := math.Cos(a)
		w := c * c
		if w == 1 {
			return fs[0](r)
		}
		if w < 1e-30 {
			return fs[1](r)
		}
		return w*fs[0](r) + (1-w)*fs[1](r)
	}, rj, nil
}

// frontProfile is the front surface along a meridian as the lab cuts it:
// the front optic sphere of radius r over the optic zone (the BOZD), then
// a lenticular carrier that follows the back surface along the meridian
// at the thickness reached at the junction, so a scleral or large corneal
// lens keeps a workable edge. A front with one radius follows the back's
// flat meridian all round. It returns the profile and the junction
// semi-chord.
func frontProfile(d *lens.Design, meridianDeg, r float64) (func(float64) float64, float64, error) {
	rj := min(d.BOZDMM, d.TDMM) / 2
	if !(r > rj) {
		return nil, 0, fmt.Errorf("front radius %.3f mm is too steep for a %.2f mm front optic zone", r, 2*rj)
	}
	sphere := func(x float64) float64 { return r - math.Sqrt(r*r-x*x) }
	back := d.BackSurface.Func(meridianDeg)
	if !d.BackSurface.Toric() {
		back = d.BackSurface.Func(0)
	}
	shift := sphere(rj) - back(rj)
	if t := d.CentreThicknessMM + back(rj) - sphere(rj); !(t > 0) {
		return nil, 0, fmt.Errorf("the lens would be %.3f mm thick at the edge of the front optic zone", t)
	}
	return func(x float64) float64 {
		if x <= rj {
			return sphere(x)
		}
		return back(x) + shift
	}, rj, nil
}

// baseCurves are the optic radii along the horizontal and vertical
// meridians of a toric back surface (information only in the header).
func baseCurves(b *lens.BackSurface) (h, v float64) {
	radius := func(meridianDeg float64) float64 {
		// The apical radius of the profile: r^2 / (2 z) near the centre.
		const x = 0.5
		z := b.SagMM(meridianDeg, x)
		return (x*x + z*z) / (2 * z)
	}
	return radius(0), radius(90)
}
