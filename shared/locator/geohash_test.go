package locator

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestEncodeKnownVectors(t *testing.T) {
	tests := []struct {
		name     string
		lat, lng float64
		p        int
		want     string
	}{
		{"wikipedia Jutland", 57.64911, 10.40744, 11, "u4pruydqqvj"},
		{"origin", 0, 0, 5, "s0000"},
		{"just below origin", -1e-9, -1e-9, 5, "7zzzz"},
		{"south-west corner", -90, -180, 4, "0000"},
		{"north pole edge", 90, 179.999999, 4, "zzzz"},
		{"lng 180 wraps to -180", 90, 180, 4, "bpbp"},
		{"Sydney Opera House", -33.856784, 151.215297, 7, "r3gx2ux"},
		{"precision 12", 57.64911, 10.40744, 12, "u4pruydqqvj8"},
		{"precision 1", 57.64911, 10.40744, 1, "u"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.lat, tt.lng, tt.p)
			if err != nil || got != tt.want {
				t.Fatalf("Encode(%v, %v, %d) = %q, %v; want %q", tt.lat, tt.lng, tt.p, got, err, tt.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		lat, lng float64
		p        int
	}{
		{"precision 0", 1, 1, 0},
		{"precision 13", 1, 1, 13},
		{"NaN lat", math.NaN(), 1, 5},
		{"Inf lng", 1, math.Inf(-1), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := Encode(tt.lat, tt.lng, tt.p); err == nil {
				t.Fatalf("Encode = %q, want an error", h)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	lat, lng, latErr, lngErr, err := Decode("u4pruydqqvj")
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(lat-57.64911) > latErr || math.Abs(lng-10.40744) > lngErr {
		t.Fatalf("Decode = %v, %v +- %v, %v; want 57.64911, 10.40744 inside", lat, lng, latErr, lngErr)
	}
	if latErr > 1e-5 || lngErr > 1e-5 {
		t.Fatalf("error %v, %v too large for precision 11", latErr, lngErr)
	}
	upper, err := DecodeBox("U4PRUYDQQVJ")
	if b, _ := DecodeBox("u4pruydqqvj"); err != nil || upper != b {
		t.Fatalf("upper case decodes to %v, %v; want %v", upper, err, b)
	}
	for _, bad := range []string{"", "a", "u4pi", "u4pruydqqvjxx", "u4 r", "ü"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if _, err := DecodeBox(bad); err == nil {
				t.Fatalf("DecodeBox(%q) succeeded", bad)
			}
		})
	}
}

// TestEncodeDecodeRoundTrip checks that every point lies in the box of its
// own geohash at every precision.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		lat := rng.Float64()*180 - 90
		lng := rng.Float64()*360 - 180
		p := 1 + i%MaxPrecision
		h := MustEncode(lat, lng, p)
		b, err := DecodeBox(h)
		if err != nil {
			t.Fatal(err)
		}
		if lat < b.MinLat || lat >= b.MaxLat || lng < b.MinLng || lng >= b.MaxLng {
			t.Fatalf("(%v, %v) not in box %+v of %q", lat, lng, b, h)
		}
		if !strings.HasPrefix(MustEncode(lat, lng, MaxPrecision), h) {
			t.Fatalf("precision %d hash %q is not a prefix of the precision 12 hash", p, h)
		}
		if !ValidGeohash(h) {
			t.Fatalf("ValidGeohash(%q) = false", h)
		}
	}
}

func TestNeighboursKnownVectors(t *testing.T) {
	tests := []struct {
		hash string
		want [8]string // N, NE, E, SE, S, SW, W, NW
	}{
		{"ezs42", [8]string{"ezs48", "ezs49", "ezs43", "ezs41", "ezs40", "ezefp", "ezefr", "ezefx"}},
		{"dqcjq", [8]string{"dqcjw", "dqcjx", "dqcjr", "dqcjp", "dqcjn", "dqcjj", "dqcjm", "dqcjt"}},
		// The north-east cell of the world (lng 135..180, lat 45..90): east
		// wraps to "b" across the antimeridian, and there is nothing north.
		{"z", [8]string{"", "", "b", "8", "x", "w", "y", ""}},
		// Its mirror at the west edge.
		{"b", [8]string{"", "", "c", "9", "8", "x", "z", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.hash, func(t *testing.T) {
			got, err := Neighbours(tt.hash)
			if err != nil || got != tt.want {
				t.Fatalf("Neighbours(%q) = %v, %v; want %v", tt.hash, got, err, tt.want)
			}
		})
	}
}

// TestNeighboursGeometry checks every neighbour against an independent
// construction: encode the point one cell size away from the centre.
func TestNeighboursGeometry(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		p := 1 + i%MaxPrecision
		var lat, lng float64
		switch i % 4 {
		case 0: // near the antimeridian
			lat, lng = rng.Float64()*160-80, 180-rng.Float64()*1e-3
		case 1:
			lat, lng = rng.Float64()*160-80, -180+rng.Float64()*1e-3
		case 2: // near a pole
			lat, lng = 90-rng.Float64()*1e-3, rng.Float64()*360-180
		default:
			lat, lng = rng.Float64()*180-90, rng.Float64()*360-180
		}
		h := MustEncode(lat, lng, p)
		b, _ := DecodeBox(h)
		cLat, cLng := b.Center()
		w, hgt := b.MaxLng-b.MinLng, b.MaxLat-b.MinLat
		got, err := Neighbours(h)
		if err != nil {
			t.Fatal(err)
		}
		for d := North; d <= NorthWest; d++ {
			nLat := cLat + float64(steps[d][0])*hgt
			nLng := cLng + float64(steps[d][1])*w
			want := ""
			if nLat > -90 && nLat < 90 {
				want = MustEncode(nLat, nLng, p)
			}
			if got[d] != want {
				t.Fatalf("neighbour %d of %q = %q, want %q", d, h, got[d], want)
			}
		}
	}
}

func TestNeighbourErrors(t *testing.T) {
	if _, err := Neighbour("u4pr", Direction(8)); err == nil {
		t.Error("unknown direction accepted")
	}
	if _, err := Neighbours("u4pa"); err == nil {
		t.Error("bad geohash accepted")
	}
	n, err := Neighbours("zzzz")
	if err != nil || n[North] != "" || n[NorthEast] != "" || n[NorthWest] != "" || n[East] != "bpbp" {
		t.Errorf("Neighbours(zzzz) = %v, %v; want no northern cells and east bpbp", n, err)
	}
}
