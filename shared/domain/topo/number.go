package topo

import (
	"math"
	"strconv"
)

// ParseNumber parses b as the decimal numbers topography files hold:
//
//	[-+] digits [. digits] [(e|E) [-+] digits]
//
// where either the integer or the fraction digits may be empty (".5" and
// "5." are numbers, "." is not). It reports false for anything else,
// including what strconv.ParseFloat would accept but no scan holds (NaN,
// Inf, hexadecimal floats, underscores) and for numbers whose magnitude
// overflows float64 (ParseFloat's ErrRange).
//
// Every number it accepts is the float64 strconv.ParseFloat returns,
// bit for bit. The common case takes the exact fast path: a decimal
// mantissa below 2^53 scaled by a power of ten no larger than 10^22 is one
// correctly rounded multiplication or division of two exactly represented
// float64 values (Clinger's fast path). Anything else, such as long
// mantissas, large exponents or subnormals, falls back to ParseFloat.
func ParseNumber(b []byte) (float64, bool) {
	if v, end, ok := scanDecimal(b); ok && end == len(b) {
		return v, true
	}
	return parseNumberFull(b)
}

// scanDecimal reads the plain decimal that b starts with:
//
//	[-+] digits [. digits]
//
// with at least one digit, the form nearly every number in a scan file
// takes ("-6.9000", "0.000641"), and returns its value and the index just
// past it. It does not look at what follows: the caller checks b[end] (an
// exponent or a second point there make the number something else). It
// reports false, leaving the number to ParseNumber's full grammar, when
// there is no digit or when the number is outside Clinger's fast path:
// more than 19 digits (leading zeros included) or a mantissa of 2^53 or
// more. Within it the value is float64(mantissa) / 10^fraction digits, one
// correctly rounded division of exact values, so it is ParseFloat's result
// bit for bit.
//
// It exists because the row loops call it straight on a file's bytes, once
// a number: strconv.ParseFloat needs each field cut out as a string first
// and checks for forms no scan holds (hexadecimal, underscores, Inf), and
// no library parses a number in place and says where it ended. It is the
// one loop of the parse that runs for every byte of the points, so it is
// kept small: one pass over the digits, no per-digit bookkeeping. (Reading
// eight digits at a time as one integer was measured slower: the position
// of the next number then waits on arithmetic, where a byte loop's
// well-predicted branches let the processor run ahead.)
func scanDecimal(b []byte) (v float64, end int, ok bool) {
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	start := i
	var mant uint64 // wraps past 19 digits, which are refused below
	for i < len(b) {
		c := uint64(b[i]) - '0'
		if c > 9 {
			break
		}
		mant = mant*10 + c
		i++
	}
	nInt := i - start
	frac := 0
	if i < len(b) && b[i] == '.' {
		i++
		f0 := i
		for i < len(b) {
			c := uint64(b[i]) - '0'
			if c > 9 {
				break
			}
			mant = mant*10 + c
			i++
		}
		frac = i - f0
	}
	if n := nInt + frac; n == 0 || n > 19 || mant >= 1<<53 {
		return 0, i, false
	}
	v = float64(mant) / pow10[frac]
	if neg {
		v = -v
	}
	return v, i, true
}

// parseNumberFull is ParseNumber's full grammar, for what scanDecimal
// leaves: exponents, long mantissas, and input that is not a number.
func parseNumberFull(b []byte) (float64, bool) {
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i = 1
	}
	var (
		mant     uint64
		nd       int  // significant digits in mant (leading zeros skipped)
		digits   bool // any digit seen in the mantissa
		exp10    int  // decimal exponent to apply to mant
		overflow bool // mant lost digits: use the fallback
	)
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		digits = true
		if nd == 0 && b[i] == '0' {
			continue
		}
		if nd < 19 {
			mant = mant*10 + uint64(b[i]-'0')
			nd++
		} else {
			overflow = true
		}
	}
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			digits = true
			if nd == 0 && b[i] == '0' {
				exp10--
				continue
			}
			if nd < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				nd++
				exp10--
			} else {
				overflow = true
			}
		}
	}
	if !digits {
		return 0, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return 0, false
		}
		e := 0
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if e < 100000 {
				e = e*10 + int(b[i]-'0')
			} else {
				overflow = true // far outside float64: ParseFloat decides
			}
		}
		if eneg {
			e = -e
		}
		exp10 += e
	}
	if i != len(b) {
		return 0, false
	}
	if !overflow && mant < 1<<53 && -22 <= exp10 && exp10 <= 22 {
		f := float64(mant)
		if exp10 < 0 {
			f /= pow10[-exp10]
		} else {
			f *= pow10[exp10]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	return parseNumberSlow(b)
}

// parseNumberSlow is ParseNumber's fallback for inputs already known to
// match the decimal grammar.
func parseNumberSlow(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
}

// numberProblem explains why ParseNumber rejected b: "is not a finite
// number" for NaN, infinities and magnitudes beyond float64, "is not a
// number" for everything else (text, hexadecimal, underscores). It is
// only called on the error path.
func numberProblem(b []byte) string {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil && !isFloatSyntax(err) || err == nil && !finite(f) {
		return "is not a finite number"
	}
	return "is not a number"
}
