package topo_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

// A degenerate point cloud is refused at parse, whatever its format, with a
// reason that quotes nothing from the file.
func TestParseRefusesDegenerateScans(t *testing.T) {
	cloud := func(n int, at func(i int) (x, y float64)) string {
		var b strings.Builder
		b.WriteString("x,y,z\n")
		for i := range n {
			x, y := at(i)
			fmt.Fprintf(&b, "%.4f,%.4f,%.6f\n", x, y, (x*x+y*y)/15.6+float64(i)*1e-4)
		}
		return b.String()
	}
	grid := func(i int) (float64, float64) { return float64(i%10)*0.3 - 1.5, float64(i/10)*0.3 - 1.5 }
	for _, tc := range []struct {
		name, data, msg string
	}{
		{"all points equal", cloud(60, func(int) (float64, float64) { return 0.5, -0.25 }), "all 60 points are at one (x, y) position"},
		{"all at the origin", cloud(60, func(int) (float64, float64) { return 0, 0 }), "all 60 points are at one (x, y) position"},
		{"no extent in x", cloud(60, func(i int) (float64, float64) { return 1, float64(i)*0.1 - 3 }), "no extent in x"},
		{"no extent in y", cloud(60, func(i int) (float64, float64) { return float64(i)*0.1 - 3, -2 }), "no extent in y"},
		{"a diagonal line", cloud(60, func(i int) (float64, float64) { v := float64(i)*0.1 - 3; return v, -0.5 * v }), "lie on one straight line"},
		{"few distinct positions", cloud(60, func(i int) (float64, float64) { return grid(i % 12) }), "only 12 distinct (x, y) positions among 60 points; a fit needs at least 50"},
		{"one short", cloud(60, func(i int) (float64, float64) { return grid(i % 49) }), "only 49 distinct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := topo.Parse([]byte(tc.data), topo.Options{})
			if err == nil {
				t.Fatalf("parsed %d points", s.Len())
			}
			if !errs.Is(errs.Invalid, err) || !strings.Contains(errs.Message(err), tc.msg) {
				t.Fatalf("got %v, want Invalid saying %q", err, tc.msg)
			}
			if strings.Contains(errs.Message(err), "0.5") || strings.Contains(errs.Message(err), "-0.25") {
				t.Fatalf("the reason quotes the file: %v", err)
			}
		})
	}
	for name, data := range map[string]string{
		"a grid":               cloud(60, grid),
		"fifty distinct":       cloud(60, func(i int) (float64, float64) { return grid(i % 50) }),
		"a slightly bent line": cloud(60, func(i int) (float64, float64) { v := float64(i)*0.1 - 3; return v, 0.01 * v * v }),
	} {
		if _, _, err := topo.Parse([]byte(data), topo.Options{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
