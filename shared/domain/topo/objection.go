package topo

import (
	"bytes"
	"fmt"
	"strings"
)

// Objector is implemented by formats that can say why a file is not one of
// theirs. When no format recognises an upload, Parse lists each format's
// objection, so that a clinic sees what each layout expected and where,
// instead of a bare refusal. Object gets what Detect got (at most
// DetectBytes of the file's start) and returns the line at fault (from 1;
// 0 when no single line is) and what the format expected. The reason must
// not quote the file: its header may hold patient identifiers.
type Objector interface {
	Object(head []byte) (line int, reason string)
}

// objection is one format's objection as Parse lists it.
func objection(f Format, head []byte) string {
	o, ok := f.(Objector)
	if !ok {
		return f.Name() + ": not its layout"
	}
	line, reason := o.Object(head)
	if line > 0 {
		return fmt.Sprintf("%s: line %d: %s", f.Name(), line, reason)
	}
	return f.Name() + ": " + reason
}

// looksMultipart reports whether head is a multipart/form-data body (what
// curl -F and browser forms send) rather than the file itself: a boundary
// line "--..." followed by a form-data part header.
func looksMultipart(head []byte) bool {
	r := newLineReader(head)
	first, ok := r.next()
	if !ok || !bytes.HasPrefix(first, []byte("--")) || len(first) < 3 {
		return false
	}
	for i := 0; i < 4; i++ {
		line, ok := r.next()
		if !ok {
			return false
		}
		if len(line) >= len("content-disposition:") &&
			strings.EqualFold(string(line[:len("content-disposition:")]), "content-disposition:") {
			return bytes.Contains(bytes.ToLower(line), []byte("form-data"))
		}
	}
	return false
}

// firstContentLine returns the first line of head that is neither blank
// nor a "#" comment, and its number (0 if there is none).
func firstContentLine(head []byte) ([]byte, int) {
	r := newLineReader(head)
	for line, ok := r.next(); ok; line, ok = r.next() {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		return line, r.line
	}
	return nil, 0
}

// matrixObjection is the objection of the matrix formats (cso, pentacam):
// they look for a header naming their device, or a first data row of
// their width; it names the first data row and how many cells it has.
func matrixObjection(head []byte, device string, width string) (int, string) {
	if hasNUL(head) {
		return 0, "not a text file"
	}
	r := newLineReader(head)
	for line, ok := r.next(); ok; line, ok = r.next() {
		if len(line) == 0 || line[0] == '#' || !isDataRow(line) {
			continue
		}
		n := countCells(line, rowSeparator(line), 1<<20)
		return r.line, fmt.Sprintf("the first row of values has %d; expected %s, or a header naming %s", n, width, device)
	}
	return 0, fmt.Sprintf("no row of values and no header naming %s", device)
}

// Object: the header row x,y,z is missing.
func (xyzCSV) Object(head []byte) (int, string) {
	if looksBinary(head, true) {
		return 0, "not a text file"
	}
	// (A file of bare x,y,z rows is detected weakly and its parser
	// explains itself: Object sees only files no format detected.)
	if _, n := firstContentLine(head); n > 0 {
		return n, "expected the header row x,y,z"
	}
	return 0, "no header row x,y,z"
}

// Object: neither a CSO header nor a 256-value row.
func (csoFormat) Object(head []byte) (int, string) {
	return matrixObjection(head, "a CSO device (Sirius, MS-39, Antares)", "256 (one per semi-meridian)")
}

// Object: no Pentacam header, no 141-cell row.
func (pentacamFormat) Object(head []byte) (int, string) {
	return matrixObjection(head, "the Pentacam or a best-fit sphere", "141 (142 with a row label)")
}

// Object: the raw export's header keys, or its one value per line, are
// missing.
func (csoRawFormat) Object(head []byte) (int, string) {
	if hasNUL(head) {
		return 0, "not a text file"
	}
	line, n := firstContentLine(head)
	if n == 0 {
		return 0, "no header and no values"
	}
	if _, _, ok := parseDecimal(line); ok {
		return n, "a value before its header (rings, semi-meridians, measured data)"
	}
	return 0, "expected its header (rings, semi-meridians, measured data, SIM-k) and then one value per line"
}
