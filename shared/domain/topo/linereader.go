package topo

import "bytes"

// lineReader walks the lines of a text file (or of the head Detect sees):
// one loop for every reader, so line numbers, line ends and the byte order
// mark are handled the same way everywhere. It does not allocate.
//
//	r := newLineReader(data)
//	for b, ok := r.next(); ok; b, ok = r.next() {
//		// b is line r.line, trimmed of spaces and of its "\n" or "\r\n"
//	}
type lineReader struct {
	data []byte
	pos  int
	line int  // number of the line next returned last, from 1
	cut  bool // that line ran to the end of data without a '\n'
	crlf bool // a line seen so far ended in "\r\n"
	bom  bool // data started with a UTF-8 byte order mark (skipped)
}

// newLineReader returns a reader positioned before the first line of data,
// past a UTF-8 byte order mark if there is one.
func newLineReader(data []byte) lineReader {
	r := lineReader{data: data}
	if bytes.HasPrefix(data, utf8BOM) {
		r.pos, r.bom = len(utf8BOM), true
	}
	return r
}

// next returns the next line, trimmed of surrounding spaces (so of its
// line end too), and false at the end of the data. Blank lines are
// returned (empty): they still count in line numbers.
func (r *lineReader) next() ([]byte, bool) {
	if r.pos >= len(r.data) {
		return nil, false
	}
	var b []byte
	if i := bytes.IndexByte(r.data[r.pos:], '\n'); i >= 0 {
		b, r.pos, r.cut = r.data[r.pos:r.pos+i], r.pos+i+1, false
		if i > 0 && b[i-1] == '\r' {
			r.crlf = true
		}
	} else {
		b, r.pos, r.cut = r.data[r.pos:], len(r.data), true
	}
	r.line++
	return trimSpaceBytes(b), true
}

// skipTo moves past a line that the caller read itself, straight from
// data[pos:end], where end is just past its line end ("\n" or "\r\n") or
// len(data): the line number, CRLF and cut flags move on as next would.
func (r *lineReader) skipTo(end int) {
	r.line++
	r.cut = r.data[end-1] != '\n'
	if !r.cut && end-2 >= r.pos && r.data[end-2] == '\r' {
		r.crlf = true
	}
	r.pos = end
}

// rest returns the bytes after the line next returned last.
func (r *lineReader) rest() []byte { return r.data[r.pos:] }

// layout appends to l the line-level variants seen so far, for
// Surface.Layout.
func (r *lineReader) layout(l []string) []string {
	if r.bom {
		l = append(l, LayoutBOM)
	}
	if r.crlf {
		l = append(l, LayoutCRLF)
	}
	return l
}
