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
//
// It rounds half to even, which is one instruction where math.Round is
// several: the two differ only on a product exactly halfway between two
// integers, and then no k within maxDecimal gives v (float64(k) / p == v
// puts v * p within a quarter of k), so both report false.
func decimalOf(v, p float64) (int64, bool) {
	m := math.RoundToEven(v * p)
	if !(-maxDecimal <= m && m <= maxDecimal) {
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
	rest, n, tens := decodeDecimals(dst, d.data[d.off:], pow10[digits])
	if n < len(dst) {
		if _, m := binary.Uvarint(rest); m <= 0 || m > 1 && rest[m-1] == 0 {
			return corrupt("value %d of the %s is truncated or overlong", n+1, what)
		}
		return corrupt("value %d of the %s is out of range", n+1, what)
	}
	d.off = len(d.data) - len(rest)
	if digits > 0 && tens {
		return corrupt("the %s have more decimal digits than they need", what)
	}
	return nil
}

// decodeDecimals reads the varint deltas at the start of b into dst as
// decimals over p, and returns the bytes after them, how many it read, and
// whether every integer read is a multiple of ten. It stops at the first
// delta that is cut short, past 64 bits, padded (a last byte of zero) or out
// of range, with rest starting at it; decimals then says which it is. It
// is the loop of reading a stored surface.
func decodeDecimals(dst []float64, b []byte, p float64) (rest []byte, n int, tens bool) {
	prev := int64(0)
	tens = true
	for i := range dst {
		// The deltas of coordinates take one to three bytes: those are
		// read without binary.Uvarint's loop, in a third of the work. A
		// padded delta (a last byte of zero after the first) is refused,
		// and so is |delta| > 2 maxDecimal, so prev+delta cannot overflow
		// below.
		var ux uint64
		var n int
		switch {
		case len(b) >= 3 && b[0] < 0x80:
			ux, n = uint64(b[0]), 1
		case len(b) >= 3 && b[1] < 0x80:
			if b[1] == 0 {
				return b, i, tens
			}
			ux, n = uint64(b[0]&0x7f)|uint64(b[1])<<7, 2
		case len(b) >= 3 && b[2] < 0x80:
			if b[2] == 0 {
				return b, i, tens
			}
			ux, n = uint64(b[0]&0x7f)|uint64(b[1]&0x7f)<<7|uint64(b[2])<<14, 3
		default:
			if ux, n = binary.Uvarint(b); n <= 0 || n > 1 && b[n-1] == 0 || ux > 4*maxDecimal {
				return b, i, tens
			}
		}
		// Zigzag, as binary.Varint, without a branch: the sign of a
		// delta is as likely one way as the other.
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
