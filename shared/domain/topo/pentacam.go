package topo

import (
	"bytes"
	"math"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// FormatPentacam is the name of the Pentacam-style cartesian elevation grid
// (Oculus Pentacam ELE exports and the like).
//
// Layout (text; semicolon, comma or tab separated; LF or CRLF):
//
//	Device;Pentacam HR          <- optional header block of "key: value"
//	Eye;OD                         or "key;value" lines
//	Units;um
//	Reference;BFS
//	BFS radius;7.85
//	;-7.0;-6.9;...;7.0          <- optional row of x labels
//	7.0;;;...;;                 <- 141 rows of 141 cells, each optionally
//	6.9;;;...;12.3;...             led by its y label
//	...
//
// The grid covers -7..+7 mm in 0.1 mm steps: 141 rows of 141 cells. Rows
// are y, columns are x, in the examiner's view for both eyes (+x to the
// examiner's right, +y superior). Without labels the first row is y = +7
// mm (superior, as the map is displayed) and the first column x = -7 mm;
// a y label column (rows of 142 cells) or an x label row, when present,
// decides instead, in either order. Empty cells and cells of exactly -1 or
// -1000 (in the file's units) hold no data and are dropped. Header lines
// may also separate key and value with a tab ("Units<TAB>um").
//
// The heights' units (mm or um) and reference are read from the header
// (keys "units" and "reference", and "bfs radius" for a best-fit-sphere
// reference; "BFS 7.85 mm" as the reference value also gives the radius).
// A file that does not say takes them from Options.GridUnits,
// Options.GridReference and Options.GridBFSRadiusMM; when neither says,
// parsing fails with an errs.Invalid error naming what is missing and the
// option that supplies it. They are never guessed.
//
// Two references:
//   - apex: the cell is the height from the apex tangent plane, as depth
//     (positive into the eye, the canonical z) or as elevation (negative
//     below the apex, then negated): the sign is read from the content,
//     and Options.HeightSign settles a content that does not tell.
//   - bfs: the cell is the elevation e of the cornea above (in front of,
//     towards the examiner) a sphere of radius R whose vertex is on the
//     axis at the origin of the map, as elevation maps colour it: positive
//     where the cornea stands proud of the sphere. The depth is then z =
//     sag_R(r) - e, with sag_R(r) = R - sqrt(R^2 - r^2) and r^2 = x^2 + y^2.
//     A cell beyond the sphere (r >= R) is an error. For a floating BFS the
//     result is the depth below the sphere's vertex plane, a constant away
//     from the corneal apex plane; fits take the apex depth as a free
//     parameter. Options.HeightSign does not apply: depth that falls away
//     from the centre means elevations of the opposite convention, refused.
//
// Header keys: eye, device, exam date, units, reference, bfs radius, and
// rows/columns/size/step, which must describe the 141 x 141, 0.1 mm grid;
// patient name, first/last name, date of birth, id, serial and every
// unknown key go to Identifiers.
const FormatPentacam = "pentacam"

// Grid units and references, for Options.GridUnits and
// Options.GridReference.
const (
	GridUnitsMM       = "mm"
	GridUnitsUM       = "um"
	GridReferenceApex = "apex"
	GridReferenceBFS  = "bfs"
)

// The Pentacam grid.
const (
	PentacamSize   = 141 // cells per row and rows per grid
	PentacamStepMM = 0.1 // grid step, mm
	pentacamHalf   = (PentacamSize - 1) / 2
)

type pentacamFormat struct{}

func (pentacamFormat) Name() string { return FormatPentacam }

var pentacamKeywords = []string{"pentacam", "oculus", "bfs", "best fit sphere"}

// Detect is Likely when head holds a row of 141 cells (142 with a label),
// or a header naming the Pentacam or a best-fit sphere; Weak for long rows
// of another length.
func (pentacamFormat) Detect(head []byte) int {
	return detectMatrix(head, pentacamKeywords, func(row []byte) int {
		sep := rowSeparator(row)
		switch n := countCells(row, sep, PentacamSize+1); {
		case n == PentacamSize || n == PentacamSize+1 || countCells(row, sep, PentacamSize) == PentacamSize:
			return Likely
		case n >= 100 && n < 200:
			return Weak
		}
		return NoMatch
	})
}

// pentacamHeader is what a grid header and the options say.
type pentacamHeader struct {
	units, ref         string
	bfsR               float64
	unitsLine, refLine int
	bfsLine            int
}

// Parse parses a grid export in one pass over its bytes.
func (pentacamFormat) Parse(data []byte, opts Options) (*Surface, *Identifiers, error) {
	const op = "topo.pentacam"
	opts, sign, err := vendorStart(op, data, opts)
	if err != nil {
		return nil, nil, err
	}
	s := &Surface{}
	id := &Identifiers{}
	var (
		h       pentacamHeader
		eyeLine int
		rows    int // grid rows read
		started bool
		sep     byte
		scale   float64
		// Orientation: cell (i, j) is at x = x0 + j*dx, y = y0 + i*dy in
		// tenths of a millimetre.
		x0, dx    = -pentacamHalf, 1
		y0, dy    = pentacamHalf, -1
		yLabels   bool // rows carry a y label in their first cell
		xLabelRow bool // a row of x labels came first
		lastLine  int
		comma     bool // a cell had a decimal comma
		missing   missingMarkers
	)
	header := func(key string, v []byte, line int) error {
		return pentacamMeta(op, key, v, line, started, &eyeLine, &h, s, id, opts)
	}
	row := func(b []byte, line int) error {
		if !started {
			started = true
			var err error
			if scale, err = h.resolve(op, opts); err != nil {
				return err
			}
			sep = rowSeparator(b)
			if lx0, ldx, corner, ok := xLabels(b, sep); ok {
				x0, dx, yLabels, xLabelRow = lx0, ldx, corner, true
				return nil
			}
		}
		if s.X == nil { // the first grid row
			yLabels = yLabels || labelledRow(b, sep)
			est := min(PentacamSize*PentacamSize, opts.MaxPoints+1)
			s.X = make([]float64, 0, est)
			s.Y = make([]float64, 0, est)
			s.Z = make([]float64, 0, est)
		}
		if rows == PentacamSize {
			return errs.Field(op, lineField(line), "more than %d grid rows", PentacamSize)
		}
		want := PentacamSize
		if yLabels {
			want++
		}
		if n := countCells(b, sep, want); n != want {
			return errs.Field(op, lineField(line), "expected %d values, got %d", want, n)
		}
		r := cellReader{rest: b, sep: sep}
		if yLabels {
			c := r.next()
			ly, ok := r.number(c)
			t := math.Round(ly * 10)
			if !ok || math.Abs(ly*10-t) > 1e-6 || math.Abs(t) > pentacamHalf {
				return errs.Field(op, lineField(line), "row label must be a y in mm from -7 to 7 in steps of 0.1")
			}
			if rows == 0 {
				switch int(t) {
				case pentacamHalf:
					y0, dy = pentacamHalf, -1
				case -pentacamHalf:
					y0, dy = -pentacamHalf, 1
				default:
					return errs.Field(op, lineField(line), "the first row label must be y = 7 or -7 mm")
				}
			} else if int(t) != y0+rows*dy {
				return errs.Field(op, lineField(line), "row label says y = %g mm; expected %g mm", t/10, float64(y0+rows*dy)/10)
			}
		}
		yt := y0 + rows*dy
		y := float64(yt) / 10
		for j := range PentacamSize {
			v, ok, err := r.height(op, line, j+1, &missing)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			xt := x0 + j*dx
			x := float64(xt) / 10
			v *= scale
			if h.ref == GridReferenceBFS {
				r2 := float64(xt*xt+yt*yt) / 100
				d := h.bfsR*h.bfsR - r2
				if d <= 0 {
					return errs.Field(op, lineField(line), "column %d lies beyond the best-fit sphere (radius %g mm)", j+1, h.bfsR)
				}
				v = r2/(h.bfsR+math.Sqrt(d)) - v
			}
			if math.Abs(v) > MaxAbsZMM {
				return errs.Field(op, lineField(line), "column %d: height is outside +-%g mm", j+1, MaxAbsZMM)
			}
			if len(s.X) >= opts.MaxPoints {
				return errs.Ef(op, errs.TooLarge, "more than %d points", opts.MaxPoints)
			}
			s.X = append(s.X, x)
			s.Y = append(s.Y, y)
			s.Z = append(s.Z, v)
		}
		comma = comma || r.comma
		rows++
		lastLine = line
		return nil
	}
	lr, tabHeader, err := readMatrix(op, data, header, row)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case !started:
		return nil, nil, errs.Ef(op, errs.Invalid, "no grid rows")
	case rows != PentacamSize:
		at := lastLine
		if at == 0 {
			at = lr.line
		}
		return nil, nil, errs.Field(op, lineField(at), "the grid ends after %d rows; expected %d", rows, PentacamSize)
	case len(s.X) == 0:
		return nil, nil, errs.Ef(op, errs.Invalid, "no points: every cell is empty or marked as no data")
	case len(s.X) < opts.MinPoints:
		return nil, nil, errs.Ef(op, errs.Invalid, "only %d points; at least %d are needed", len(s.X), opts.MinPoints)
	}
	s.Layout = lr.layout(s.Layout)
	if tabHeader {
		s.Layout = append(s.Layout, LayoutTabHeader)
	}
	s.Layout = separatorLayout(s.Layout, sep)
	if comma {
		s.Layout = append(s.Layout, LayoutDecimalComma)
	}
	if yLabels || xLabelRow {
		s.Layout = append(s.Layout, LayoutGridLabels)
	}
	if dy > 0 {
		s.Layout = append(s.Layout, LayoutRowsAscending)
	}
	s.Layout = missing.layout(s.Layout)
	if scale != 1 {
		s.Layout = append(s.Layout, LayoutMicrons)
	}
	if h.ref == GridReferenceBFS {
		s.Layout = append(s.Layout, LayoutBFS(h.bfsR))
		if err := checkBFSSign(op, s); err != nil {
			return nil, nil, err
		}
	} else if err := settleSign(op, s, sign); err != nil {
		return nil, nil, err
	}
	s.Format = FormatPentacam
	return s, id, nil
}

// xLabels reports whether a row is the x labels of the grid columns:
// -7..7 or 7..-7 mm in 0.1 mm steps, optionally after an empty or text
// corner cell (then the rows carry y labels: corner is true) and before a
// trailing separator. It returns the first column's x in tenths of a
// millimetre and the step direction.
func xLabels(b []byte, sep byte) (x0, dx int, corner, ok bool) {
	r := cellReader{rest: b, sep: sep}
	if bytes.Count(b, []byte{sep}) >= PentacamSize {
		peek := cellReader{rest: b, sep: sep}
		if c := peek.next(); len(c) == 0 || !isNumber(&peek, c) {
			r.next()
			corner = true
		}
	}
	for j := range PentacamSize {
		v, isNum := r.number(r.next())
		if !isNum {
			return 0, 0, false, false
		}
		t := math.Round(v * 10)
		if math.Abs(v*10-t) > 1e-6 {
			return 0, 0, false, false
		}
		switch {
		case j == 0 && (t == -pentacamHalf || t == pentacamHalf):
			x0, dx = int(t), 1
			if t > 0 {
				dx = -1
			}
		case j == 0 || int(t) != x0+j*dx:
			return 0, 0, false, false
		}
	}
	if len(trimSpaceBytes(r.rest)) > 0 {
		return 0, 0, false, false
	}
	return x0, dx, corner, true
}

func isNumber(r *cellReader, c []byte) bool {
	_, ok := r.number(c)
	return ok
}

// labelledRow reports whether the first grid row starts with a y label:
// it has more than 141 cells and its first cell is +-7 (mm). A height in
// that cell would be a point 9.9 mm from the centre, beyond any cornea.
func labelledRow(b []byte, sep byte) bool {
	if bytes.Count(b, []byte{sep}) < PentacamSize {
		return false
	}
	r := cellReader{rest: b, sep: sep}
	v, ok := r.number(r.next())
	return ok && (v == 7 || v == -7)
}

// pentacamMeta reads one header line.
func pentacamMeta(op, key string, v []byte, line int, started bool, eyeLine *int, h *pentacamHeader, s *Surface, id *Identifiers, opts Options) error {
	if started {
		switch key {
		case "units", "unit", "height units", "elevation units", "reference", "reference surface", "ref",
			"elevation reference", "relative to", "reference body", "bfs radius", "bfs", "bfs r", "best fit sphere",
			"best fit sphere radius", "sphere radius", "radius of bfs", "bfs radius mm", "rows", "columns", "cols",
			"size", "grid size", "grid", "points per row", "dimension", "dimensions", "step", "grid step", "spacing", "resolution":
			// Metadata after the grid started is still read, but the grid
			// can no longer change shape, units or reference.
			return errs.Field(op, lineField(line), "%s must be given before the grid", key)
		}
	}
	switch key {
	case "units", "unit", "height units", "elevation units":
		u, _, ok := parseUnits(string(v))
		if !ok {
			return errs.Field(op, lineField(line), "units must be mm or um")
		}
		h.units, h.unitsLine = u, line
		return nil
	case "reference", "reference surface", "ref", "elevation reference", "relative to", "reference body":
		low := strings.ToLower(string(v))
		switch {
		case strings.Contains(low, "bfs") || strings.Contains(low, "sphere"):
			h.ref, h.refLine = GridReferenceBFS, line
			if r, ok := firstNumber(v); ok {
				h.bfsR, h.bfsLine = r, line
			}
		case strings.Contains(low, "apex") || strings.Contains(low, "plane"):
			h.ref, h.refLine = GridReferenceApex, line
		default:
			return errs.Field(op, lineField(line), "reference must be apex or bfs")
		}
		return nil
	case "bfs radius", "bfs", "bfs r", "best fit sphere", "best fit sphere radius", "sphere radius", "radius of bfs", "bfs radius mm":
		r, ok := firstNumber(v)
		if !ok {
			return errs.Field(op, lineField(line), "the best-fit sphere radius must be a number of mm")
		}
		h.bfsR, h.bfsLine = r, line
		return nil
	case "rows", "columns", "cols", "size", "grid size", "grid", "points per row", "dimension", "dimensions":
		for rest, n := v, 0; ; n++ {
			d, next, ok := nextNumber(rest)
			if !ok {
				if n == 0 {
					return errs.Field(op, lineField(line), "%s must be a number", key)
				}
				return nil
			}
			if d != PentacamSize {
				return errs.Field(op, lineField(line), "only the %d x %d grid is supported", PentacamSize, PentacamSize)
			}
			rest = next
		}
	case "step", "grid step", "spacing", "resolution":
		if d, ok := firstNumber(v); !ok || math.Abs(d-PentacamStepMM) > 1e-9 {
			return errs.Field(op, lineField(line), "only a %g mm grid step is supported", PentacamStepMM)
		}
		return nil
	}
	return vendorMeta(op, key, v, line, eyeLine, s, id, opts)
}

// resolve combines the header with the options and returns the factor
// from the file's units to millimetres. What is still unknown is an error
// that names the setting that would supply it, by the name a clinic sets
// it with (the upload's query parameters gridUnits, gridReference and
// gridBfs, which fill Options.GridUnits, GridReference and GridBFSRadiusMM).
func (h *pentacamHeader) resolve(op string, opts Options) (float64, error) {
	switch opts.GridUnits {
	case "", GridUnitsMM, GridUnitsUM:
	case "µm", "μm":
		opts.GridUnits = GridUnitsUM
	default:
		return 0, errs.Field(op, "gridUnits", "must be %q or %q", GridUnitsMM, GridUnitsUM)
	}
	switch opts.GridReference {
	case "", GridReferenceApex, GridReferenceBFS:
	default:
		return 0, errs.Field(op, "gridReference", "must be %q or %q", GridReferenceApex, GridReferenceBFS)
	}
	switch {
	case h.units == "":
		h.units = opts.GridUnits
	case opts.GridUnits != "" && opts.GridUnits != h.units:
		return 0, errs.Field(op, lineField(h.unitsLine), "the file says units %s but gridUnits says %s", h.units, opts.GridUnits)
	}
	switch {
	case h.ref == "":
		h.ref = opts.GridReference
	case opts.GridReference != "" && opts.GridReference != h.ref:
		return 0, errs.Field(op, lineField(h.refLine), "the file says reference %s but gridReference says %s", h.ref, opts.GridReference)
	}
	if h.ref == GridReferenceBFS {
		switch {
		case h.bfsR == 0:
			h.bfsR = opts.GridBFSRadiusMM
		case opts.GridBFSRadiusMM != 0 && opts.GridBFSRadiusMM != h.bfsR:
			return 0, errs.Field(op, lineField(h.bfsLine), "the file says a best-fit sphere of %g mm but gridBfs says %g mm", h.bfsR, opts.GridBFSRadiusMM)
		}
	}
	var missing []string
	if h.units == "" {
		missing = append(missing, `its height units (set gridUnits to "mm" or "um")`)
	}
	if h.ref == "" {
		missing = append(missing, `what its heights are measured from (set gridReference to "apex" or "bfs", and gridBfs in mm for "bfs")`)
	}
	if h.ref == GridReferenceBFS && h.bfsR == 0 {
		missing = append(missing, "the radius of its best-fit sphere (set gridBfs, in mm)")
	}
	if len(missing) > 0 {
		field := "gridUnits"
		switch {
		case h.units != "" && h.ref == "":
			field = "gridReference"
		case h.units != "" && h.ref != "":
			field = "gridBfs"
		}
		return 0, errs.Field(op, field, "the file does not state %s; units and reference are never guessed", strings.Join(missing, ", nor "))
	}
	if h.ref == GridReferenceBFS && !(h.bfsR >= 5 && h.bfsR <= 20) {
		at := "gridBfs"
		if h.bfsLine > 0 {
			at = lineField(h.bfsLine)
		}
		return 0, errs.Field(op, at, "the best-fit sphere radius must be from 5 to 20 mm")
	}
	if h.units == GridUnitsUM {
		return 1e-3, nil
	}
	return 1, nil
}
