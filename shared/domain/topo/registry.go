package topo

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/lensflow/lensflow/shared/errs"
)

// DetectBytes is how much of the start of a file Parse shows to Detect.
const DetectBytes = 16 << 10

// Detection confidences, for Format.Detect. Formats may return any value in
// between; the highest wins and ties go to the format registered first.
const (
	// NoMatch means the bytes are certainly not this format.
	NoMatch = 0
	// Weak means the bytes resemble the format but lack its signature, for
	// example numbers without the expected header. Detecting weakly lets
	// the parser explain what is missing instead of "no parser accepts".
	Weak = 20
	// Likely means the signature is present.
	Likely = 80
	// Certain means a signature no other format shares (a magic number).
	Certain = 100
)

// Format is one file layout. Implementations must be safe for concurrent
// use, must not panic on any input, and must keep patient identifiers out
// of the Surface and out of error messages.
type Format interface {
	// Name is the stable, lower-case name of the format, e.g. "xyz-csv".
	Name() string
	// Detect reports how confident the format is that a file starting with
	// head (at most DetectBytes bytes) is one of its files, from NoMatch to
	// Certain. It must be cheap: it runs for every format on every upload.
	Detect(head []byte) int
	// Parse parses a whole file. Errors are errs.Invalid (with the field
	// "line N" where a line is at fault) or errs.TooLarge.
	Parse(data []byte, opts Options) (*Surface, *Identifiers, error)
}

// Registry is a set of Formats. The package-level functions use a default
// registry that holds every built-in format; tests and tools may build
// their own.
type Registry struct {
	mu      sync.RWMutex
	formats []Format
}

// NewRegistry returns a registry holding formats, in that order.
func NewRegistry(formats ...Format) *Registry {
	r := &Registry{}
	for _, f := range formats {
		r.Register(f)
	}
	return r
}

// Register adds f. Like database/sql.Register it is meant for init time and
// panics if f is nil or its name is empty or already registered.
func (r *Registry) Register(f Format) {
	if f == nil || f.Name() == "" {
		panic("topo: Register of a nil or unnamed format")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.formats {
		if g.Name() == f.Name() {
			panic("topo: Register called twice for format " + f.Name())
		}
	}
	r.formats = append(r.formats, f)
}

// Formats returns the names of the registered formats in registration order.
func (r *Registry) Formats() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, len(r.formats))
	for i, f := range r.formats {
		names[i] = f.Name()
	}
	return names
}

// Parse detects the format of data and parses it. An empty file, or one no
// format recognises, is an errs.Invalid error; so is any parse failure of
// the format chosen (formats are not retried in turn: the most confident
// format's error is the most useful one).
func (r *Registry) Parse(data []byte, opts Options) (*Surface, *Identifiers, error) {
	const op = "topo.Parse"
	if len(trimSpaceBytes(data)) == 0 {
		return nil, nil, errs.Ef(op, errs.Invalid, "empty file")
	}
	head := data[:min(len(data), DetectBytes)]
	r.mu.RLock()
	var best Format
	bestScore := NoMatch
	for _, f := range r.formats {
		if s := f.Detect(head); s > bestScore {
			best, bestScore = f, s
		}
	}
	r.mu.RUnlock()
	if best == nil {
		return nil, nil, errs.E(op, errs.Invalid, errors.New(r.refusal(head, len(head) < len(data))))
	}
	return parseWith(best, data, opts)
}

// refusal is the message for a file no format recognises: each format's
// objection, naming the line at fault; or, for a multipart form or a file
// that is not text, what to do instead.
func (r *Registry) refusal(head []byte, truncated bool) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var b strings.Builder
	b.WriteString("no parser accepts this file")
	if multipart, binary := looksMultipart(head), looksBinary(head, truncated); multipart || binary {
		b.WriteString(" (tried: ")
		for i, f := range r.formats {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.Name())
		}
		if multipart {
			b.WriteString("): it is a multipart/form-data body, as curl -F or a web form sends; send the file itself as the request body (curl --data-binary @file)")
		} else {
			b.WriteString("); it is not a text file")
		}
		return b.String()
	}
	for i, f := range r.formats {
		if i == 0 {
			b.WriteString(". ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(objection(f, head))
	}
	return b.String()
}

// Lookup returns the format registered under name.
func (r *Registry) Lookup(name string) (Format, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, f := range r.formats {
		if f.Name() == name {
			return f, true
		}
	}
	return nil, false
}

// ParseAs parses data as the named format, without detection. An unknown
// name is an errs.Invalid error listing the known ones.
func (r *Registry) ParseAs(format string, data []byte, opts Options) (*Surface, *Identifiers, error) {
	f, ok := r.Lookup(format)
	if !ok {
		return nil, nil, errs.Field("topo.ParseAs", "format", "unknown format (known: %s)", strings.Join(r.Formats(), ", "))
	}
	if len(trimSpaceBytes(data)) == 0 {
		return nil, nil, errs.Ef("topo.ParseAs", errs.Invalid, "empty file")
	}
	return parseWith(f, data, opts)
}

func parseWith(f Format, data []byte, opts Options) (*Surface, *Identifiers, error) {
	opts = opts.withDefaults()
	s, id, err := f.Parse(data, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := checkSpread(s, opts.MinPoints); err != nil {
		return nil, nil, err
	}
	s.Format = f.Name()
	if id == nil {
		id = &Identifiers{}
	}
	return s, id, nil
}

var defaultRegistry = NewRegistry()

// Register adds f to the default registry (see Registry.Register). Format
// files call it from init.
func Register(f Format) { defaultRegistry.Register(f) }

// Formats returns the names of the formats in the default registry.
func Formats() []string { return defaultRegistry.Formats() }

// Lookup returns the format of the default registry registered under name.
func Lookup(name string) (Format, bool) { return defaultRegistry.Lookup(name) }

// Parse detects the format of data among the default registry's formats and
// parses it into a Surface and the Identifiers found in the file.
func Parse(data []byte, opts Options) (*Surface, *Identifiers, error) {
	return defaultRegistry.Parse(data, opts)
}

// ParseAs parses data as the named format of the default registry.
func ParseAs(format string, data []byte, opts Options) (*Surface, *Identifiers, error) {
	return defaultRegistry.ParseAs(format, data, opts)
}

// looksBinary reports whether head holds a NUL byte or is not UTF-8. When
// head is a prefix of a longer file (truncated), a multi-byte character cut
// by the end of head does not count.
func looksBinary(head []byte, truncated bool) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	if utf8.Valid(head) {
		return false
	}
	if truncated {
		for k := 1; k < utf8.UTFMax && k <= len(head); k++ {
			if utf8.Valid(head[:len(head)-k]) {
				return false
			}
		}
	}
	return true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

func trimSpaceBytes(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}
