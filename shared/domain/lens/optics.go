package lens

import "math"

// VertexD moves a spectacle refraction F (D) worn at vertexMM in front of
// the cornea to the corneal plane: F / (1 - d F), d in metres.
func VertexD(powerD, vertexMM float64) float64 {
	return powerD / (1 - vertexMM/1000*powerD)
}

// TearLensD is the power of the tear lens between a lens back optic zone
// radius and the flat corneal radius (mm): (n - 1) * 1000 * (1/BOZR -
// 1/K), with the tear index n (1.336 gives the handbook's 336).
func TearLensD(bozrMM, flatKMM, tearIndex float64) float64 {
	return (tearIndex - 1) * 1000 * (1/bozrMM - 1/flatKMM)
}

// SphereSagMM is the sag (mm) of a sphere of radius rMM at a semi-chord
// (mm), written y^2 / (R + sqrt(R^2 - y^2)) to keep precision; NaN where
// the sphere does not reach.
func SphereSagMM(radiusMM, semiChordMM float64) float64 {
	y2 := semiChordMM * semiChordMM
	return y2 / (radiusMM + math.Sqrt(radiusMM*radiusMM-y2))
}

// FrontRadiusMM returns the front optic radius (mm) that gives a lens of
// back vertex power powerD (in air) with back optic zone radius bozrMM,
// centre thickness ctMM and refractive index n. Thick lens, surface powers
// in dioptres with radii in metres:
//
//	F2  = (1 - n) / r2                      back surface (r2 = BOZR)
//	Fv  = F1 / (1 - (t/n) F1) + F2          back vertex power
//	F1  = X / (1 + (t/n) X),  X = Fv - F2   solved for the front surface
//	r1  = (n - 1) / F1
//
// It returns NaN if no convex front surface gives that power.
func FrontRadiusMM(powerD, bozrMM, ctMM, n float64) float64 {
	f2 := (1 - n) * 1000 / bozrMM
	x := powerD - f2
	tn := ctMM / 1000 / n
	f1 := x / (1 + tn*x)
	if !(f1 > 0) || 1+tn*x <= 0 {
		return math.NaN()
	}
	return (n - 1) * 1000 / f1
}

// BackVertexPowerD is the inverse of FrontRadiusMM: the back vertex power
// (D, in air) of a lens with front radius r1MM, back radius r2MM, centre
// thickness ctMM and index n.
func BackVertexPowerD(r1MM, r2MM, ctMM, n float64) float64 {
	f1 := (n - 1) * 1000 / r1MM
	f2 := (1 - n) * 1000 / r2MM
	return f1/(1-ctMM/1000/n*f1) + f2
}

// RoundToStep rounds v to the nearest multiple of step (0 leaves v
// alone), as a lab rounds a lens parameter (BOZR, TD, sag, power) to its
// step: exactly for steps whose reciprocal is whole (0.01, 0.25), dividing
// by the reciprocal so that 8.54 prints as 8.54.
func RoundToStep(v, step float64) float64 {
	if step <= 0 {
		return v
	}
	k := 1 / step
	if rk := math.Round(k); math.Abs(k-rk) < 1e-9 {
		return math.Round(v*rk) / rk
	}
	return math.Round(v/step) * step
}

// roundUpTo rounds v up to the next multiple of step (a value already on a
// multiple, within 1e-9, stays).
func roundUpTo(v, step float64) float64 {
	if step <= 0 {
		return v
	}
	k := 1 / step
	if rk := math.Round(k); math.Abs(k-rk) < 1e-9 {
		return math.Ceil(v*rk-1e-9) / rk
	}
	return math.Ceil(v/step-1e-9) * step
}
