package topo

import (
	"math"

	"github.com/lensflow/lensflow/shared/errs"
)

//go:generate go run ./internal/genvendor -dir testdata

// FormatCSO is the name of the CSO polar elevation export (Sirius, MS-39,
// Antares, Osiris).
//
// Layout (text; comma, semicolon or tab separated; LF or CRLF):
//
//	Device: Sirius            <- optional header block of "key: value"
//	Eye: OD                      or "key;value" lines
//	Rings: 31
//	Meridians: 256
//	0.000000;0.000000;...     <- ring 0: 256 heights
//	0.002571;0.002571;...     <- ring 1 (0.2 mm)
//	...                       <- ring 30 (6.0 mm)
//
// The matrix has one row per ring i, at radius i * CSORingStepMM (31 rows,
// 0 to 6 mm), and one column per semi-meridian j, at angle j * 360/256
// degrees counter-clockwise from the examiner's right (256 columns). The
// header may give other counts with the keys "rings" and "meridians".
// Raw exports list the ring radii (rho, mm) and the heights (z) as two
// successive rings x meridians blocks; a file with twice as many rows as
// rings is read that way, each point then lying at its own rho. Lines
// between the blocks that are not rows (labels such as "z:") are skipped.
//
// Heights are millimetres (or microns with "units: um") measured from the
// apex tangent plane, either as depth (positive into the eye, the
// canonical z) or as elevation (negative below the apex). The sign is
// read from the content: heights that fall away from the centre are
// elevations and are negated (see Options.HeightSign, which settles a
// content that does not tell). Cells of -1000 or -1, and empty cells, hold
// no data and are dropped; with elevations a height of exactly -1 mm is
// therefore lost, as the devices' own marker makes it. The cells of the centre (rho
// 0, the 256 copies of ring 0) become one point at the average of their
// heights.
//
// Points are returned in the examiner's view for both eyes: x = rho *
// cos(theta), y = rho * sin(theta). Header keys: eye (OD/OS/right/left),
// device, exam date/captured, units; patient name, first/last name, date
// of birth, id, serial and every unknown key go to Identifiers.
const FormatCSO = "cso"

// CSO layout defaults.
const (
	CSORings        = 31  // rings in a CSO matrix
	CSOMeridians    = 256 // semi-meridians in a CSO matrix
	CSORingStepMM   = 0.2 // distance between rings, mm
	csoMaxRings     = 61  // (61-1) * 0.2 mm = MaxAbsXYMM
	csoMaxMeridians = 1024
)

type csoFormat struct{}

func (csoFormat) Name() string { return FormatCSO }

// csoKeywords are header words only CSO exports carry.
var csoKeywords = []string{"sirius", "cso", "ms-39", "ms39", "antares", "osiris", "phoenix", "meridians"}

// Detect is Likely when head holds a row of 256 numbers, or a header naming
// a CSO device or meridians; Weak when it holds long rows of another
// length (so the parser can say what is wrong).
func (csoFormat) Detect(head []byte) int {
	return detectMatrix(head, csoKeywords, func(row []byte) int {
		switch n := countCells(row, rowSeparator(row), CSOMeridians); {
		case n == CSOMeridians:
			return Likely
		case n >= 200:
			return Weak
		}
		return NoMatch
	})
}

// detectMatrix is the detection the matrix formats share: Likely when a
// header line names one of keywords; otherwise the first complete data
// row decides (row judges it). Comment and blank lines are skipped, a NUL
// byte means not a text file.
func detectMatrix(head []byte, keywords []string, row func(line []byte) int) int {
	if hasNUL(head) {
		return NoMatch
	}
	r := newLineReader(head)
	for line, ok := r.next(); ok; line, ok = r.next() {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if !isDataRow(line) {
			if _, _, _, ok := headerKVRaw(line); ok && containsAnyFold(line[:min(len(line), 200)], keywords) {
				return Likely
			}
			continue
		}
		if r.cut {
			break // cut by the end of head
		}
		return row(line)
	}
	return NoMatch
}

// csoHeader is what a CSO header says about the matrix.
type csoHeader struct {
	rings, meridians int
	unitsScale       float64
}

// Parse parses a CSO export in one pass over its bytes.
func (csoFormat) Parse(data []byte, opts Options) (*Surface, *Identifiers, error) {
	const op = "topo.cso"
	opts, sign, err := vendorStart(op, data, opts)
	if err != nil {
		return nil, nil, err
	}
	s := &Surface{}
	id := &Identifiers{}
	h := csoHeader{rings: CSORings, meridians: CSOMeridians, unitsScale: 1}
	var (
		eyeLine  int
		cells    []float64 // rows of h.meridians cells; NaN marks no data
		rowLines []int     // the line of each row
		sep      byte
		comma    bool // a cell had a decimal comma
		missing  missingMarkers
	)
	header := func(key string, v []byte, line int) error {
		if cells != nil && (key == "rings" || key == "meridians" || key == "units") {
			// Metadata after the matrix started is still read, but the
			// matrix can no longer change shape or units.
			return errs.Field(op, lineField(line), "%s must be given before the matrix", key)
		}
		return csoMeta(op, key, v, line, &eyeLine, &h, s, id, opts)
	}
	row := func(b []byte, line int) error {
		if cells == nil {
			sep = rowSeparator(b)
			cells = make([]float64, 0, 2*h.rings*h.meridians)
			rowLines = make([]int, 0, 2*h.rings)
		}
		if len(rowLines) == 2*h.rings {
			return errs.Field(op, lineField(line), "more than %d matrix rows (%d rings of radii, then %d of heights)", 2*h.rings, h.rings, h.rings)
		}
		if n := countCells(b, sep, h.meridians); n != h.meridians {
			return errs.Field(op, lineField(line), "expected %d values, got %d", h.meridians, n)
		}
		r := cellReader{rest: b, sep: sep}
		for k := range h.meridians {
			v, ok, err := r.height(op, line, k+1, &missing)
			if err != nil {
				return err
			}
			if !ok {
				v = math.NaN()
			}
			cells = append(cells, v)
		}
		comma = comma || r.comma
		rowLines = append(rowLines, line)
		return nil
	}
	lr, _, err := readMatrix(op, data, header, row)
	if err != nil {
		return nil, nil, err
	}

	rows := len(rowLines)
	switch {
	case rows == 0:
		return nil, nil, errs.Ef(op, errs.Invalid, "no matrix rows")
	case rows != h.rings && rows != 2*h.rings:
		return nil, nil, errs.Field(op, lineField(rowLines[rows-1]), "the matrix ends after %d rows; expected %d (heights) or %d (radii, then heights)", rows, h.rings, 2*h.rings)
	}
	s.Layout = lr.layout(s.Layout)
	s.Layout = separatorLayout(s.Layout, sep)
	if comma {
		s.Layout = append(s.Layout, LayoutDecimalComma)
	}
	if rows == 2*h.rings {
		s.Layout = append(s.Layout, LayoutRadiiThenHeights)
	}
	s.Layout = missing.layout(s.Layout)
	if h.unitsScale != 1 {
		s.Layout = append(s.Layout, LayoutMicrons)
	}
	if err := csoPoints(op, s, &h, cells, rowLines, opts); err != nil {
		return nil, nil, err
	}
	if err := settleSign(op, s, sign); err != nil {
		return nil, nil, err
	}
	return s, id, nil
}

// csoMeta reads one header line.
func csoMeta(op, key string, v []byte, line int, eyeLine *int, h *csoHeader, s *Surface, id *Identifiers, opts Options) error {
	switch key {
	case "rings", "number of rings", "n rings", "ring count":
		n, err := headerInt(op, v, line, 2, csoMaxRings, "rings")
		h.rings = n
		return err
	case "meridians", "number of meridians", "n meridians", "semi meridians", "meridian count":
		n, err := headerInt(op, v, line, 4, csoMaxMeridians, "meridians")
		h.meridians = n
		return err
	case "units", "unit", "height units":
		_, scale, ok := parseUnits(string(v))
		if !ok {
			return errs.Field(op, lineField(line), "units must be mm or um")
		}
		h.unitsScale = scale
		return nil
	}
	return vendorMeta(op, key, v, line, eyeLine, s, id, opts)
}

// csoPoints turns the matrix into points.
func csoPoints(op string, s *Surface, h *csoHeader, cells []float64, rowLines []int, opts Options) error {
	m := h.meridians
	var rho []float64
	z := cells
	zLines := rowLines
	if len(rowLines) == 2*h.rings {
		rho, z, zLines = cells[:h.rings*m], cells[h.rings*m:], rowLines[h.rings:]
	}
	n := 0
	for _, v := range z {
		if !math.IsNaN(v) {
			n++
		}
	}
	pts, err := newPolarPoints(op, s, m, n, opts)
	if err != nil {
		return err
	}
	for i := range h.rings {
		for j := range m {
			k := i*m + j
			v := z[k]
			if math.IsNaN(v) {
				continue
			}
			r := float64(i) * CSORingStepMM
			if rho != nil {
				r = rho[k]
				if math.IsNaN(r) {
					continue
				}
				if r < 0 || r > MaxAbsXYMM {
					return errs.Field(op, lineField(rowLines[i]), "column %d: radius must be from 0 to %g mm", j+1, MaxAbsXYMM)
				}
			}
			v *= h.unitsScale
			if math.Abs(v) > MaxAbsZMM {
				return errs.Field(op, lineField(zLines[i]), "column %d: height is outside +-%g mm", j+1, MaxAbsZMM)
			}
			pts.add(r, j, v)
		}
	}
	if err := pts.finish(op, opts, "every cell is marked as no data"); err != nil {
		return err
	}
	s.Format = FormatCSO
	return nil
}
