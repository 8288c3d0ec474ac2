package topo

import (
	"math"
	"testing"
)

// TestAppendColumnChoosesTheFewestDigits: the one-pass writer picks what
// trying every number of digits in turn picks (the fewest that hold every
// value exactly, else raw), also when a later value needs more digits, or
// more digits push an earlier value past maxDecimal.
func TestAppendColumnChoosesTheFewestDigits(t *testing.T) {
	bruteForce := func(values []float64) int {
	next:
		for d := 0; d <= maxDigits; d++ {
			for _, v := range values {
				if _, ok := decimalOf(v, pow10[d]); !ok {
					continue next
				}
			}
			return d
		}
		return -1
	}
	for _, values := range [][]float64{
		{0, -1.1, 2.25, 3.858368, -0.000001},
		{3.858368, 0, 1},
		{1, 2, 3},
		{5e14, 0.5},                 // 0.5 needs a digit that 5e14 cannot have
		{0.1, math.Pi},              // pi holds no decimal form
		{0.1, math.Copysign(0, -1)}, // nor does a negative zero
		{1e-12, 2e-12},
	} {
		want := bruteForce(values)
		b := appendColumn(nil, values)
		got := -1
		if b[0] == colDecimal {
			got = int(b[1])
		}
		if got != want || decimalDigits(values) != want {
			t.Errorf("%v: written with %d digits (decimalDigits %d), want %d", values, got, decimalDigits(values), want)
		}
	}
}
