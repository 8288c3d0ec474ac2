package topo

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/errs"
)

// FormatXYZCSV is the name of the vendor-neutral point cloud format: the
// lab's own exchange format and the format of synthetic test surfaces.
//
// Layout (UTF-8 text, LF or CRLF line endings):
//
//	# eye: OD
//	# device: Pentacam HR
//	# captured: 2026-03-01T10:15:00Z
//	x,y,z
//	-0.1000,0.0000,0.000641
//	...
//
// Optional leading "# key: value" lines carry metadata. Known keys: eye
// (OD/OS, also right/left), device, captured (RFC 3339, or
// "2006-01-02 15:04[:05]" or "2006-01-02" read in Options.Location), units
// (must be mm). Identifier keys (patient/name, dob/birth date,
// chart/patient id/mrn, serial) and any other key go to Identifiers, never
// to the Surface. "#" lines without a colon are comments and are dropped;
// "#" lines after the header row are comments too.
//
// Then one header row naming the columns x, y and z (any order, any case),
// then one row per point of three finite numbers in millimetres, comma
// separated, with optional spaces. Blank lines are ignored. |x| and |y| must
// not exceed MaxAbsXYMM, |z| not MaxAbsZMM. Points without data are simply
// absent.
//
// z is depth by definition: the sign is not judged from the content, and
// Options.HeightSign "elevation" is refused (naming heightSign). A byte
// order mark and CRLF line ends are read and named in Surface.Layout.
const FormatXYZCSV = "xyz-csv"

type xyzCSV struct{}

func (xyzCSV) Name() string { return FormatXYZCSV }

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Detect is Likely when the first line that is neither blank nor a comment
// is an x,y,z header, and Weak when it is a row of three numbers or when
// head holds only "#" lines (so that Parse can say what is missing).
func (xyzCSV) Detect(head []byte) int {
	if looksBinary(head, true) {
		return NoMatch
	}
	comments := false
	r := newLineReader(head)
	for line, ok := r.next(); ok; line, ok = r.next() {
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			comments = true
			continue
		}
		if _, ok := xyzHeader(line); ok {
			return Likely
		}
		if isNumberRow(line) {
			return Weak
		}
		return NoMatch
	}
	if comments {
		return Weak // only "#" lines so far: a long metadata block, or a file with no header
	}
	return NoMatch
}

// Parse parses an xyz-csv file in one pass over its bytes.
func (xyzCSV) Parse(data []byte, opts Options) (*Surface, *Identifiers, error) {
	const op = "topo.xyzcsv"
	opts = opts.withDefaults()
	if n := min(len(data), 4096); looksBinary(data[:n], n < len(data)) {
		return nil, nil, errs.Ef(op, errs.Invalid, "not a text file")
	}
	if sign, err := heightSignOption(op, opts); err != nil {
		return nil, nil, err
	} else if sign == HeightSignElevation {
		return nil, nil, errs.Field(op, "heightSign", "says elevation, but xyz-csv heights are depth below the apex plane by definition; leave heightSign empty or set it to depth")
	}
	s := &Surface{}
	id := &Identifiers{}
	var (
		cols       [3]int // cols[k] is the coordinate (0 x, 1 y, 2 z) in column k
		headerLine int    // 0 until the header row is seen
		eyeLine    int
	)
	lr := newLineReader(data)
	// The metadata lines, up to the header row.
	for headerLine == 0 {
		b, ok := lr.next()
		if !ok {
			break
		}
		line := lr.line
		switch {
		case len(b) == 0:
		case b[0] == '#':
			if err := xyzMeta(op, b, line, &eyeLine, s, id, opts); err != nil {
				return nil, nil, err
			}
		default:
			c, ok := xyzHeader(b)
			if !ok {
				return nil, nil, errs.Field(op, lineField(line), "expected the header row x,y,z")
			}
			cols, headerLine = c, line
			// Size the point slices once: no row is shorter than "0,0,0\n",
			// and rows are usually about as long as the first one.
			rest := lr.rest()
			rem := len(rest)
			lineLen := rem
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				lineLen = i + 1
			}
			// One allocation holds the three; each has its own capacity,
			// so a column that outgrows it moves alone.
			est := min(rem/max(lineLen, 1)*9/8+8, rem/6+1, opts.MaxPoints+1)
			all := make([]float64, 3*est)
			s.X, s.Y, s.Z = all[:0:est], all[est:est:2*est], all[2*est:2*est]
		}
	}
	// The points: each row's values in the file's column order, read by
	// xyzPlainRow when the row is written plainly (nearly always), else
	// by xyzRow from the line, which may hold spaces, comments or mistakes.
	for headerLine != 0 {
		v0, v1, v2, end, ok := xyzPlainRow(data, lr.pos)
		if ok {
			lr.skipTo(end)
		} else {
			b, ok := lr.next()
			if !ok {
				break
			}
			if len(b) == 0 || b[0] == '#' {
				continue
			}
			var err error
			if v0, v1, v2, err = xyzRow(op, b, lr.line, headerLine, cols); err != nil {
				return nil, nil, err
			}
		}
		x, y, z := xyzOrder(cols, v0, v1, v2)
		if !within(x, MaxAbsXYMM) || !within(y, MaxAbsXYMM) || !within(z, MaxAbsZMM) {
			switch line := lineField(lr.line); {
			case !within(x, MaxAbsXYMM):
				return nil, nil, errs.Field(op, line, "x is outside +-%g mm", MaxAbsXYMM)
			case !within(y, MaxAbsXYMM):
				return nil, nil, errs.Field(op, line, "y is outside +-%g mm", MaxAbsXYMM)
			default:
				return nil, nil, errs.Field(op, line, "z is outside +-%g mm", MaxAbsZMM)
			}
		}
		if len(s.X) >= opts.MaxPoints {
			return nil, nil, errs.Ef(op, errs.TooLarge, "more than %d points", opts.MaxPoints)
		}
		s.X = append(s.X, x)
		s.Y = append(s.Y, y)
		s.Z = append(s.Z, z)
	}
	switch {
	case headerLine == 0:
		return nil, nil, errs.Ef(op, errs.Invalid, "no header row x,y,z")
	case len(s.X) == 0:
		return nil, nil, errs.Ef(op, errs.Invalid, "no points")
	case len(s.X) < opts.MinPoints:
		return nil, nil, errs.Ef(op, errs.Invalid, "only %d points; at least %d are needed", len(s.X), opts.MinPoints)
	}
	s.Layout = lr.layout(s.Layout)
	s.Format = FormatXYZCSV
	return s, id, nil
}

var axisNames = [3]string{"x", "y", "z"}

// xyzPlainRow reads the row that starts at data[i] when it is written the
// plain way, as lab tools and device exports write it: three numbers of
// the form scanDecimal reads, separated by single commas, then "\n",
// "\r\n" or the end of the data. It returns the values in the file's
// column order and the index past the line end, read straight from the
// file's bytes in one pass. Anything else (spaces, a blank or comment
// line, exponents, a mistake) it reports false, and xyzRow reads the line:
// both give the same values for every row xyzPlainRow reads.
func xyzPlainRow(data []byte, i int) (v0, v1, v2 float64, end int, ok bool) {
	b := data[i:]
	var n int
	if v0, n, ok = scanDecimal(b); !ok || n == len(b) || b[n] != ',' {
		return 0, 0, 0, 0, false
	}
	b = b[n+1:]
	if v1, n, ok = scanDecimal(b); !ok || n == len(b) || b[n] != ',' {
		return 0, 0, 0, 0, false
	}
	b = b[n+1:]
	if v2, n, ok = scanDecimal(b); !ok {
		return 0, 0, 0, 0, false
	}
	switch b = b[n:]; {
	case len(b) == 0:
	case b[0] == '\n':
		b = b[1:]
	case b[0] == '\r' && len(b) > 1 && b[1] == '\n':
		b = b[2:]
	default:
		return 0, 0, 0, 0, false
	}
	return v0, v1, v2, len(data) - len(b), true
}

// xyzRow reads the values of the row line b (trimmed, neither blank nor a
// comment) in the file's column order, or explains what is wrong with it.
func xyzRow(op string, b []byte, line, headerLine int, cols [3]int) (v0, v1, v2 float64, err error) {
	var v [3]float64
	rest := b
	for k := range 3 {
		var f []byte
		if k < 2 {
			i := bytes.IndexByte(rest, ',')
			if i < 0 {
				return 0, 0, 0, xyzRowError(op, b, line, headerLine)
			}
			f, rest = rest[:i], rest[i+1:]
		} else {
			if bytes.IndexByte(rest, ',') >= 0 {
				return 0, 0, 0, xyzRowError(op, b, line, headerLine)
			}
			f = rest
		}
		f = trimSpaceBytes(f)
		name := axisNames[cols[k]]
		if len(f) == 0 {
			return 0, 0, 0, errs.Field(op, lineField(line), "column %d (%s) is empty", k+1, name)
		}
		x, ok := ParseNumber(f)
		if !ok {
			if _, ok := xyzHeader(b); ok {
				return 0, 0, 0, errs.Field(op, lineField(line), "duplicate header row (the header is on line %d)", headerLine)
			}
			return 0, 0, 0, errs.Field(op, lineField(line), "column %d (%s) %s", k+1, name, numberProblem(f))
		}
		v[k] = x
	}
	return v[0], v[1], v[2], nil
}

// xyzOrder puts a row's values, in the file's column order, in x, y, z
// order (cols as xyzHeader returns it).
func xyzOrder(cols [3]int, v0, v1, v2 float64) (x, y, z float64) {
	if cols == [3]int{0, 1, 2} {
		return v0, v1, v2
	}
	var v [3]float64
	v[cols[0]], v[cols[1]], v[cols[2]] = v0, v1, v2
	return v[0], v[1], v[2]
}

// within reports whether |v| <= limit; v is never NaN here.
func within(v, limit float64) bool { return -limit <= v && v <= limit }

// xyzRowError explains a row with the wrong number of values, or a second
// header row.
func xyzRowError(op string, b []byte, line, headerLine int) error {
	if _, ok := xyzHeader(b); ok {
		return errs.Field(op, lineField(line), "duplicate header row (the header is on line %d)", headerLine)
	}
	return errs.Field(op, lineField(line), "expected 3 values, got %d", bytes.Count(b, []byte{','})+1)
}

func isFloatSyntax(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrSyntax
}

func lineField(n int) string { return "line " + strconv.Itoa(n) }

// xyzHeader reports whether line is a header naming x, y and z once each,
// and which coordinate each column holds.
func xyzHeader(line []byte) (cols [3]int, ok bool) {
	var seen [3]bool
	for k := range 3 {
		var f []byte
		if k < 2 {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				return cols, false
			}
			f, line = line[:i], line[i+1:]
		} else {
			if bytes.IndexByte(line, ',') >= 0 {
				return cols, false
			}
			f = line
		}
		f = trimSpaceBytes(f)
		if len(f) != 1 {
			return cols, false
		}
		c := int(f[0]|0x20) - 'x' // lower-case, then x=0, y=1, z=2
		if c < 0 || c > 2 || seen[c] {
			return cols, false
		}
		seen[c], cols[k] = true, c
	}
	return cols, true
}

// isNumberRow reports whether line is three comma-separated numbers.
func isNumberRow(line []byte) bool {
	fields := bytes.Split(line, []byte{','})
	if len(fields) != 3 {
		return false
	}
	for _, f := range fields {
		if _, ok := ParseNumber(trimSpaceBytes(f)); !ok {
			return false
		}
	}
	return true
}

// xyzMeta reads one leading "# key: value" line into s or id.
func xyzMeta(op string, b []byte, line int, eyeLine *int, s *Surface, id *Identifiers, opts Options) error {
	body := trimSpaceBytes(bytes.TrimLeft(b, "#"))
	i := bytes.IndexByte(body, ':')
	if i < 0 {
		return nil // a free-text comment: not kept
	}
	if !utf8.Valid(body) {
		return errs.Field(op, lineField(line), "metadata is not UTF-8 text")
	}
	for _, r := range string(body) {
		if r < ' ' && r != '\t' || r == 0x7f {
			return errs.Field(op, lineField(line), "metadata holds control characters")
		}
	}
	key := normKey(body[:i])
	val := string(trimSpaceBytes(body[i+1:]))
	if val == "" {
		return nil
	}
	switch key {
	case "eye", "laterality":
		var e Eye
		switch strings.ToUpper(val) {
		case "OD", "RIGHT", "R":
			e = OD
		case "OS", "LEFT", "L":
			e = OS
		default:
			return errs.Field(op, lineField(line), "eye must be OD or OS")
		}
		if s.Eye != "" && s.Eye != e {
			return errs.Field(op, lineField(line), "eye contradicts line %d", *eyeLine)
		}
		s.Eye, *eyeLine = e, line
	case "device", "device model", "instrument", "model":
		s.Device = truncateUTF8(val, 200)
	case "captured", "captured at", "capture time", "exam date", "exam time", "scan date":
		t, err := parseCaptured(val, opts.Location)
		if err != nil {
			return errs.Field(op, lineField(line), "captured: unrecognised time; use RFC 3339, e.g. 2026-03-01T10:15:00Z")
		}
		s.CapturedAt = t
	case "units", "unit":
		if !strings.EqualFold(val, "mm") {
			return errs.Field(op, lineField(line), "units must be mm")
		}
	case "patient", "patient name", "name":
		id.PatientName = val
	case "dob", "birth date", "date of birth", "birthdate":
		id.BirthDate = val
	case "chart", "chart id", "chart number", "patient id", "mrn", "record", "record id":
		id.ChartID = val
	case "serial", "serial number", "device serial", "sn":
		id.DeviceSerial = val
	default:
		if id.Other == nil {
			id.Other = make(map[string]string)
		}
		id.Other[key] = val
	}
	return nil
}

// normKey lower-cases a metadata key and folds "_" and "-" to spaces.
func normKey(k []byte) string {
	k = trimSpaceBytes(k)
	out := make([]byte, 0, len(k))
	space := false
	for _, c := range k {
		switch {
		case c == '_' || c == '-' || c == ' ' || c == '\t':
			space = true
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if space && len(out) > 0 {
			out = append(out, ' ')
		}
		space = false
		out = append(out, c)
	}
	return string(out)
}

func parseCaptured(v string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	var err error
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		var t time.Time
		if t, err = time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// EncodeXYZ writes s in the xyz-csv format: its eye, device and capture
// time as metadata lines, then the header and one row per point, with the
// shortest decimals that read back to the same float64. It never writes
// identifiers. A surface in the nasal frame is refused (errs.Invalid): files
// are always in the examiner's view.
func EncodeXYZ(w io.Writer, s *Surface) error {
	const op = "topo.EncodeXYZ"
	if err := s.Validate(); err != nil {
		return err
	}
	if s.NasalFrame {
		return errs.Ef(op, errs.Invalid, "surface is in the nasal frame; files are in the examiner's view")
	}
	if strings.ContainsFunc(s.Device, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return errs.Field(op, "device", "holds control characters")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if s.Eye != "" {
		bw.WriteString("# eye: " + string(s.Eye) + "\n")
	}
	if s.Device != "" {
		bw.WriteString("# device: " + s.Device + "\n")
	}
	if !s.CapturedAt.IsZero() {
		bw.WriteString("# captured: " + s.CapturedAt.Format(time.RFC3339Nano) + "\n")
	}
	bw.WriteString("x,y,z\n")
	buf := make([]byte, 0, 96)
	for i := range s.X {
		buf = strconv.AppendFloat(buf[:0], s.X[i], 'f', -1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, s.Y[i], 'f', -1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, s.Z[i], 'f', -1, 64)
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	if err := bw.Flush(); err != nil {
		return errs.E(op, errs.Other, err)
	}
	return nil
}
