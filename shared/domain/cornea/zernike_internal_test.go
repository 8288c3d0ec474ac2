package cornea

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The moment-based normal equations must equal the direct ones, built from
// the basis evaluated point by point (by the independent recurrence), on
// irregular points with a gap, at every supported order.
func TestZernikeMomentsMatchDirectNormalEquations(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var xs, ys, zs []float64
	for len(xs) < 600 {
		x, y := 2*rng.Float64()-1, 2*rng.Float64()-1
		if x*x+y*y > 1 || y > 0.6 { // an upper lid
			continue
		}
		xs, ys, zs = append(xs, 4*x), append(ys, 4*y), append(zs, rng.NormFloat64())
	}
	for _, order := range []int{1, 2, 5, 8, 10, MaxZernikeOrder} {
		b := zernikeBases[order]
		nt := len(b.n)
		mo := b.moments(xs, ys, zs, 4)
		gram, rhs := b.normal(&mo)
		want := make([]float64, nt*nt)
		wantRHS := make([]float64, nt)
		row := make([]float64, nt)
		unit := make([]float64, nt)
		for i := range xs {
			for j := range nt {
				clear(unit)
				unit[j] = 1
				row[j] = zernikeSum(unit, order, xs[i]/4, ys[i]/4)
			}
			for j := range nt {
				wantRHS[j] += row[j] * zs[i]
				for l := j; l < nt; l++ {
					want[j*nt+l] += row[j] * row[l]
				}
			}
		}
		var worst float64
		for j := range nt {
			worst = max(worst, math.Abs(rhs[j]-wantRHS[j]))
			for l := j; l < nt; l++ {
				worst = max(worst, math.Abs(gram[j*nt+l]-want[j*nt+l]))
			}
		}
		// Entries are of the order of the point count (600).
		if worst > 1e-8*float64(len(xs)) {
			t.Errorf("order %d: moment-based normal equations differ from the direct ones by %g", order, worst)
		}
	}
}

func TestRadialCoefficientsMatchRecurrence(t *testing.T) {
	b := zernikeBases[MaxZernikeOrder]
	for j := range b.n {
		n, m := b.n[j], b.m[j]
		for _, rho := range []float64{0, 0.1, 0.37, 0.5, 0.81, 1} {
			var v float64
			am := max(m, -m)
			for k, c := range b.coef[j] {
				v += c * math.Pow(rho, float64(am+2*k))
			}
			want := ZernikeNorm(n, m) * ZernikeRadial(n, m, rho)
			if math.Abs(v-want) > 1e-9 {
				t.Errorf("j %d (n %d, m %d) at rho %g: monomials %g, recurrence %g", j, n, m, rho, v, want)
			}
		}
	}
}
