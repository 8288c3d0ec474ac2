package cornea

import (
	"testing"

	"github.com/lensflow/lensflow/shared/topo/topotest"
)

func benchPoints() (xs, ys, zs []float64) {
	c := topotest.Reference()
	c.NoiseUM, c.R0YMM = 2, 7.6
	s := c.Surface()
	for i := range s.X {
		if s.X[i]*s.X[i]+s.Y[i]*s.Y[i] <= 25 {
			xs, ys, zs = append(xs, s.X[i]), append(ys, s.Y[i]), append(zs, s.Z[i])
		}
	}
	return xs, ys, zs
}

// The cost of one Jacobian evaluation, per point, of the biconic against
// the rotationally symmetric conic.
func BenchmarkEvalPerPoint(b *testing.B) {
	xs, ys, zs := benchPoints()
	b.Run("conic", func(b *testing.B) {
		p := &problem{x: xs, y: ys, z: zs, free: [nParams]bool{true, true, true, true, true, true, true}}
		th := [nParams]float64{iR0: 7.7, iP: 0.75}
		ne := newNormalEq(nParams, freeIndices(p.free[:]...))
		for b.Loop() {
			p.normal(th[:], ne)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(xs)), "ns/point")
	})
	b.Run("biconic", func(b *testing.B) {
		p := &biconicProblem{x: xs, y: ys, z: zs, nFree: nBiconicParams}
		th := [nBiconicParams]float64{bCX: 1 / 7.8, bCY: 1 / 7.6, bPX: 0.75, bPY: 0.75, bTh: 0.1}
		ne := newNormalEq(nBiconicParams, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
		for b.Loop() {
			p.normal(th[:], ne)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(xs)), "ns/point")
	})
}
