package topotest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

// TestFormat is the conformance suite every topo.Format passes: run it from
// the format's own test with a valid sample file and the identifier values
// the sample's header holds (patient name, chart id...). It checks that the
// format detects and parses its sample into a valid Surface, keeps the
// secrets out of the Surface and out of every error, and that truncated and
// corrupted copies of the sample fail with classified errors and no panic.
func TestFormat(t *testing.T, f topo.Format, sample []byte, secrets ...string) {
	t.Helper()
	leaks := func(what, text string) {
		t.Helper()
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s quotes an identifier from the file: %q", what, text)
			}
		}
	}
	t.Run("name", func(t *testing.T) {
		if n := f.Name(); n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t\n") {
			t.Errorf("name %q must be non-empty lower case without spaces", n)
		}
	})
	t.Run("detects its sample", func(t *testing.T) {
		if got := f.Detect(sample[:min(len(sample), topo.DetectBytes)]); got <= topo.NoMatch || got > topo.Certain {
			t.Errorf("Detect(sample) = %d, want in (NoMatch, Certain]", got)
		}
		for _, junk := range [][]byte{nil, {}, {0}, []byte("\xff\xfe\x00\x01"), []byte("hello")} {
			if got := f.Detect(junk); got < topo.NoMatch || got > topo.Certain {
				t.Errorf("Detect(%q) = %d, out of range", junk, got)
			}
		}
	})
	t.Run("parses its sample", func(t *testing.T) {
		s, id, err := f.Parse(sample, topo.Options{})
		if err != nil {
			t.Fatalf("Parse(sample): %v", err)
		}
		if err := s.Validate(); err != nil {
			t.Error(err)
		}
		if s.Len() == 0 || id == nil {
			t.Errorf("Parse(sample): %d points, identifiers %v", s.Len(), id)
		}
		if s.NasalFrame {
			t.Error("a parsed surface must be in the examiner's view")
		}
		leaks("Surface", fmt.Sprintf("%+v", *s))
		if len(secrets) > 0 && id.Empty() {
			t.Error("the sample holds identifiers but none were returned")
		}
	})
	t.Run("fails cleanly on damaged copies", func(t *testing.T) {
		for _, bad := range damaged(sample) {
			s, _, err := parseNoPanic(t, f, bad)
			if err == nil {
				if verr := s.Validate(); verr != nil {
					t.Errorf("damaged copy parsed into an invalid surface: %v", verr)
				}
				continue
			}
			var e *errs.Error
			if !errors.As(err, &e) || (e.Kind != errs.Invalid && e.Kind != errs.TooLarge) {
				t.Errorf("damaged copy: unclassified error %v", err)
			}
			leaks("error", err.Error())
		}
	})
}

func parseNoPanic(t *testing.T, f topo.Format, data []byte) (s *topo.Surface, id *topo.Identifiers, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Parse panicked on a %d-byte damaged copy: %v", len(data), r)
		}
	}()
	return f.Parse(data, topo.Options{})
}

// damaged returns truncated and corrupted copies of sample.
func damaged(sample []byte) [][]byte {
	var out [][]byte
	for _, frac := range []int{0, 1, 5, 10, 25, 50, 75, 99} {
		out = append(out, sample[:len(sample)*frac/100])
	}
	for _, junk := range []string{"\x00", "\xff", ",", "\n", "#", "NaN", "-", "1e999", " "} {
		for _, frac := range []int{1, 10, 50, 90} {
			at := len(sample) * frac / 100
			c := append(append(append([]byte(nil), sample[:at]...), junk...), sample[min(at+len(junk), len(sample)):]...)
			out = append(out, c)
		}
	}
	return out
}
