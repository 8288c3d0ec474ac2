package topo

import (
	"encoding/binary"
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

// decodeDecimalsReference is decodeDecimals written plainly, with
// binary.Uvarint for every delta.
func decodeDecimalsReference(dst []float64, b []byte, p float64) (rest []byte, n int, tens bool) {
	prev, tens := int64(0), true
	for i := range dst {
		ux, n := binary.Uvarint(b)
		if n <= 0 || n > 1 && b[n-1] == 0 || ux > 4*maxDecimal {
			return b, i, tens
		}
		k := prev + (int64(ux>>1) ^ -int64(ux&1))
		if uint64(k+maxDecimal) > 2*maxDecimal {
			return b, i, tens
		}
		b, prev = b[n:], k
		tens = tens && k%10 == 0
		dst[i] = float64(k) / p
	}
	return b, len(dst), tens
}

// FuzzDecodeDecimals: decodeDecimals stops where, and reads what, the
// plain loop does, on any bytes (padded, cut short or overlong deltas).
func FuzzDecodeDecimals(f *testing.F) {
	f.Add([]byte{0x02, 0x80, 0x01, 0xff, 0xff, 0x01, 0x80, 0x00, 0x81, 0x80, 0x00, 0x05}, uint8(3), uint8(5))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}, uint8(1), uint8(0))
	f.Add(binary.AppendVarint(binary.AppendVarint(nil, -1<<40), 1<<40), uint8(2), uint8(12))
	f.Fuzz(func(t *testing.T, b []byte, count, digits uint8) {
		p := pow10[int(digits)%(maxDigits+1)]
		got := make([]float64, count)
		want := make([]float64, count)
		gr, gn, gt := decodeDecimals(got, b, p)
		wr, wn, wt := decodeDecimalsReference(want, b, p)
		if len(gr) != len(wr) || gn != wn || gt != wt {
			t.Fatalf("decodeDecimals(%x) = %d left, %d read, tens %v; want %d, %d, %v", b, len(gr), gn, gt, len(wr), wn, wt)
		}
		for i := range gn {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("decodeDecimals(%x) value %d = %v, want %v", b, i+1, got[i], want[i])
			}
		}
	})
}
