package lathe

import (
	"bytes"
	"math"
	"strconv"

	"github.com/lensflow/lensflow/shared/errs"
)

const opParse = "lathe.Parse"

// Parse reads a DAC ALM point file (.V5B or .V5F, the side is taken from
// its first value line) into a Surface, so that a written file can be read
// back and checked (see Verify). It accepts LF or CRLF line endings, a
// UTF-8 byte order mark, blank lines, comment lines anywhere, and a
// rotationally symmetric file whose angular filtering, meridian count and
// rotation angle lines are commented out (as some writers do; they then
// default to 0, 1 and 0). Only one continuous surface is supported.
//
// Values are rounded to ten decimals, the file's resolution, so that
// writing the result reproduces them exactly. The result satisfies
// Surface.Validate. On a front surface file the
// centre thickness is the z of the centre point and is subtracted from
// every z, so the Surface holds the design's sag. Errors are errs.Invalid
// and name the line ("line 17").
func Parse(data []byte) (Surface, error) {
	p := parser{r: lineReader{data: bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))}}
	s, err := p.parse()
	if err != nil {
		return Surface{}, err
	}
	if err := s.Validate(); err != nil { // a safety net: parse checks each rule with its line
		return Surface{}, errs.E(opParse, errs.Invalid, err)
	}
	return s, nil
}

type parser struct {
	r lineReader
	// radial is set when the "--- radial definition ---" comment has been
	// passed since the last value line.
	radial bool
	// centreLines holds the line number of each meridian's centre point.
	centreLines []int
}

// value returns the next value line's value (the text before any "\",
// trimmed) and its line number.
func (p *parser) value(what string) ([]byte, int, error) {
	v, num, ok := p.nextValue()
	if !ok {
		return nil, 0, errs.Field(opParse, "end of file", "the file ends before the %s", what)
	}
	return v, num, nil
}

// nextValue is value without the error: ok is false at the end of the file.
func (p *parser) nextValue() ([]byte, int, bool) {
	p.radial = false
	for {
		line, num, ok := p.r.next()
		if !ok {
			return nil, 0, false
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] == '\\' {
			if bytes.Contains(line, []byte("radial definition")) {
				p.radial = true
			}
			continue
		}
		if i := bytes.IndexByte(line, '\\'); i >= 0 {
			line = bytes.TrimSpace(line[:i])
		}
		return line, num, true
	}
}

func (p *parser) int(what string, lo, hi int) (int, int, error) {
	v, num, err := p.value(what)
	if err != nil {
		return 0, 0, err
	}
	n, err := parseInt(v, num, what, lo, hi)
	return n, num, err
}

func parseInt(v []byte, num int, what string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, errs.Field(opParse, lineField(num), "%s %q is not a whole number", what, clip(v))
	}
	if n < lo || n > hi {
		return 0, errs.Field(opParse, lineField(num), "%s %d is not in [%d, %d]", what, n, lo, hi)
	}
	return n, nil
}

func (p *parser) float(what string, lo, hi float64) (float64, int, error) {
	v, num, err := p.value(what)
	if err != nil {
		return 0, 0, err
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, 0, errs.Field(opParse, lineField(num), "%s %q is not a number", what, clip(v))
	}
	f = round10(f)
	if !(f >= lo && f <= hi) {
		return 0, 0, errs.Field(opParse, lineField(num), "%s %g is not in [%g, %g]", what, f, lo, hi)
	}
	return f, num, nil
}

func (p *parser) parse() (Surface, error) {
	var s Surface
	v, num, err := p.value("side marker")
	if err != nil {
		return s, err
	}
	switch string(v) {
	case "BR":
		s.Side = Back
	case "FR":
		s.Side = Front
	default:
		return s, errs.Field(opParse, lineField(num), "side marker %q is neither BR (back) nor FR (front)", clip(v))
	}
	sym, _, err := p.int("rotational symmetry flag", 0, 1)
	if err != nil {
		return s, err
	}
	if _, _, err = p.int("number of continuous surfaces", 1, 1); err != nil {
		return s, err
	}
	if s.BaseCurveHMM, _, err = p.float("horizontal base curve radius", 0, MaxAbsMM); err != nil {
		return s, err
	}
	if s.BaseCurveVMM, _, err = p.float("vertical base curve radius", 0, MaxAbsMM); err != nil {
		return s, err
	}
	var ozLine int
	if s.OpticZoneMM, ozLine, err = p.float("optic zone diameter", 0, MaxAbsMM); err != nil {
		return s, err
	}
	var diaLine int
	if s.DiameterMM, diaLine, err = p.float("lens diameter", 0, MaxAbsMM); err != nil {
		return s, err
	}
	if !(s.DiameterMM > 0) {
		return s, errs.Field(opParse, lineField(diaLine), "lens diameter must be positive")
	}
	if s.OpticZoneMM > s.DiameterMM {
		return s, errs.Field(opParse, lineField(ozLine), "optic zone diameter %g mm is larger than the lens diameter %g mm", s.OpticZoneMM, s.DiameterMM)
	}
	if s.Parts, _, err = p.int("number of parts to cut", 1, MaxParts); err != nil {
		return s, err
	}
	if s.SagMM, _, err = p.float("sag", -MaxAbsMM, MaxAbsMM); err != nil {
		return s, err
	}

	// The surface definition.
	surfSym, num, err := p.int("surface rotational symmetry flag", 0, 1)
	if err != nil {
		return s, err
	}
	if surfSym != sym {
		return s, errs.Field(opParse, lineField(num), "surface symmetry flag %d disagrees with the header's %d", surfSym, sym)
	}
	xStart, xStartLine, err := p.float("x start", 0, MaxAbsMM)
	if err != nil {
		return s, err
	}
	if xStart > s.DiameterMM/2+1e-6 {
		return s, errs.Field(opParse, lineField(xStartLine), "x start %g mm is beyond the lens edge at %g mm", xStart, s.DiameterMM/2)
	}
	if _, _, err = p.float("x end", 0, 0); err != nil {
		return s, err
	}
	if s.BlendRadiusMM, _, err = p.float("junction blend radius", 0, MaxAbsMM); err != nil {
		return s, err
	}

	// Angular filtering, meridian count and first angle; a symmetric file
	// may have them commented out, in which case the next value line is
	// already the first meridian's number of points.
	meridians, firstDeg := 1, 0.0
	v, num, err = p.value("angular filtering (MAF iterations)")
	if err != nil {
		return s, err
	}
	var pending []byte
	pendingLine := 0
	if p.radial && sym == 0 {
		pending, pendingLine = v, num
	} else {
		if s.MAFIterations, err = parseInt(v, num, "angular filtering (MAF iterations)", 0, MaxMAFIterations); err != nil {
			return s, err
		}
		if meridians, num, err = p.int("number of meridians", 1, MaxMeridians); err != nil {
			return s, err
		}
		if sym == 0 && meridians != 1 {
			return s, errs.Field(opParse, lineField(num), "a rotationally symmetric surface has 1 meridian, not %d", meridians)
		}
		if firstDeg, num, err = p.float("rotation angle of the first meridian", 0, 360); err != nil {
			return s, err
		}
		if firstDeg == 360 {
			return s, errs.Field(opParse, lineField(num), "rotation angle of the first meridian must be below 360 deg")
		}
	}

	s.Meridians = make([]Meridian, meridians)
	for i := range s.Meridians {
		what := "number of points of meridian " + itoa(i+1)
		if pending == nil {
			if v, num, err = p.value(what); err != nil {
				return s, err
			}
		} else {
			v, num, pending = pending, pendingLine, nil
		}
		n, err := parseInt(v, num, what, 2, MaxPoints)
		if err != nil {
			return s, err
		}
		pts, err := p.points(i, n)
		if err != nil {
			return s, err
		}
		if math.Abs(pts[0].XMM-xStart) > 1e-6 {
			return s, errs.Field(opParse, lineField(num+1), "meridian %d starts at x = %.10f mm, not at the x start %g mm", i+1, pts[0].XMM, xStart)
		}
		if i > 0 && math.Abs(pts[0].XMM-s.Meridians[0].Points[0].XMM) > CentreTolMM {
			return s, errs.Field(opParse, lineField(num+1), "meridian %d starts at x = %.10f mm, meridian 1 at %.10f mm", i+1, pts[0].XMM, s.Meridians[0].Points[0].XMM)
		}
		s.Meridians[i] = Meridian{AngleDeg: MeridianAngleDeg(firstDeg, i, meridians), Points: pts}
	}
	if v, num, ok := p.nextValue(); ok {
		return s, errs.Field(opParse, lineField(num), "unexpected %q after the last meridian's points", clip(v))
	}

	// The centre: (0, 0) on a back surface, (0, CT) on a front surface.
	centre := 0.0
	if s.Side == Front {
		ct := s.Meridians[0].Points[len(s.Meridians[0].Points)-1].ZMM
		if !(ct > 0 && ct <= MaxCenterThicknessMM) {
			return s, errs.Field(opParse, lineField(p.centreLines[0]), "front surface centre z %g mm is not a centre thickness in (0, %g]", ct, MaxCenterThicknessMM)
		}
		s.CenterThicknessMM, centre = ct, ct
	}
	for i, m := range s.Meridians {
		c := &m.Points[len(m.Points)-1]
		if math.Abs(c.ZMM-centre) > CentreTolMM {
			return s, errs.Field(opParse, lineField(p.centreLines[i]), "meridian %d ends at z = %.10f mm, not at the centre z %.10f mm", i+1, c.ZMM, centre)
		}
		// Within the tolerance it is the centre, exactly, as Write writes
		// it (and as x is snapped to 0 above), so a rewrite is exact.
		c.ZMM = centre
		if centre != 0 {
			for j := range m.Points {
				m.Points[j].ZMM -= centre
			}
		}
	}
	return s, nil
}

// points reads n "x ; z" lines of meridian i (from 0).
func (p *parser) points(i, n int) ([]Point, error) {
	// Do not trust n for the allocation beyond what the data could hold.
	capHint := min(n, (len(p.r.data)-p.r.pos)/8+1)
	pts := make([]Point, 0, capHint)
	for j := 0; j < n; j++ {
		v, num, ok := p.nextValue()
		if !ok {
			return nil, errs.Field(opParse, "end of file", "the file ends after %d of the %d points of meridian %d", j, n, i+1)
		}
		sep := bytes.IndexByte(v, ';')
		if sep < 0 {
			return nil, errs.Field(opParse, lineField(num), "point %q is not \"x ; z\"", clip(v))
		}
		x, errX := strconv.ParseFloat(string(bytes.TrimSpace(v[:sep])), 64)
		z, errZ := strconv.ParseFloat(string(bytes.TrimSpace(v[sep+1:])), 64)
		if errX != nil || errZ != nil {
			return nil, errs.Field(opParse, lineField(num), "point %q is not two numbers \"x ; z\"", clip(v))
		}
		x, z = round10(x), round10(z)
		if !(math.Abs(x) <= MaxAbsMM && math.Abs(z) <= MaxAbsMM+MaxCenterThicknessMM) {
			return nil, errs.Field(opParse, lineField(num), "point (%g, %g) is not finite or beyond %g mm", x, z, MaxAbsMM)
		}
		if j > 0 && !(pts[j-1].XMM-x >= MinStepMM) {
			return nil, errs.Field(opParse, lineField(num), "x = %.10f mm does not decrease from the previous point's %.10f mm: points run from the edge to the centre", x, pts[j-1].XMM)
		}
		if j == n-1 {
			if math.Abs(x) > CentreTolMM {
				return nil, errs.Field(opParse, lineField(num), "the last point of meridian %d is at x = %.10f mm, not at the centre x = 0", i+1, x)
			}
			x = 0
			p.centreLines = append(p.centreLines, num)
		}
		pts = append(pts, Point{XMM: x, ZMM: z})
	}
	return pts, nil
}

// round10 rounds v to the file's resolution, ten decimals, the way Write
// does, so that writing a parsed surface reproduces the values exactly.
func round10(v float64) float64 {
	if !(math.Abs(v) < 1e6) {
		return v
	}
	return math.Round(v*fixedScale) / fixedScale
}

func lineField(num int) string { return "line " + itoa(num) }

// clip shortens a value quoted in an error message.
func clip(v []byte) string {
	const max = 40
	if len(v) > max {
		return string(v[:max]) + "..."
	}
	return string(v)
}

// lineReader yields the lines of data with their 1-based numbers, without
// the line ending (LF or CRLF).
type lineReader struct {
	data []byte
	pos  int
	num  int
}

func (r *lineReader) next() ([]byte, int, bool) {
	if r.pos >= len(r.data) {
		return nil, 0, false
	}
	rest := r.data[r.pos:]
	line := rest
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		line = rest[:i]
		r.pos += i + 1
	} else {
		r.pos = len(r.data)
	}
	r.num++
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, r.num, true
}
