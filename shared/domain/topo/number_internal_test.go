package topo

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// plainDecimal is the form scanDecimal reads, as a reference.
var plainDecimal = regexp.MustCompile(`^[-+]?([0-9]*)(?:\.([0-9]*))?`)

// checkScanDecimal compares scanDecimal on b with a reference built from
// a regular expression and strconv: the same end, accepted exactly when
// the number has 1 to 19 digits and a mantissa below 2^53, and then
// ParseFloat's value bit for bit.
func checkScanDecimal(t *testing.T, b []byte) {
	t.Helper()
	v, end, ok := scanDecimal(b)
	m := plainDecimal.FindSubmatchIndex(b)
	digits := string(b[m[2]:m[3]])
	if m[4] >= 0 {
		digits += string(b[m[4]:m[5]])
	}
	mant, err := strconv.ParseUint(digits, 10, 64)
	want := len(digits) > 0 && len(digits) <= 19 && err == nil && mant < 1<<53
	if ok != want {
		t.Fatalf("scanDecimal(%q) ok = %v, want %v", b, ok, want)
	}
	if !ok {
		return
	}
	if end != m[1] {
		t.Fatalf("scanDecimal(%q) ends at %d, want %d", b, end, m[1])
	}
	f, err := strconv.ParseFloat(string(b[:end]), 64)
	if err != nil || math.Float64bits(f) != math.Float64bits(v) {
		t.Fatalf("scanDecimal(%q) = %v (%b), ParseFloat = %v (%b), %v", b, v, math.Float64bits(v), f, math.Float64bits(f), err)
	}
}

func TestScanDecimal(t *testing.T) {
	for _, s := range []string{
		"", "-", "+", ".", "-.", "+.5", ".5", "5.", "-0", "-0.000", "0.000641,", "-6.9000,3.84\n", "3.858368\r\n",
		"1e5", "1.5e-3,", "1.2.3", "--1", "12345678901234567890", "1234567890123456789", "9007199254740991",
		"9007199254740992", "0.9007199254740993", "000000000000000000001", "0000000000000000001", "7,8", "x",
		"12.000001;", "-1000", "4.", "1_0", "0x10",
	} {
		checkScanDecimal(t, []byte(s))
	}
}

func FuzzScanDecimal(f *testing.F) {
	for _, s := range []string{"-6.9000,", "0.000641\n", "1e5", "12345678901234567890", ".", "-.5", "9007199254740993"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScanDecimal(t, b) })
}

// FuzzXYZPlainRow: a row xyzPlainRow reads is read alike by xyzRow, the
// general reader of a line, and ends where the line does.
func FuzzXYZPlainRow(f *testing.F) {
	for _, s := range []string{"-1.1000,-6.9000,3.840379\n", "0,0,0", "1,2,3\r\n4,5,6\n", "1, 2,3\n", "1,2,3,4\n",
		"1e3,2,3\n", "1,2,3\r", "1,2,3 \n", ".5,5.,-0\n", "1,,3\n", "#1,2,3\n", "1,2,3\r\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, y, z, end, ok := xyzPlainRow(data, 0)
		if !ok {
			return
		}
		line, rest, _ := strings.Cut(string(data), "\n")
		switch {
		case end == len(data) && !strings.Contains(string(data), "\n"):
		case end == len(line)+1 && len(rest) == len(data)-end:
		default:
			t.Fatalf("xyzPlainRow(%q) ends at %d", data, end)
		}
		if strings.ContainsAny(line, " \t") || strings.HasSuffix(line, "\r") && !strings.HasSuffix(string(data[:end]), "\r\n") {
			t.Fatalf("xyzPlainRow(%q) read a line that is not plain", data)
		}
		a, b, c, err := xyzRow("test", trimSpaceBytes([]byte(line)), 1, 1, [3]int{0, 1, 2})
		if err != nil {
			t.Fatalf("xyzPlainRow(%q) read a row xyzRow refuses: %v", data, err)
		}
		for i, p := range [][2]float64{{x, a}, {y, b}, {z, c}} {
			if math.Float64bits(p[0]) != math.Float64bits(p[1]) {
				t.Fatalf("xyzPlainRow(%q) value %d = %v, xyzRow %v", data, i+1, p[0], p[1])
			}
		}
	})
}
