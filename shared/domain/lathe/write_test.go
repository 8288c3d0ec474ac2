package lathe_test

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/errs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestWriteGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := lathe.Write(&buf, symmetricBack()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "symmetric.V5B")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Write differs from %s:\n%s", golden, diffLines(buf.String(), string(want)))
	}
}

func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  got  " + strconv.Quote(gl) + "\n  want " + strconv.Quote(wl) + "\n")
		}
	}
	return b.String()
}

var (
	valueLineRE = regexp.MustCompile(`^(\S+) +\\ (\S.*)$`)
	pointLineRE = regexp.MustCompile(`^(-?\d+\.\d{10}) ; (-?\d+\.\d{10})$`)
)

// TestWriteLayout checks the golden surface's text line by line against
// the layout of formats.md: the header values in order, the surface
// definition, then the radial definition.
func TestWriteLayout(t *testing.T) {
	s := symmetricBack()
	b, err := lathe.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	want := []struct {
		value   string // "" for a comment line, which must equal comment
		comment string // a word the comment must contain
	}{
		{"BR", "side"},
		{"0", "symmetry"},
		{"1", "continuous surfaces"},
		{"7.8", "horizontal"},
		{"7.8", "vertical"},
		{"3.5", "optic zone diameter"},
		{"4.0", "lens diameter"},
		{"1", "parts to cut"},
		{"0.26076927", "sag without edge radius"},
		{"", `\-- SURFACE DEFINITION #1 --`},
		{"0", "symmetry"},
		{"2.0", "x start"},
		{"0.0", "x end"},
		{"0.0", "junction blend radius"},
		{"0", "MAF"},
		{"1", "number of meridians"},
		{"0.0", "rotation angle of the first meridian"},
		{"", `\ --- radial definition ---`},
		{"5", "number of points"},
	}
	if len(lines) != len(want)+5 {
		t.Fatalf("%d lines, want %d", len(lines), len(want)+5)
	}
	for i, w := range want {
		line := lines[i]
		t.Run(strconv.Itoa(i+1), func(t *testing.T) {
			if w.value == "" {
				if line != w.comment {
					t.Fatalf("line %q, want %q", line, w.comment)
				}
				return
			}
			m := valueLineRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %q is not `value  \\ comment`", line)
			}
			if m[1] != w.value || !strings.Contains(m[2], w.comment) {
				t.Errorf("line %q: value %q comment %q, want %q and a comment about %q", line, m[1], m[2], w.value, w.comment)
			}
			if strings.Index(line, `\`) != 20 {
				t.Errorf("line %q: comment starts at column %d, want 20", line, strings.Index(line, `\`))
			}
		})
	}
	prevX := math.Inf(1)
	for j, line := range lines[len(want):] {
		m := pointLineRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("point line %q is not `x ; z` with ten decimals", line)
		}
		x, _ := strconv.ParseFloat(m[1], 64)
		z, _ := strconv.ParseFloat(m[2], 64)
		p := s.Meridians[0].Points[j]
		if math.Abs(x-p.XMM) > 5e-11 || math.Abs(z-p.ZMM) > 5e-11 {
			t.Errorf("point %d = (%v, %v), want (%v, %v)", j, x, z, p.XMM, p.ZMM)
		}
		if !(x < prevX) {
			t.Errorf("point %d: x %v does not decrease", j, x)
		}
		prevX = x
	}
	if last := lines[len(lines)-1]; last != "0.0000000000 ; 0.0000000000" {
		t.Errorf("last point %q, want the centre", last)
	}
}

func TestWriteFrontOffsetsByCenterThickness(t *testing.T) {
	back := symmetricBack()
	front := back
	front.Side = lathe.Front
	front.CenterThicknessMM = 0.2
	bb, err := lathe.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := lathe.Marshal(front)
	if err != nil {
		t.Fatal(err)
	}
	bl, fl := strings.Split(string(bb), "\n"), strings.Split(string(fb), "\n")
	if !strings.HasPrefix(fl[0], "FR ") {
		t.Errorf("first line %q, want the FR marker", fl[0])
	}
	for i := 1; i < len(bl); i++ {
		bm, fm := pointLineRE.FindStringSubmatch(bl[i]), pointLineRE.FindStringSubmatch(fl[i])
		if bm == nil {
			if bl[i] != fl[i] {
				t.Errorf("line %d: front %q, back %q; only the marker and the points may differ", i+1, fl[i], bl[i])
			}
			continue
		}
		bz, _ := strconv.ParseFloat(bm[2], 64)
		fz, _ := strconv.ParseFloat(fm[2], 64)
		if bm[1] != fm[1] || math.Abs(fz-bz-0.2) > 2e-10 {
			t.Errorf("line %d: front %q, back %q: want the same x and z + 0.2", i+1, fl[i], bl[i])
		}
	}
	if last := fl[len(fl)-2]; last != "0.0000000000 ; 0.2000000000" {
		t.Errorf("front centre %q, want (0, CT)", last)
	}
}

func TestWriteToric(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        int
		firstDeg float64
		sag      lathe.SagFunc
		angles   []float64
	}{
		{"two halves", 2, 0, func(deg, r float64) float64 {
			if deg == 180 {
				return sphere(7.9)(r) // temporal half flatter
			}
			return sphere(7.8)(r)
		}, []float64{0, 180}},
		{"toric four", 4, 15, toricSag(7.8, 7.5, -0.2, 15), []float64{15, 105, 195, 285}},
		{"toric eight", 8, 170, toricSag(7.8, 7.5, -0.2, 170), []float64{170, 215, 260, 305, 350, 35, 80, 125}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := lathe.Sampler{}.Meridians(tc.sag, tc.n, tc.firstDeg, 5)
			if err != nil {
				t.Fatal(err)
			}
			s := lathe.Surface{
				Side: lathe.Back, Meridians: ms,
				BaseCurveHMM: 7.8, BaseCurveVMM: 7.5, OpticZoneMM: 8, DiameterMM: 10.2,
				Parts: 2, SagMM: tc.sag(tc.firstDeg, 5), MAFIterations: 3,
			}
			b, err := lathe.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
			for _, want := range []struct {
				line  int
				value string
			}{{2, "1"}, {11, "1"}, {15, "3"}, {16, strconv.Itoa(tc.n)}, {17, strconv.FormatFloat(tc.firstDeg, 'f', 1, 64)}} {
				if got := valueLineRE.FindStringSubmatch(lines[want.line-1]); got == nil || got[1] != want.value {
					t.Errorf("line %d %q, want value %q", want.line, lines[want.line-1], want.value)
				}
			}
			if got := strings.Count(string(b), "number of points, meridian"); got != tc.n {
				t.Errorf("%d meridians written, want %d", got, tc.n)
			}
			back, err := lathe.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range back.Meridians {
				if math.Abs(m.AngleDeg-tc.angles[i]) > 1e-9 {
					t.Errorf("meridian %d at %v deg, want %v", i, m.AngleDeg, tc.angles[i])
				}
			}
			if err := lathe.Verify(back, tc.sag, 0.1); err != nil {
				t.Error(err)
			}
			// The meridians do differ: checking against the wrong one fails.
			swapped := func(deg, r float64) float64 { return tc.sag(math.Mod(deg+360/float64(tc.n), 360), r) }
			if err := lathe.Verify(back, swapped, 0.1); err == nil {
				t.Error("Verify accepted the meridians rotated by one step")
			}
		})
	}
}

func TestWriteNoNegativeZero(t *testing.T) {
	s := symmetricBack()
	s.Meridians[0].Points[3].ZMM = -4e-11 // rounds to zero
	s.SagMM = -1e-11                      // rounds to zero too
	b, err := lathe.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("-0.0")) {
		t.Errorf("negative zero written:\n%s", b)
	}
}

func TestWriteLongValueStillPadded(t *testing.T) {
	s := symmetricBack()
	s.Parts = 1234
	s.SagMM = -99.123456
	b, err := lathe.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("\n-99.123456          \\ sag")) {
		t.Errorf("sag line not padded:\n%s", b)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteReportsWriterError(t *testing.T) {
	err := lathe.Write(failingWriter{}, symmetricBack())
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the writer's error", err)
	}
	if errs.Is(errs.Invalid, err) {
		t.Errorf("a writer failure is not invalid input: %v", err)
	}
}

func TestValidate(t *testing.T) {
	type mod func(*lathe.Surface)
	pts := func(s *lathe.Surface) []lathe.Point { return s.Meridians[0].Points }
	for _, tc := range []struct {
		name  string
		mod   mod
		field string
	}{
		{"zero side", func(s *lathe.Surface) { s.Side = 0 }, "side"},
		{"no meridians", func(s *lathe.Surface) { s.Meridians = nil }, "meridians"},
		{"too many meridians", func(s *lathe.Surface) {
			s.Meridians = make([]lathe.Meridian, lathe.MaxMeridians+1)
		}, "meridians"},
		{"one point", func(s *lathe.Surface) { s.Meridians[0].Points = pts(s)[4:] }, "meridians[0].points"},
		{"NaN z", func(s *lathe.Surface) { pts(s)[1].ZMM = math.NaN() }, "meridians[0].points[1]"},
		{"Inf x", func(s *lathe.Surface) { pts(s)[0].XMM = math.Inf(1) }, "meridians[0].points[0]"},
		{"huge z", func(s *lathe.Surface) { pts(s)[0].ZMM = 1e9 }, "meridians[0].points[0]"},
		{"x increasing", func(s *lathe.Surface) { pts(s)[2].XMM = 1.6 }, "meridians[0].points[2]"},
		{"x repeated", func(s *lathe.Surface) { pts(s)[2].XMM = 1.5 }, "meridians[0].points[2]"},
		{"x closer than the file resolution", func(s *lathe.Surface) { pts(s)[2].XMM = 1.5 - 1e-11 }, "meridians[0].points[2]"},
		{"centre z off", func(s *lathe.Surface) { pts(s)[4].ZMM = 1e-6 }, "meridians[0].points[4]"},
		{"no centre", func(s *lathe.Surface) { s.Meridians[0].Points = pts(s)[:4] }, "meridians[0].points[3]"},
		{"angle out of range", func(s *lathe.Surface) { s.Meridians[0].AngleDeg = 360 }, "meridians[0].angle"},
		{"angles not equally spaced", func(s *lathe.Surface) {
			s.Meridians = []lathe.Meridian{s.Meridians[0], {AngleDeg: 90, Points: pts(s)}}
		}, "meridians[1].angle"},
		{"meridians start apart", func(s *lathe.Surface) {
			s.Meridians = []lathe.Meridian{s.Meridians[0], {AngleDeg: 180, Points: pts(s)[1:]}}
		}, "meridians[1].points[0]"},
		{"beyond the lens edge", func(s *lathe.Surface) { s.DiameterMM = 3.9 }, "diameter"},
		{"zero diameter", func(s *lathe.Surface) { s.DiameterMM, s.OpticZoneMM = 0, 0 }, "diameter"},
		{"optic zone beyond lens", func(s *lathe.Surface) { s.OpticZoneMM = 5 }, "opticZone"},
		{"NaN base curve", func(s *lathe.Surface) { s.BaseCurveHMM = math.NaN() }, "baseCurveH"},
		{"negative base curve", func(s *lathe.Surface) { s.BaseCurveVMM = -7 }, "baseCurveV"},
		{"Inf sag", func(s *lathe.Surface) { s.SagMM = math.Inf(-1) }, "sag"},
		{"negative blend", func(s *lathe.Surface) { s.BlendRadiusMM = -1 }, "blendRadius"},
		{"no parts", func(s *lathe.Surface) { s.Parts = 0 }, "parts"},
		{"negative MAF", func(s *lathe.Surface) { s.MAFIterations = -1 }, "mafIterations"},
		{"back with CT", func(s *lathe.Surface) { s.CenterThicknessMM = 0.2 }, "centerThickness"},
		{"front without CT", func(s *lathe.Surface) { s.Side = lathe.Front }, "centerThickness"},
		{"front with huge CT", func(s *lathe.Surface) { s.Side, s.CenterThicknessMM = lathe.Front, 11 }, "centerThickness"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := symmetricBack()
			s.Meridians[0].Points = append([]lathe.Point(nil), s.Meridians[0].Points...)
			tc.mod(&s)
			err := s.Validate()
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("err = %v, want invalid", err)
			}
			if got := errs.FieldOf(err); got != tc.field {
				t.Errorf("field %q, want %q (%v)", got, tc.field, err)
			}
			if _, err := lathe.Marshal(s); !errs.Is(errs.Invalid, err) {
				t.Errorf("Marshal err = %v, want invalid", err)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		if err := symmetricBack().Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFileName(t *testing.T) {
	for _, tc := range []struct {
		id   string
		side lathe.Side
		want string
	}{
		{"job-2026-00042", lathe.Back, "job-2026-00042.V5B"},
		{"job-2026-00042", lathe.Front, "job-2026-00042.V5F"},
		{"d_7f3a", lathe.Back, "d_7f3a.V5B"},
		{"../../etc/passwd", lathe.Back, "______etc_passwd.V5B"},
		{"a b\\c", lathe.Front, "a_b_c.V5F"},
		{"", lathe.Back, "_.V5B"},
		{"job", 0, ""},
	} {
		t.Run(tc.id, func(t *testing.T) {
			if got := lathe.FileName(tc.id, tc.side); got != tc.want {
				t.Errorf("FileName(%q, %v) = %q, want %q", tc.id, tc.side, got, tc.want)
			}
		})
	}
}

func TestSideNames(t *testing.T) {
	for _, tc := range []struct {
		side                lathe.Side
		str, marker, suffix string
	}{
		{lathe.Back, "back", "BR", ".V5B"},
		{lathe.Front, "front", "FR", ".V5F"},
		{0, "invalid side", "", ""},
	} {
		if tc.side.String() != tc.str || tc.side.Marker() != tc.marker || tc.side.Ext() != tc.suffix {
			t.Errorf("side %d: %q %q %q", int(tc.side), tc.side.String(), tc.side.Marker(), tc.side.Ext())
		}
	}
}
