// Package lenstest provides eyes for testing lens designs: a biconic cornea
// (a conic per principal meridian) that is "measured" out to a chosen
// radius and extrapolated beyond it by the tangent line from the 10 mm
// chord, as Medmont's extrapolated sagittal height does for scleral work.
// It is real code, deterministic, and implements lens.Eye without
// importing package lens.
package lenstest

import (
	"fmt"
	"math"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/errs"
)

// Source labels returned by Biconic.SagMM.
const (
	SourceMeasured     = "measured"
	SourceTangentLine  = "extrapolated: tangent line from the 10 mm chord"
	defaultMeasuredMM  = 5.0 // the 10 mm chord
	defaultFlatAxisDeg = 180
)

// Biconic is a toric (biconic) cornea: Flat along FlatAxisDeg, Steep 90
// degrees away. The zero value of MeasuredRadiusMM means 5 mm (data to the
// 10 mm chord); beyond it the sag follows the tangent line at that radius.
// Between the principal meridians the biconic surface
//
//	z = (cf x^2 + cs y^2) / (1 + sqrt(1 - pf cf^2 x^2 - ps cs^2 y^2))
//
// is evaluated along the meridian (x along the flat axis), so a
// rotationally symmetric eye is simply Flat == Steep.
type Biconic struct {
	Flat, Steep      cornea.Conic // only R0MM and P are used
	FlatAxisDeg      float64      // TABO, 0-180; 0 means 180 (horizontal)
	MeasuredRadiusMM float64      // semi-chord measured; 0 means 5 mm
}

// Reference is the handbook's reference cornea: R0 7.80 mm, e 0.5 in every
// meridian, flat axis 180.
func Reference() Biconic {
	c := cornea.Conic{R0MM: 7.80, P: cornea.PFromE(0.5)}
	return Biconic{Flat: c, Steep: c}
}

// Toric is the handbook's toric cornea: 7.80 mm along 180 and 7.60 mm along
// 90, both Q -0.25.
func Toric() Biconic {
	return Biconic{Flat: cornea.Conic{R0MM: 7.80, P: 0.75}, Steep: cornea.Conic{R0MM: 7.60, P: 0.75}}
}

func (b Biconic) axis() float64 {
	if b.FlatAxisDeg == 0 {
		return defaultFlatAxisDeg
	}
	return b.FlatAxisDeg
}

func (b Biconic) measured() float64 {
	if b.MeasuredRadiusMM == 0 {
		return defaultMeasuredMM
	}
	return b.MeasuredRadiusMM
}

// FlatK returns the flat meridian's apical radius and axis.
func (b Biconic) FlatK() (radiusMM, axisDeg float64) { return b.Flat.R0MM, b.axis() }

// SteepK returns the steep meridian's apical radius and axis.
func (b Biconic) SteepK() (radiusMM, axisDeg float64) {
	a := b.axis() + 90
	if a > 180 {
		a -= 180
	}
	return b.Steep.R0MM, a
}

// coefficients returns A and B of z = A rho^2 / (1 + sqrt(1 - B rho^2))
// along the meridian.
func (b Biconic) coefficients(meridianDeg float64) (a, bb float64) {
	phi := (meridianDeg - b.axis()) * math.Pi / 180
	c2, s2 := math.Cos(phi)*math.Cos(phi), math.Sin(phi)*math.Sin(phi)
	cf, cs := 1/b.Flat.R0MM, 1/b.Steep.R0MM
	return cf*c2 + cs*s2, b.Flat.P*cf*cf*c2 + b.Steep.P*cs*cs*s2
}

func (b Biconic) model(op string, meridianDeg, rho float64) (z, slope float64, err error) {
	if !(b.Flat.R0MM > 0) || !(b.Steep.R0MM > 0) {
		return 0, 0, errs.Ef(op, errs.Invalid, "biconic needs positive radii")
	}
	a, bb := b.coefficients(meridianDeg)
	disc := 1 - bb*rho*rho
	if !(disc > 0) {
		return 0, 0, errs.Ef(op, errs.Invalid, "a %.2f mm chord exceeds the cornea model along meridian %g", 2*rho, meridianDeg)
	}
	s := math.Sqrt(disc)
	return a * rho * rho / (1 + s), a * rho / s, nil
}

// SagMM returns the sag at a chord (diameter, mm) along a meridian, and
// whether it was measured or extrapolated by the tangent line.
func (b Biconic) SagMM(meridianDeg, chordMM float64) (float64, string, error) {
	const op = "lenstest.Biconic.SagMM"
	rho := chordMM / 2
	if !(rho >= 0) || math.IsInf(rho, 0) {
		return 0, "", errs.Field(op, "chordMM", "must be a finite, non-negative number of mm")
	}
	m := b.measured()
	if rho <= m {
		z, _, err := b.model(op, meridianDeg, rho)
		return z, SourceMeasured, err
	}
	z, slope, err := b.model(op, meridianDeg, m)
	if err != nil {
		return 0, "", err
	}
	src := SourceTangentLine
	if m != defaultMeasuredMM {
		src = fmt.Sprintf("extrapolated: tangent line from the %g mm chord", 2*m)
	}
	return z + slope*(rho-m), src, nil
}

// TangentAngleDeg returns the angle of the surface tangent at a semi-chord
// (mm) along a meridian; beyond the measured radius that of the tangent line.
func (b Biconic) TangentAngleDeg(meridianDeg, semiChordMM float64) (float64, error) {
	const op = "lenstest.Biconic.TangentAngleDeg"
	if !(semiChordMM >= 0) || math.IsInf(semiChordMM, 0) {
		return 0, errs.Field(op, "semiChordMM", "must be a finite, non-negative number of mm")
	}
	_, slope, err := b.model(op, meridianDeg, min(semiChordMM, b.measured()))
	if err != nil {
		return 0, err
	}
	return math.Atan(slope) * 180 / math.Pi, nil
}
