package lathe_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/lathe"
	"github.com/lensflow/lensflow/shared/errs"
)

func FuzzParse(f *testing.F) {
	g := golden(f)
	f.Add([]byte(g))
	f.Add([]byte(strings.ReplaceAll(g, "\n", "\r\n")))
	f.Add([]byte(strings.Replace(strings.Replace(g, "BR ", "FR ", 1), "0.0000000000 ; 0.0000000000", "0 ; 0.2", 1)))
	f.Add([]byte(strings.Replace(g, "1                   \\ number of meridians", "\\1                  \\ number of meridians", 1)))
	f.Add([]byte(strings.Replace(g, "5                   \\ number of points", "1000000000 \\ number of points", 1)))
	f.Add([]byte(strings.Replace(g, "1.5000000000 ; 0.1455895067", "1.5 ; NaN", 1)))
	f.Add([]byte(strings.Replace(g, "1.5000000000 ; 0.1455895067", "1e400 ; -Inf", 1)))
	f.Add([]byte(g[:len(g)/2]))
	f.Add([]byte("\\ only a comment\n"))
	f.Add([]byte("\x00\x01\x02binary\xff\xfe"))
	ms, err := lathe.Sampler{MaxStepMM: 0.5}.Meridians(toricSag(7.8, 7.6, 0, 20), 4, 20, 2)
	if err != nil {
		f.Fatal(err)
	}
	toric := symmetricBack()
	toric.Meridians = ms
	b, err := lathe.Marshal(toric)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(strings.Replace(string(b), "20.0                \\ rotation", "359.99999999999                \\ rotation", 1)))
	f.Add([]byte(strings.Replace(g, "4.0                 \\ lens", "4.0000000000004 \\ lens", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := lathe.Parse(data)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Invalid || errs.FieldOf(err) == "" {
				t.Fatalf("unclassified or unlocated error %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid surface: %v", err)
		}
		out, err := lathe.Marshal(s)
		if err != nil {
			t.Fatalf("Marshal of a parsed surface: %v", err)
		}
		again, err := lathe.Parse(out)
		if err != nil {
			t.Fatalf("Parse of the rewritten file: %v\n%s", err, out)
		}
		if len(again.Meridians) != len(s.Meridians) || again.Side != s.Side {
			t.Fatalf("rewrite changed the shape")
		}
		// Parse rounds to the file's resolution, so a rewrite is exact.
		if again.BaseCurveHMM != s.BaseCurveHMM || again.BaseCurveVMM != s.BaseCurveVMM ||
			again.OpticZoneMM != s.OpticZoneMM || again.DiameterMM != s.DiameterMM ||
			again.SagMM != s.SagMM || again.CenterThicknessMM != s.CenterThicknessMM ||
			again.BlendRadiusMM != s.BlendRadiusMM || again.Parts != s.Parts || again.MAFIterations != s.MAFIterations {
			t.Fatalf("rewrite changed the header: %+v, was %+v", again, s)
		}
		if string(out) != string(mustMarshal(t, again)) {
			t.Fatalf("Write(Parse(Write(s))) differs from Write(s)")
		}
		for i, m := range again.Meridians {
			if len(m.Points) != len(s.Meridians[i].Points) {
				t.Fatalf("meridian %d: %d points, was %d", i, len(m.Points), len(s.Meridians[i].Points))
			}
			for j, p := range m.Points {
				q := s.Meridians[i].Points[j]
				if p != q || m.AngleDeg != s.Meridians[i].AngleDeg {
					t.Fatalf("meridian %d point %d: %v, was %v", i, j, p, q)
				}
			}
		}
	})
}

func mustMarshal(t *testing.T, s lathe.Surface) []byte {
	t.Helper()
	b, err := lathe.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
