package topo

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

// Height signs, for Options.HeightSign.
const (
	// HeightSignDepth: heights are depth below the apex tangent plane,
	// positive into the eye (the canonical z).
	HeightSignDepth = "depth"
	// HeightSignElevation: heights are elevations, negative below the
	// apex; they are negated to depth.
	HeightSignElevation = "elevation"
)

// The sign of apex-referenced heights is judged from the points at least
// signRadiusMM from the map centre, where even a decentred, tilted cornea
// has fallen well away from its apex (2 mm from the apex a 7.8 mm cornea
// is 0.26 mm deep; a 2 degree tilt moves it by 0.07 mm).
const (
	signRadiusMM  = 2.0
	signMinPoints = 8
)

// signVerdict is what the content says about the sign of its heights.
type signVerdict int

const (
	signUnclear   signVerdict = iota
	signDepth                 // heights grow away from the centre
	signElevation             // heights fall away from the centre
)

// contentSign judges the sign of s's heights. Beyond signRadiusMM, one sign
// throughout is clear, and so is a mixture whose mean is at least its
// standard deviation (a few stray points); a mixture with a smaller mean
// is not. With fewer than signMinPoints points that far out, every point
// off the centre must share one sign. why says what is unclear.
func contentSign(s *Surface) (v signVerdict, why string) {
	var (
		n, pos, neg int
		sum, sumSq  float64
	)
	for i := range s.X {
		if s.X[i]*s.X[i]+s.Y[i]*s.Y[i] < signRadiusMM*signRadiusMM {
			continue
		}
		z := s.Z[i]
		n++
		sum += z
		sumSq += z * z
		if z > 0 {
			pos++
		} else if z < 0 {
			neg++
		}
	}
	if n >= signMinPoints {
		switch {
		case neg == 0 && pos > 0:
			return signDepth, ""
		case pos == 0 && neg > 0:
			return signElevation, ""
		case pos == 0 && neg == 0:
			return signUnclear, "the heights beyond 2 mm from the centre are all zero"
		}
		mean := sum / float64(n)
		sd := math.Sqrt(max(sumSq/float64(n)-mean*mean, 0))
		switch {
		case math.Abs(mean) < sd:
			return signUnclear, "the heights beyond 2 mm from the centre are of both signs, with a mean small against their spread"
		case mean > 0:
			return signDepth, ""
		}
		return signElevation, ""
	}
	pos, neg = 0, 0
	for i := range s.X {
		if s.X[i] == 0 && s.Y[i] == 0 {
			continue
		}
		if s.Z[i] > 0 {
			pos++
		} else if s.Z[i] < 0 {
			neg++
		}
	}
	switch {
	case neg == 0 && pos > 0:
		return signDepth, ""
	case pos == 0 && neg > 0:
		return signElevation, ""
	}
	return signUnclear, "there are too few heights 2 mm or more from the centre, and those nearer it are not all of one sign"
}

// heightSignOption checks Options.HeightSign.
// vendorStart is what every vendor format's Parse does first: the options'
// defaults, the refusal of binary data, and the height sign asked for.
func vendorStart(op string, data []byte, opts Options) (Options, string, error) {
	opts = opts.withDefaults()
	if hasNUL(data) {
		return opts, "", errs.Ef(op, errs.Invalid, "not a text file")
	}
	sign, err := heightSignOption(op, opts)
	return opts, sign, err
}

func heightSignOption(op string, opts Options) (string, error) {
	switch opts.HeightSign {
	case "", HeightSignDepth, HeightSignElevation:
		return opts.HeightSign, nil
	}
	return "", errs.Field(op, "heightSign", "must be %q or %q", HeightSignDepth, HeightSignElevation)
}

// heightSignHelp is how every sign refusal says what settles it, in the
// upload's query parameter (lenscalc says its own flag instead).
const heightSignHelp = `set heightSign to "depth" (heights positive into the eye) or "elevation" (negative below the apex)`

// settleSign turns the apex-referenced heights of s into depth: it judges
// their sign from the content, checks it against the stated sign (stated
// is HeightSign, already checked), negates elevations and appends to
// s.Layout what it found. A content that does not tell, with nothing
// stated, is an errs.Invalid error on the field heightSign; so is a
// statement that contradicts a clear content.
func settleSign(op string, s *Surface, stated string) error {
	v, why := contentSign(s)
	switch {
	case v == signUnclear && stated == "":
		return errs.Field(op, "heightSign", "cannot tell the sign of the heights: %s; %s", why, heightSignHelp)
	case v == signDepth && stated == HeightSignElevation:
		return errs.Field(op, "heightSign", "says elevation, but the heights grow away from the centre as depths positive into the eye do; leave heightSign empty or set it to depth")
	case v == signElevation && stated == HeightSignDepth:
		return errs.Field(op, "heightSign", "says depth, but the heights fall away from the centre as elevations negative below the apex do; leave heightSign empty or set it to elevation")
	}
	elevation := v == signElevation || v == signUnclear && stated == HeightSignElevation
	if elevation {
		for i, z := range s.Z {
			s.Z[i] = -z
		}
		s.Layout = append(s.Layout, LayoutElevation)
	} else {
		s.Layout = append(s.Layout, LayoutDepth)
	}
	if v == signUnclear {
		s.Layout = append(s.Layout, LayoutSignFromOption)
	}
	return nil
}

// checkBFSSign refuses BFS-referenced heights that, turned into depth, fall
// away from the centre: the file's elevations must then have had the
// opposite sign (positive below the sphere), which no statement fixes.
func checkBFSSign(op string, s *Surface) error {
	if v, _ := contentSign(s); v == signElevation {
		return errs.Ef(op, errs.Invalid, "heights fall away from the centre once the best-fit sphere is added back: the file's elevations seem to be positive below the sphere, the opposite of the convention")
	}
	return nil
}
