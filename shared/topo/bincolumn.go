package topo

import (
	"encoding/binary"
	"math"
)

// The codecs of a column of coordinates in the binary form (see
// BinaryVersion).
const (
	colRaw     = 0 // float64 bits, 8 bytes a value
	colDecimal = 1 // decimal digits d, then varint deltas of v * 10^d
)

// maxDigits is the most decimal digits a decimal column has (pow10 holds
// their powers of ten, exactly).
const maxDigits = 12

// maxDecimal bounds |k| in a decimal column. Below it, float64(k) / 10^d
// is one correctly rounded division that v * 10^d rounds back to k, so
// the codec is exact both ways and its smallest d is well defined.
const maxDecimal = 1 << 50

// appendColumn appends values in their codec: decimal with the fewest
// digits that hold every value exactly, else raw. It writes while it
// checks, in one pass over the values as a rule: a value that needs more
// digits than the column so far starts the column again with the fewest
// that hold it (a value that fits with d digits fits with more, unless it
// outgrows maxDecimal, which the new pass checks), so the digits only grow,
// at most maxDigits times.
func appendColumn(b []byte, values []float64) []byte {
	start := len(b)
	for d := 0; d >= 0; {
		b = append(b[:start], colDecimal, byte(d))
		p, prev, i := pow10[d], int64(0), 0
		for ; i < len(values); i++ {
			k, ok := decimalOf(values[i], p)
			if !ok {
				break
			}
			b = binary.AppendVarint(b, k-prev)
			prev = k
		}
		if i == len(values) {
			return b
		}
		d = moreDigits(values[i], d)
	}
	b = append(b[:start], colRaw)
	for _, v := range values {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// decimalDigits is the number of digits appendColumn writes values with,
// or -1 when it writes them raw.
func decimalDigits(values []float64) int {
	for d := 0; d >= 0; {
		i := 0
		for ; i < len(values); i++ {
			if _, ok := decimalOf(values[i], pow10[d]); !ok {
				break
			}
		}
		if i == len(values) {
			return d
		}
		d = moreDigits(values[i], d)
	}
	return -1
}

// moreDigits is the fewest digits above d that hold v exactly, or -1.
func moreDigits(v float64, d int) int {
	for d++; d <= maxDigits; d++ {
		if _, ok := decimalOf(v, pow10[d]); ok {
			return d
		}
	}
	return -1
}

// decimalOf returns the integer k with float64(k) / p == v bit for bit, if
// there is one within maxDecimal. A negative zero has none.
func decimalOf(v, p float64) (int64, bool) {
	m := math.Round(v * p)
	if !(math.Abs(m) <= maxDecimal) {
		return 0, false
	}
	k := int64(m)
	return k, math.Float64bits(float64(k)/p) == math.Float64bits(v)
}

// columnNames name the three columns and their parts in errors, built
// once so that reading builds no strings.
var columnNames = [3]struct{ values, codec, digits string }{
	{"x coordinates", "x coordinates codec", "x coordinates digits"},
	{"y coordinates", "y coordinates codec", "y coordinates digits"},
	{"z coordinates", "z coordinates codec", "z coordinates digits"},
}

// column reads column i (0 x, 1 y, 2 z) of len(dst) values into dst, and
// refuses one not written as appendColumn writes it.
func (d *binReader) column(dst []float64, i int) error {
	name := columnNames[i]
	codec, err := d.u8(name.codec)
	if err != nil {
		return err
	}
	switch codec {
	case colDecimal:
		digits, err := d.u8(name.digits)
		if err != nil {
			return err
		}
		return d.decimals(dst, int(digits), name.values)
	case colRaw:
		if err := d.floats(dst, name.values); err != nil {
			return err
		}
		if decimalDigits(dst) >= 0 {
			return corrupt("the %s are written raw but are decimals", name.values)
		}
		return nil
	}
	return corrupt("unknown codec %d for the %s", codec, name.values)
}

func (d *binReader) decimals(dst []float64, digits int, what string) error {
	if digits > maxDigits {
		return corrupt("%d decimal digits for the %s, at most %d", digits, what, maxDigits)
	}
	b, p, prev, tens := d.data[d.off:], pow10[digits], int64(0), true
	for i := range dst {
		ux, n := binary.Uvarint(b)
		if n <= 0 || n > 1 && b[n-1] == 0 { // cut short, past 64 bits, or padded
			return corrupt("value %d of the %s is truncated or overlong", i+1, what)
		}
		b = b[n:]
		if ux > 4*maxDecimal { // |delta| > 2 maxDecimal: prev+delta cannot overflow below
			return corrupt("value %d of the %s is out of range", i+1, what)
		}
		delta := int64(ux >> 1) // zigzag, as binary.Varint
		if ux&1 != 0 {
			delta = ^delta
		}
		prev += delta
		if uint64(prev+maxDecimal) > 2*maxDecimal {
			return corrupt("value %d of the %s is out of range", i+1, what)
		}
		tens = tens && prev%10 == 0
		dst[i] = float64(prev) / p
	}
	d.off = len(d.data) - len(b)
	if digits > 0 && tens {
		return corrupt("the %s have more decimal digits than they need", what)
	}
	return nil
}
