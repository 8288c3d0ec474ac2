package locator

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/ports"
)

func TestHaversine(t *testing.T) {
	quarter := math.Pi * EarthRadiusKm / 2
	tests := []struct {
		name                   string
		lat1, lng1, lat2, lng2 float64
		want, tol              float64
	}{
		{"same point", 51.5, -0.12, 51.5, -0.12, 0, 1e-9},
		{"one degree of the equator", 0, 0, 0, 1, 2 * math.Pi * EarthRadiusKm / 360, 1e-9},
		{"equator to pole", 0, 0, 90, 0, quarter, 1e-6},
		{"pole to pole", 90, 0, -90, 0, 2 * quarter, 1e-6},
		{"antipodes", 0, 0, 0, 180, 2 * quarter, 1e-6},
		{"across the antimeridian", 0, 179.5, 0, -179.5, 2 * math.Pi * EarthRadiusKm / 360, 1e-9},
		// Published great-circle distances (spherical, R = 6371 km) to within 0.1%.
		{"London to Paris", 51.5074, -0.1278, 48.8566, 2.3522, 343.56, 0.4},
		{"Sydney to Melbourne", -33.8688, 151.2093, -37.8136, 144.9631, 713.4, 0.8},
		{"New York to London", 40.7128, -74.0060, 51.5074, -0.1278, 5570.2, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Haversine(tt.lat1, tt.lng1, tt.lat2, tt.lng2)
			if math.Abs(got-tt.want) > tt.tol {
				t.Fatalf("Haversine = %.6f km, want %.6f +- %g", got, tt.want, tt.tol)
			}
			if back := Haversine(tt.lat2, tt.lng2, tt.lat1, tt.lng1); math.Abs(back-got) > 1e-9 {
				t.Fatalf("not symmetric: %v vs %v", got, back)
			}
		})
	}
}

// destination is the point dKm from (lat, lng) on initial bearing brg
// (radians), on the same sphere as Haversine.
func destination(lat, lng, brg, dKm float64) (float64, float64) {
	const rad = math.Pi / 180
	d := dKm / EarthRadiusKm
	la1, lo1 := lat*rad, lng*rad
	la2 := math.Asin(math.Sin(la1)*math.Cos(d) + math.Cos(la1)*math.Sin(d)*math.Cos(brg))
	lo2 := lo1 + math.Atan2(math.Sin(brg)*math.Sin(d)*math.Cos(la1), math.Cos(d)-math.Sin(la1)*math.Sin(la2))
	return la2 / rad, normalizeLng(lo2 / rad)
}

func checkPlanShape(t *testing.T, p Plan) {
	t.Helper()
	if len(p.Ranges) == 0 || len(p.Ranges) > MaxRanges && p.Precision > 1 {
		t.Fatalf("plan has %d ranges at precision %d", len(p.Ranges), p.Precision)
	}
	for i, r := range p.Ranges {
		if len(r.Start) != p.Precision || !ValidGeohash(r.Start) || (r.End != endOfKeys && (len(r.End) != p.Precision || !ValidGeohash(r.End))) {
			t.Fatalf("range %d %+v malformed at precision %d", i, r, p.Precision)
		}
		if r.Start >= r.End {
			t.Fatalf("range %d %+v empty", i, r)
		}
		if i > 0 && p.Ranges[i-1].End >= r.Start {
			t.Fatalf("ranges %d and %d overlap or touch: %+v %+v", i-1, i, p.Ranges[i-1], r)
		}
	}
}

// TestNearCoversCircle is the property that makes Search correct: every
// point within the radius has a stored geohash inside one of the ranges.
func TestNearCoversCircle(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	type center struct {
		name     string
		lat, lng func() float64
	}
	any := func(lo, hi float64) func() float64 {
		return func() float64 { return lo + rng.Float64()*(hi-lo) }
	}
	centers := []center{
		{"anywhere", any(-90, 90), any(-180, 180)},
		{"east of the antimeridian", any(-80, 80), any(178, 180)},
		{"west of the antimeridian", any(-80, 80), any(-180, -178)},
		{"north pole", any(87, 90), any(-180, 180)},
		{"south pole", any(-90, -87), any(-180, 180)},
		{"equator and prime meridian", any(-1, 1), any(-1, 1)},
	}
	radii := []float64{0.001, 0.05, 1, 5, 25, 80, 200}
	for _, c := range centers {
		t.Run(c.name, func(t *testing.T) {
			for i := range 400 {
				lat, lng := c.lat(), c.lng()
				r := radii[i%len(radii)] * (0.5 + rng.Float64()/2)
				plan, err := Near(lat, lng, r)
				if err != nil {
					t.Fatal(err)
				}
				checkPlanShape(t, plan)
				for j := range 60 {
					d := r * math.Sqrt(rng.Float64())
					if j < 8 {
						d = r * (1 - 1e-12) // on the rim
					}
					pLat, pLng := destination(lat, lng, rng.Float64()*2*math.Pi, d)
					if Haversine(lat, lng, pLat, pLng) > r {
						continue // rounding put it outside; the filter would drop it anyway
					}
					h := MustEncode(pLat, pLng, StoredPrecision)
					if !plan.Contains(h) {
						t.Fatalf("center (%v, %v) r=%v km: point (%v, %v) at %v km, geohash %s, not in %+v",
							lat, lng, r, pLat, pLng, Haversine(lat, lng, pLat, pLng), h, plan)
					}
				}
				if !plan.Contains(MustEncode(lat, lng, StoredPrecision)) {
					t.Fatalf("centre itself not covered: %+v", plan)
				}
			}
		})
	}
}

func TestNearPrecisionFromRadius(t *testing.T) {
	tests := []struct {
		name         string
		radiusKm     float64
		minP, maxP   int
		maxRangesCap int
	}{
		{"10 m", 0.01, 7, 9, MaxRanges},
		{"1 km", 1, 5, 6, MaxRanges},
		{"25 km", 25, 3, 4, MaxRanges},
		{"200 km", 200, 2, 3, MaxRanges},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Near(51.5074, -0.1278, tt.radiusKm)
			if err != nil {
				t.Fatal(err)
			}
			if p.Precision < tt.minP || p.Precision > tt.maxP || len(p.Ranges) > tt.maxRangesCap {
				t.Fatalf("precision %d with %d ranges; want %d..%d with at most %d", p.Precision, len(p.Ranges), tt.minP, tt.maxP, tt.maxRangesCap)
			}
		})
	}
}

func TestNearAntimeridianSplits(t *testing.T) {
	p, err := Near(-16.8, 179.99, 20)
	if err != nil {
		t.Fatal(err)
	}
	var east, west bool
	for _, r := range p.Ranges {
		b, _ := DecodeBox(r.Start)
		east = east || b.MinLng > 0
		west = west || b.MinLng < 0
	}
	if !east || !west {
		t.Fatalf("plan near the antimeridian covers only one side: %+v", p)
	}
	if !p.Contains(MustEncode(-16.8, -179.95, StoredPrecision)) {
		t.Fatalf("point 6 km away across the antimeridian not covered: %+v", p)
	}
}

func TestNearPoleCoversAllLongitudes(t *testing.T) {
	p, err := Near(89.95, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	for lng := -180.0; lng < 180; lng += 7.5 {
		if !p.Contains(MustEncode(89.9, lng, StoredPrecision)) {
			t.Fatalf("(89.9, %v) not covered: %+v", lng, p)
		}
	}
}

func TestNearErrors(t *testing.T) {
	tests := []struct {
		name             string
		lat, lng, radius float64
		want             string
	}{
		{"lat NaN", math.NaN(), 0, 1, "latitude"},
		{"lat 91", 91, 0, 1, "latitude"},
		{"lng -181", 0, -181, 1, "longitude"},
		{"lng Inf", 0, math.Inf(1), 1, "longitude"},
		{"radius 0", 0, 0, 0, "radius"},
		{"radius negative", 0, 0, -1, "radius"},
		{"radius too large", 0, 0, 20001, "radius"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Near(tt.lat, tt.lng, tt.radius); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Near error = %v, want one about %s", err, tt.want)
			}
		})
	}
}

func TestPlanQueries(t *testing.T) {
	p := Plan{Precision: 2, Ranges: []Range{{"gc", "gd"}, {"u1", endOfKeys}}}
	qs := p.Queries(Collection)
	if len(qs) != 2 {
		t.Fatalf("%d queries, want 2", len(qs))
	}
	q := qs[1]
	if q.Collection != "clinics" || q.OrderBy != "geohash" || len(q.Where) != 2 ||
		q.Where[0] != (ports.Where{Field: "geohash", Op: ">=", Value: "u1"}) || q.Where[1].Op != "<" || q.Where[1].Value != endOfKeys {
		t.Fatalf("query = %+v", q)
	}
	if !p.Contains("u1zzzzzzz") || !p.Contains("zzzzzzzzz") || p.Contains("gd0000000") || !p.Contains("gc") {
		t.Fatal("Contains disagrees with the ranges")
	}
}
