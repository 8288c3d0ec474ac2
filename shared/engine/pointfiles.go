package engine

import (
	"fmt"
	"math"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/lathe"
	"github.com/lensflow/lensflow/shared/lens"
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
// specifies a front optic radius. Profiles are sampled densely enough that
// the file reproduces the design's sag at every chord to within
// lathe.DefaultTolUM (0.1 micron).
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
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	back := lathe.Surface{Side: lathe.Back, Meridians: ms, BaseCurveHMM: d.BOZRMM, BaseCurveVMM: d.BOZRMM,
		OpticZoneMM: d.BOZDMM, DiameterMM: d.TDMM, Parts: 1, SagMM: b.SagMM(first, rMax)}
	if b.Toric() {
		back.BaseCurveHMM, back.BaseCurveVMM = baseCurves(b)
	}
	data, err := lathe.Marshal(back)
	if err != nil {
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	files := []PointFile{{Name: lathe.FileName(id, lathe.Back), Side: lathe.Back, Points: len(ms[0].Points), Data: data}}

	if d.FrontRadiusMM > 0 && d.CentreThicknessMM > 0 {
		front, rj, err := frontProfile(d)
		if err != nil {
			return nil, errs.E(op, errs.Invalid, err)
		}
		pts, err := lathe.Sampler{Breaks: []float64{rj}}.Sample(front, rMax)
		if err != nil {
			return nil, errs.E(op, errs.KindOf(err), err)
		}
		fs := lathe.Surface{Side: lathe.Front, Meridians: []lathe.Meridian{{AngleDeg: 0, Points: pts}},
			BaseCurveHMM: d.FrontRadiusMM, BaseCurveVMM: d.FrontRadiusMM, OpticZoneMM: 2 * rj, DiameterMM: d.TDMM, Parts: 1,
			SagMM: front(rMax), CenterThicknessMM: d.CentreThicknessMM}
		data, err := lathe.Marshal(fs)
		if err != nil {
			return nil, errs.E(op, errs.KindOf(err), err)
		}
		files = append(files, PointFile{Name: lathe.FileName(id, lathe.Front), Side: lathe.Front, Points: len(pts), Data: data})
	}
	return files, nil
}

// frontProfile is the front surface as the lab cuts it: the front optic
// sphere over the optic zone (the BOZD), then a lenticular carrier that
// follows the back surface's flat meridian at the thickness reached at the
// junction, so a scleral or large corneal lens keeps a workable edge.
// It returns the profile and the junction semi-chord.
func frontProfile(d *lens.Design) (func(float64) float64, float64, error) {
	r := d.FrontRadiusMM
	rj := min(d.BOZDMM, d.TDMM) / 2
	if !(r > rj) {
		return nil, 0, fmt.Errorf("front radius %.3f mm is too steep for a %.2f mm front optic zone", r, 2*rj)
	}
	sphere := func(x float64) float64 { return r - math.Sqrt(r*r-x*x) }
	back := d.BackSurface.Func(d.FlatK.AxisDeg)
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
