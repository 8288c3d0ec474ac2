package lathe_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/errs"
)

// sameSurface fails the test unless got equals want to the file's
// resolution: points to 1e-10 mm, header values to 1e-6.
func sameSurface(t *testing.T, got, want lathe.Surface) {
	t.Helper()
	if got.Side != want.Side || got.Parts != want.Parts || got.MAFIterations != want.MAFIterations {
		t.Errorf("side/parts/MAF %v/%d/%d, want %v/%d/%d", got.Side, got.Parts, got.MAFIterations, want.Side, want.Parts, want.MAFIterations)
	}
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"base curve H", got.BaseCurveHMM, want.BaseCurveHMM},
		{"base curve V", got.BaseCurveVMM, want.BaseCurveVMM},
		{"optic zone", got.OpticZoneMM, want.OpticZoneMM},
		{"diameter", got.DiameterMM, want.DiameterMM},
		{"sag", got.SagMM, want.SagMM},
		{"centre thickness", got.CenterThicknessMM, want.CenterThicknessMM},
		{"blend radius", got.BlendRadiusMM, want.BlendRadiusMM},
	} {
		if math.Abs(f.got-f.want) > 5e-7 {
			t.Errorf("%s %v, want %v", f.name, f.got, f.want)
		}
	}
	if len(got.Meridians) != len(want.Meridians) {
		t.Fatalf("%d meridians, want %d", len(got.Meridians), len(want.Meridians))
	}
	for i, m := range got.Meridians {
		w := want.Meridians[i]
		if math.Abs(m.AngleDeg-w.AngleDeg) > 5e-7 || len(m.Points) != len(w.Points) {
			t.Fatalf("meridian %d: %v deg with %d points, want %v deg with %d", i, m.AngleDeg, len(m.Points), w.AngleDeg, len(w.Points))
		}
		for j, p := range m.Points {
			if math.Abs(p.XMM-w.Points[j].XMM) > 5.1e-11 || math.Abs(p.ZMM-w.Points[j].ZMM) > 1.1e-10 {
				t.Fatalf("meridian %d point %d = %v, want %v", i, j, p, w.Points[j])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	orthoK, breaks := reverseGeometry()
	okPts, err := lathe.SampleWithBreaks(orthoK, 5.2, 0.1, breaks)
	if err != nil {
		t.Fatal(err)
	}
	toric, err := lathe.Sampler{}.Meridians(toricSag(7.8, 7.6, -0.25, 12), 4, 12, 5.5)
	if err != nil {
		t.Fatal(err)
	}
	front := symmetricBack()
	front.Side, front.CenterThicknessMM = lathe.Front, 0.23
	for _, tc := range []struct {
		name string
		s    lathe.Surface
	}{
		{"symmetric back", symmetricBack()},
		{"symmetric front", front},
		{"ortho-k", lathe.Surface{
			Side: lathe.Back, Meridians: []lathe.Meridian{{Points: okPts}},
			BaseCurveHMM: 8.54, BaseCurveVMM: 8.54, OpticZoneMM: 6, DiameterMM: 10.6,
			Parts: 1, SagMM: okPts[0].ZMM, BlendRadiusMM: 0.05,
		}},
		{"toric front", lathe.Surface{
			Side: lathe.Front, Meridians: toric, CenterThicknessMM: 0.16,
			BaseCurveHMM: 7.8, BaseCurveVMM: 7.6, OpticZoneMM: 8, DiameterMM: 11,
			Parts: 3, SagMM: 1.2345678, MAFIterations: 2,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := lathe.Marshal(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := lathe.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			sameSurface(t, got, tc.s)
			again, err := lathe.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(b) {
				t.Errorf("Write(Parse(Write(s))) differs from Write(s):\n%s", diffLines(string(again), string(b)))
			}
		})
	}
}

func TestParseGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "symmetric.V5B"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := lathe.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	sameSurface(t, got, symmetricBack())
	if err := lathe.Verify(got, func(_, r float64) float64 { return sphere(7.8)(r) }, 0.1); err != nil {
		// Five points cannot follow a sphere to 0.1 µm: Verify must say so.
		if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "off the design") {
			t.Errorf("Verify error %v", err)
		}
	} else {
		t.Error("Verify accepted five points as a sphere to 0.1 µm")
	}
}

// golden returns the golden file's text.
func golden(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join("testdata", "symmetric.V5B"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseTolerates(t *testing.T) {
	g := golden(t)
	commentedOut := strings.NewReplacer(
		"0                   \\ angular", "\\0                  \\ angular",
		"1                   \\ number of meridians", "\\1                  \\ number of meridians",
		"0.0                 \\ rotation", "\\0.0                \\ rotation",
	).Replace(g)
	for _, tc := range []struct {
		name string
		text string
	}{
		{"CRLF", strings.ReplaceAll(g, "\n", "\r\n")},
		{"BOM", "\xEF\xBB\xBF" + g},
		{"blank and comment lines", strings.Replace(strings.ReplaceAll(g, "\n", "\n\n"), "\\ --- radial", "\\ a note\n\\ --- radial", 1)},
		{"point comments and spacing", strings.Replace(g, "1.5000000000 ; 0.1455895067", "  1.5000000000;0.1455895067   \\ mid", 1)},
		{"short decimals", strings.Replace(g, "0.0000000000 ; 0.0000000000", "0 ; 0", 1)},
		{"symmetric lines commented out", commentedOut},
		{"no trailing newline", strings.TrimSuffix(g, "\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lathe.Parse([]byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			sameSurface(t, got, symmetricBack())
		})
	}
}

func TestParseErrors(t *testing.T) {
	g := golden(t)
	lines := strings.Split(g, "\n")
	// set returns the golden file with line n (1-based) replaced.
	set := func(n int, line string) string {
		l := append([]string(nil), lines...)
		l[n-1] = line
		return strings.Join(l, "\n")
	}
	toric := func() string {
		ms, err := lathe.Sampler{MaxStepMM: 0.5}.Meridians(toricSag(7.8, 7.6, 0, 0), 4, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		s := symmetricBack()
		s.Meridians = ms
		b, err := lathe.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}()
	tl := strings.Split(toric, "\n")
	for _, tc := range []struct {
		name  string
		text  string
		field string
		msg   string
	}{
		{"empty", "", "end of file", "side marker"},
		{"only comments", "\\ hello\n\\ world\n", "end of file", "side marker"},
		{"binary", "\x00\x01\xff\xfe", "line 1", "side marker"},
		{"bad marker", set(1, "XR                  \\ side"), "line 1", "side marker"},
		{"bad symmetry", set(2, "2"), "line 2", "symmetry"},
		{"two surfaces", set(3, "2"), "line 3", "continuous surfaces"},
		{"NaN base curve", set(4, "NaN"), "line 4", "base curve"},
		{"word for a number", set(5, "seven"), "line 5", "not a number"},
		{"Inf diameter", set(7, "Inf"), "line 7", "lens diameter"},
		{"zero diameter", set(7, "0"), "line 7", "positive"},
		{"optic zone beyond lens", set(6, "9"), "line 6", "optic zone"},
		{"fractional parts", set(8, "1.5"), "line 8", "whole number"},
		{"symmetry flags disagree", set(11, "1"), "line 11", "disagrees"},
		{"x start beyond edge", set(12, "2.5"), "line 12", "beyond the lens edge"},
		{"x start not the first point", set(12, "1.9"), "line 20", "x start"},
		{"x end not zero", set(13, "0.1"), "line 13", "x end"},
		{"negative blend", set(14, "-1"), "line 14", "blend"},
		{"symmetric with 2 meridians", set(16, "2"), "line 16", "1 meridian"},
		{"angle 360", set(17, "360"), "line 17", "below 360"},
		{"too few points", set(19, "1"), "line 19", "number of points"},
		{"a billion points", set(19, "1000000000"), "line 19", "number of points"},
		{"more points claimed", set(19, "7"), "end of file", "after 5 of the 7 points"},
		{"fewer points claimed", set(19, "4"), "line 23", "centre"},
		{"no separator", set(21, "1.5 0.1455895067"), "line 21", `"x ; z"`},
		{"bad number", set(21, "1.5 ; zero"), "line 21", "two numbers"},
		{"NaN point", set(21, "1.5 ; NaN"), "line 21", "not finite"},
		{"huge point", set(21, "1.5 ; 1e300"), "line 21", "not finite"},
		{"x increasing", set(21, "2.5 ; 0.1"), "line 21", "does not decrease"},
		{"x repeated", set(22, "1.5000000000 ; 0.06"), "line 22", "does not decrease"},
		{"centre z off", set(24, "0.0000000000 ; 0.0001"), "line 24", "centre z"},
		{"trailing data", g + "1 ; 2\n", "line 25", "after the last meridian"},
		{"truncated header", strings.Join(lines[:12], "\n"), "end of file", "x end"},
		{"front without thickness", set(1, "FR"), "line 24", "centre thickness"},
		{"toric meridian count missing a meridian", strings.Join(tl[:len(tl)-7], "\n"), "end of file", "meridian 4"},
		{"toric meridians start apart", func() string {
			l := append([]string(nil), tl...)
			for i, line := range l {
				if strings.Contains(line, "meridian 4 at") {
					l[i+1] = "1.9999999 ; 0.2"
				}
			}
			return strings.Join(l, "\n")
		}(), "line", "meridian 4 starts at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lathe.Parse([]byte(tc.text))
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("err = %v, want invalid", err)
			}
			if got := errs.FieldOf(err); !strings.HasPrefix(got, tc.field) {
				t.Errorf("field %q, want %q (%v)", got, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}
