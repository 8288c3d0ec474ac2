package topo

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/errs"
)

// This file holds what the vendor formats share: the "key: value" header
// block and the keys every vendor writes (cso, pentacam; the bound on
// header lines, the eye and the patient's name also cso-raw), the walk
// over a matrix file's lines, cell splitting with either separator, and
// the no-data markers.

// maxHeaderLines bounds the "key: value" lines of a vendor file (real
// headers have a few dozen), and so the size of Identifiers.Other.
const maxHeaderLines = 1000

// headerLines counts the header lines of a vendor file.
type headerLines int

// add counts one more header line, line: past maxHeaderLines it is an
// error naming it.
func (n *headerLines) add(op string, line int) error {
	if *n++; *n > maxHeaderLines {
		return errs.Field(op, lineField(line), "more than %d header lines", maxHeaderLines)
	}
	return nil
}

// headerKV splits a vendor header line into a normalised key and its value.
// Vendors write "key: value", "key;value", "key:;value", "key = value",
// "key,value" or "key<TAB>value"; the key is everything before the first of
// ':', ';', '=', ',' or a tab. The key loses any "[unit]" or "(unit)" part
// and is normalised by normKey. ok is false for a line without a separator
// or without a letter in its key (a label or a stray number). tab reports
// that the separator was a tab.
func headerKV(b []byte) (key string, val []byte, tab, ok bool) {
	k, val, tab, ok := headerKVRaw(b)
	if !ok {
		return "", nil, false, false
	}
	return normKey(k), val, tab, true
}

// headerKVRaw is headerKV without normalising (or allocating) the key.
func headerKVRaw(b []byte) (key, val []byte, tab, ok bool) {
	i := bytes.IndexAny(b, ":;=,\t")
	if i <= 0 {
		return nil, nil, false, false
	}
	tab = b[i] == '\t'
	k := b[:i]
	if j := bytes.IndexAny(k, "[("); j > 0 {
		k = k[:j]
	}
	letter := false
	for _, c := range k {
		if 'a' <= c|0x20 && c|0x20 <= 'z' {
			letter = true
			break
		}
	}
	if !letter {
		return nil, nil, false, false
	}
	val = trimSpaceBytes(bytes.TrimLeft(b[i+1:], ":;=, \t"))
	val = bytes.TrimRight(val, ";, \t") // "key;value;;;" from spreadsheet exports
	return k, val, tab, true
}

// headerText returns a header value as a string: UTF-8 as is, anything
// else read as Latin-1 (Windows exports of names with accents), so that a
// patient's name reaches the encrypted Identifiers intact. Control
// characters other than tab are refused.
func headerText(op string, v []byte, line int) (string, error) {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return "", errs.Field(op, lineField(line), "header holds control characters")
		}
	}
	if utf8.Valid(v) {
		return string(v), nil
	}
	r := make([]rune, len(v))
	for i, c := range v {
		r[i] = rune(c)
	}
	return string(r), nil
}

// vendorMeta reads a header key the format itself does not know: the keys
// every vendor format shares go to s or id (eye, device, capture time and
// patient identifiers), any other to id.Other. A capture time it cannot
// read is kept in id.Other rather than refused: vendors write dates in the
// local style.
func vendorMeta(op, key string, v []byte, line int, eyeLine *int, s *Surface, id *Identifiers, opts Options) error {
	val, err := headerText(op, v, line)
	if err != nil {
		return err
	}
	switch key {
	case "eye", "laterality", "exam eye", "eye side", "side", "examined eye":
		e, ok := parseEye(val)
		if !ok {
			return errs.Field(op, lineField(line), "eye must be OD or OS (or right, left)")
		}
		return setEye(op, s, e, line, eyeLine)
	case "device", "device model", "instrument", "model", "device type", "topographer":
		s.Device = truncateUTF8(val, 200)
	case "captured", "captured at", "capture time", "exam date", "exam time", "scan date",
		"examination date", "date", "acquisition date":
		t, err := parseCaptured(val, opts.Location)
		if err != nil {
			addOther(id, key, val)
			return nil
		}
		s.CapturedAt = t
	case "patient", "patient name", "name", "last name", "first name", "surname", "given name", "family name":
		id.addNamePart(val)
	case "dob", "birth date", "date of birth", "birthdate", "birthday":
		id.BirthDate = val
	case "id", "patient id", "chart", "chart id", "chart number", "mrn", "record", "record id", "pid", "patient number":
		id.ChartID = val
	case "serial", "serial number", "device serial", "sn", "instrument serial", "serial no":
		id.DeviceSerial = val
	default:
		addOther(id, key, val)
	}
	return nil
}

// setEye records the eye a header line (line) gives; eyeLine is the line
// that gave it before, if any. A header that names both eyes is an error
// naming both lines.
func setEye(op string, s *Surface, e Eye, line int, eyeLine *int) error {
	if s.Eye != "" && s.Eye != e {
		return errs.Field(op, lineField(line), "eye contradicts line %d", *eyeLine)
	}
	s.Eye, *eyeLine = e, line
	return nil
}

// addNamePart adds to the patient's name a part a header gives on its own
// line (last name, first name), after a space.
func (id *Identifiers) addNamePart(val string) {
	if id.PatientName == "" {
		id.PatientName = val
	} else {
		id.PatientName += " " + val
	}
}

func addOther(id *Identifiers, key, val string) {
	if id.Other == nil {
		id.Other = make(map[string]string)
	}
	id.Other[key] = val
}

// parseEye reads OD, OS, R, L, right, left (any case, optionally followed
// by more words, as in "right eye" or "OD (right)").
func parseEye(v string) (Eye, bool) {
	w := strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexFunc(w, func(r rune) bool { return r < 'a' || r > 'z' }); i >= 0 {
		w = w[:i]
	}
	switch w {
	case "od", "r", "right", "re":
		return OD, true
	case "os", "l", "left", "le":
		return OS, true
	}
	return "", false
}

// parseUnits reads a unit of length: millimetres or microns. It returns
// the factor to millimetres.
func parseUnits(v string) (string, float64, bool) {
	switch strings.ToLower(strings.TrimSpace(strings.Trim(v, "[]() "))) {
	case "mm", "millimeter", "millimeters", "millimetre", "millimetres":
		return GridUnitsMM, 1, true
	case "um", "µm", "μm", "micron", "microns", "micrometer", "micrometers", "micrometre", "micrometres":
		return GridUnitsUM, 1e-3, true
	}
	return "", 0, false
}

// firstNumber returns the first decimal number in v ("BFS 7.85 mm" gives
// 7.85). A decimal comma is read as a point when v holds no point and the
// comma stands between digits ("BFS 7,85 mm" gives 7.85).
func firstNumber(v []byte) (float64, bool) {
	var buf [64]byte
	if c := bytes.IndexByte(v, ','); c > 0 && c+1 < len(v) && len(v) <= len(buf) && bytes.IndexByte(v, '.') < 0 &&
		isDigit(v[c-1]) && isDigit(v[c+1]) {
		n := copy(buf[:], v)
		buf[c] = '.'
		v = buf[:n]
	}
	f, _, ok := nextNumber(v)
	return f, ok
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// nextNumber returns the first decimal number in v and what follows it.
// A number that does not parse (such as "1.2.3" or one beyond float64)
// ends the scan.
func nextNumber(v []byte) (f float64, rest []byte, ok bool) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if '0' <= c && c <= '9' || (c == '-' || c == '+' || c == '.') && i+1 < len(v) && '0' <= v[i+1] && v[i+1] <= '9' {
			j := i + 1
			for j < len(v) && ('0' <= v[j] && v[j] <= '9' || v[j] == '.' || v[j] == 'e' || v[j] == 'E') {
				j++
			}
			f, ok = ParseNumber(v[i:j])
			return f, v[j:], ok
		}
	}
	return 0, nil, false
}

// headerInt reads a dimension from a header value: a whole number in
// [lo, hi]. what names the dimension in the error.
func headerInt(op string, v []byte, line, lo, hi int, what string) (int, error) {
	f, ok := ParseNumber(v)
	if !ok || f != float64(int64(f)) {
		return 0, errs.Field(op, lineField(line), "%s must be a whole number", what)
	}
	if f < float64(lo) || f > float64(hi) {
		return 0, errs.Field(op, lineField(line), "%s must be from %d to %d (the header says %.0f)", what, lo, hi, f)
	}
	return int(f), nil
}

// readMatrix walks the lines of a matrix format (cso, pentacam) the way
// both read them: blank lines and '#' comments are skipped; a line that is
// not a data row (see isDataRow) is a header line, handed to header as its
// normalised key and value unless it is a label ("z:", "[Elevation]") or
// has no value, and more than maxHeaderLines of them is an error; every
// data row goes to row. It returns the line reader, at the end of the
// data (for its layout and line count), and whether a header line
// separated its key and value with a tab.
func readMatrix(op string, data []byte, header func(key string, v []byte, line int) error,
	row func(b []byte, line int) error) (lr lineReader, tabHeader bool, err error) {
	var lines headerLines
	lr = newLineReader(data)
	for b, ok := lr.next(); ok; b, ok = lr.next() {
		line := lr.line
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		if isDataRow(b) {
			err = row(b, line)
		} else if key, v, tab, ok := headerKV(b); ok && len(v) > 0 {
			tabHeader = tabHeader || tab
			if err = lines.add(op, line); err == nil {
				err = header(key, v, line)
			}
		}
		if err != nil {
			return lr, tabHeader, err
		}
	}
	return lr, tabHeader, nil
}

// rowSeparator picks the cell separator of a data row: ';' when the row
// holds one, else ',' when it holds one, else a tab.
func rowSeparator(b []byte) byte {
	switch {
	case bytes.IndexByte(b, ';') >= 0:
		return ';'
	case bytes.IndexByte(b, ',') >= 0:
		return ','
	}
	return '\t'
}

// countCells counts the cells of a row separated by sep. A row of want+1
// cells whose last cell is empty (a trailing separator, as spreadsheets
// write) counts as want cells; the reader stops after want cells.
func countCells(b []byte, sep byte, want int) int {
	n := bytes.Count(b, []byte{sep}) + 1
	if n == want+1 && len(b) > 0 && b[len(b)-1] == sep {
		n--
	}
	return n
}

// cellReader walks the cells of a row.
type cellReader struct {
	rest  []byte
	sep   byte
	comma bool     // a cell was read with a decimal comma
	buf   [64]byte // decimal-comma cells are copied here with a '.'
}

// next returns the next cell, trimmed of spaces.
func (r *cellReader) next() []byte {
	var c []byte
	if i := bytes.IndexByte(r.rest, r.sep); i >= 0 {
		c, r.rest = r.rest[:i], r.rest[i+1:]
	} else {
		c, r.rest = r.rest, nil
	}
	return trimSpaceBytes(c)
}

// number parses a cell. With ';' separators a decimal comma is accepted
// ("0,123"), as European spreadsheet exports write it.
func (r *cellReader) number(c []byte) (float64, bool) {
	if r.sep == ';' && len(c) <= len(r.buf) {
		if i := bytes.IndexByte(c, ','); i >= 0 && bytes.IndexByte(c, '.') < 0 && bytes.IndexByte(c[i+1:], ',') < 0 {
			n := copy(r.buf[:], c)
			r.buf[i] = '.'
			f, ok := ParseNumber(r.buf[:n])
			r.comma = r.comma || ok
			return f, ok
		}
	}
	return ParseNumber(c)
}

// height reads the next cell as a height in the file's units: ok is false
// for a cell without data, empty or a no-data marker (which m records).
// A cell that is not a number is an error naming its line and column.
func (r *cellReader) height(op string, line, column int, m *missingMarkers) (v float64, ok bool, err error) {
	c := r.next()
	if len(c) == 0 {
		return 0, false, nil
	}
	if v, ok = r.number(c); !ok {
		return 0, false, errs.Field(op, lineField(line), "column %d %s", column, r.cellProblem(c))
	}
	if m.see(v) {
		return 0, false, nil
	}
	return v, true, nil
}

// cellProblem explains why a cell is not a number.
func (r *cellReader) cellProblem(c []byte) string {
	if r.sep == ';' {
		c = bytes.ReplaceAll(c, []byte{','}, []byte{'.'})
	}
	return numberProblem(c)
}

// isDataRow reports whether a line is a row of cells rather than a header
// or label line: its first cell is a number or empty, or it has more than
// four cells (so that a row of NaN is reported as bad data, not skipped as
// a label).
func isDataRow(b []byte) bool {
	sep := rowSeparator(b)
	if bytes.Count(b, []byte{sep}) >= 4 {
		return true
	}
	r := cellReader{rest: b, sep: sep}
	c := r.next()
	if len(c) == 0 {
		return true
	}
	_, ok := r.number(c)
	return ok
}

// separatorLayout names a cell separator other than the comma.
func separatorLayout(l []string, sep byte) []string {
	switch sep {
	case ';':
		l = append(l, LayoutSemicolons)
	case '\t':
		l = append(l, LayoutTabCells)
	}
	return l
}

// missingMarkers records which no-data markers a file used.
type missingMarkers struct{ minus1000, minus1 bool }

// see reports whether v is a no-data marker, and records it.
func (m *missingMarkers) see(v float64) bool {
	switch v {
	case -1000:
		m.minus1000 = true
		return true
	case -1:
		m.minus1 = true
		return true
	}
	return false
}

func (m missingMarkers) layout(l []string) []string {
	if m.minus1000 {
		l = append(l, LayoutMissingMinus1000)
	}
	if m.minus1 {
		l = append(l, LayoutMissingMinus1)
	}
	return l
}

// hasNUL reports whether data holds a NUL byte, which no text export does.
func hasNUL(data []byte) bool { return bytes.IndexByte(data, 0) >= 0 }

// containsAnyFold reports whether b holds one of the lower-case ASCII
// keywords, ignoring ASCII case. It does not allocate: Detect runs on
// every upload.
func containsAnyFold(b []byte, keywords []string) bool {
	for _, k := range keywords {
		for i := 0; i+len(k) <= len(b); i++ {
			j := 0
			for j < len(k) && b[i+j]|0x20 == k[j] {
				j++
			}
			if j == len(k) {
				return true
			}
		}
	}
	return false
}
