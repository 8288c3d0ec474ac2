package topo_test

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo"
)

func TestParseNumberAgreesWithParseFloat(t *testing.T) {
	accepted := []string{
		"0", "-0", "+0", "0.0", "-0.000", "1", "-1", "+1", "7.8", "-7.8", "0.000641", "-0.000641",
		".5", "5.", "-.5", "+5.", "1e3", "1E3", "1e+3", "1e-3", "-1.5e-7", "2.5E+10",
		"123456789012345678", "1234567890123456789", "12345678901234567890", // 18, 19 and 20 digits
		"9007199254740992", "9007199254740993", "9007199254740991", // 2^53 and around it
		"0.1", "0.2", "0.3", "1.0000000000000002", "0.30000000000000004",
		"1e22", "1e23", "1e-22", "1e-23", "123.456e20", "4.9e-324", "2.2250738585072014e-308", "1e-400",
		"1.7976931348623157e308", "000000000000000000000000001.5", "0.0000000000000000000000000001",
		"3.14159265358979323846264338327950288419716939937510", "-1000", "-1", "1e0000000000000000000000002",
		"6.000000", "12.000001", "1234.5678", "0e999999999999",
	}
	for _, s := range accepted {
		t.Run(s, func(t *testing.T) {
			want, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("ParseFloat: %v", err)
			}
			got, ok := topo.ParseNumber([]byte(s))
			if !ok || math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("ParseNumber(%q) = %v (%b), %v; want %v (%b)", s, got, math.Float64bits(got), ok, want, math.Float64bits(want))
			}
		})
	}
}

func TestParseNumberRejects(t *testing.T) {
	for _, s := range []string{
		"", "-", "+", ".", "-.", "e5", ".e5", "1e", "1e+", "1e-", "1.2.3", "1-2", "--1", "+-1", "1 ", " 1",
		"NaN", "nan", "Inf", "-Inf", "+inf", "infinity", "0x1p-2", "0x10", "1_000", "1,5", "1e999", "-1e400",
		"1.7976931348623159e308", "1d3", "١", "0b1", "\x00",
	} {
		if v, ok := topo.ParseNumber([]byte(s)); ok {
			t.Errorf("ParseNumber(%q) = %v, want rejected", s, v)
		}
	}
}

func TestParseNumberRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var s string
		switch rng.IntN(4) {
		case 0: // what scans hold: fixed decimals
			s = strconv.FormatFloat((rng.Float64()-0.5)*20, 'f', rng.IntN(12), 64)
		case 1: // shortest round trip
			s = strconv.FormatFloat(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(40)-20)), 'g', -1, 64)
		case 2: // any bit pattern
			f := math.Float64frombits(rng.Uint64())
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			s = strconv.FormatFloat(f, 'e', rng.IntN(20)-1, 64)
		default: // long mantissas near 2^53
			s = strconv.FormatUint(1<<53-50+rng.Uint64N(100), 10) + "e" + strconv.Itoa(rng.IntN(50)-25)
		}
		want, err := strconv.ParseFloat(s, 64)
		got, ok := topo.ParseNumber([]byte(s))
		if err != nil || math.IsInf(want, 0) {
			if ok {
				t.Fatalf("ParseNumber(%q) accepted what ParseFloat rejects", s)
			}
			continue
		}
		if !ok || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("ParseNumber(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"0", "-0.000641", "7.8", "1e22", "1e23", "9007199254740993", ".5", "5.", "NaN",
		"Inf", "0x1p-2", "1_0", "1e999", "4.9e-324", "12345678901234567890.5e-3", "-", "1e", "", "1e-400"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := topo.ParseNumber(b)
		want, err := strconv.ParseFloat(string(b), 64)
		if !ok {
			return // rejecting more than ParseFloat is allowed: hex, NaN, Inf, underscores
		}
		if err != nil {
			t.Fatalf("ParseNumber(%q) = %v, but ParseFloat rejects it: %v", b, got, err)
		}
		if math.Float64bits(got) != math.Float64bits(want) || math.IsInf(got, 0) || math.IsNaN(got) {
			t.Fatalf("ParseNumber(%q) = %v, ParseFloat = %v", b, got, want)
		}
		for _, c := range b {
			if !('0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
				t.Fatalf("ParseNumber(%q) accepted a byte outside the decimal grammar", b)
			}
		}
	})
}

var numSink float64

func BenchmarkParseNumber(b *testing.B) {
	inputs := [][]byte{[]byte("-6.9000"), []byte("0.000641"), []byte("1.234567"), []byte("-1000"), []byte("2.5E-3")}
	b.Run("ParseNumber", func(b *testing.B) {
		for b.Loop() {
			for _, in := range inputs {
				v, _ := topo.ParseNumber(in)
				numSink += v
			}
		}
	})
	b.Run("strconv.ParseFloat", func(b *testing.B) {
		for b.Loop() {
			for _, in := range inputs {
				v, _ := strconv.ParseFloat(string(in), 64)
				numSink += v
			}
		}
	})
}
