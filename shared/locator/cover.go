package locator

import (
	"fmt"
	"math"
	"slices"

	"github.com/mmcloughlin/geohash"

	"github.com/lensflow/lensflow/shared/ports"
)

// EarthRadiusKm is the mean Earth radius (IUGG) used for every distance in
// this package, so that the cover and the distance filter agree.
const EarthRadiusKm = 6371.0088

// Limits of a cover. A plan has at most MaxRanges range queries; to find
// them, at most MaxCells cells of one precision are enumerated.
const (
	MaxRanges = 9
	MaxCells  = 64
)

// endOfKeys is the end of a range that runs to the last cell: '{' follows
// 'z' in ASCII, so every geohash sorts before it.
const endOfKeys = "{"

// marginDeg widens the bounding box by about a tenth of a millimetre so
// that rounding in the trigonometry cannot leave out a point that the
// distance filter keeps.
const marginDeg = 1e-9

// Haversine returns the great-circle distance in kilometres between two
// points given in degrees, on a sphere of radius EarthRadiusKm (within about
// 0.5% of the ellipsoidal distance).
func Haversine(lat1, lng1, lat2, lng2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLng := (lng2 - lng1) * rad
	s1, s2 := math.Sin(dLat/2), math.Sin(dLng/2)
	a := s1*s1 + math.Cos(lat1*rad)*math.Cos(lat2*rad)*s2*s2
	a = math.Max(0, math.Min(1, a))
	return 2 * EarthRadiusKm * math.Asin(math.Sqrt(a))
}

// Range is a half-open range [Start, End) of geohash strings: every stored
// geohash with a prefix in the cover sorts inside exactly one Range.
type Range struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Contains reports whether geohash h lies in the range.
func (r Range) Contains(h string) bool { return r.Start <= h && h < r.End }

// Plan is how to find every stored point within RadiusKm of a centre: run
// one range query per Range on the geohash field, then keep the documents
// whose exact distance is at most RadiusKm.
type Plan struct {
	Lat, Lng  float64 // centre, degrees
	RadiusKm  float64
	Precision int     // geohash precision of the covering cells
	Ranges    []Range // sorted, disjoint, not adjacent
}

// Contains reports whether geohash h falls in one of the plan's ranges.
func (p Plan) Contains(h string) bool {
	for _, r := range p.Ranges {
		if r.Contains(h) {
			return true
		}
	}
	return false
}

// Queries returns one ports.Query per range over collection, ordered by
// the geohash field. Firestore serves a single-field range like this from
// its automatic index; no composite index is needed.
func (p Plan) Queries(collection string) []ports.Query {
	qs := make([]ports.Query, len(p.Ranges))
	for i, r := range p.Ranges {
		qs[i] = ports.Query{
			Collection: collection,
			Where: []ports.Where{
				{Field: "geohash", Op: ">=", Value: r.Start},
				{Field: "geohash", Op: "<", Value: r.End},
			},
			OrderBy: "geohash",
		}
	}
	return qs
}

// interval is a closed longitude or latitude interval in degrees.
type interval struct{ lo, hi float64 }

// bounds returns the latitude interval and one or two longitude intervals
// (two when the circle crosses the antimeridian) that contain every point
// within radiusKm of the centre. A circle that reaches a pole takes every
// longitude.
func bounds(lat, lng, radiusKm float64) (interval, []interval) {
	const rad = math.Pi / 180
	d := radiusKm / EarthRadiusKm // angular radius, radians
	latLo := lat - d/rad - marginDeg
	latHi := lat + d/rad + marginDeg
	if latLo <= -90 || latHi >= 90 {
		return interval{math.Max(latLo, -90), math.Min(latHi, 90)}, []interval{{-180, 180}}
	}
	// Longitude half-width of a spherical cap that does not contain a pole.
	s := math.Sin(d) / math.Cos(lat*rad)
	if s >= 1 {
		return interval{latLo, latHi}, []interval{{-180, 180}}
	}
	dLng := math.Asin(s)/rad + marginDeg
	lo, hi := lng-dLng, lng+dLng
	switch {
	case hi-lo >= 360:
		return interval{latLo, latHi}, []interval{{-180, 180}}
	case lo < -180:
		return interval{latLo, latHi}, []interval{{lo + 360, 180}, {-180, hi}}
	case hi >= 180:
		return interval{latLo, latHi}, []interval{{lo, 180}, {-180, hi - 360}}
	}
	return interval{latLo, latHi}, []interval{{lo, hi}}
}

// grid is the block of cells of one precision that a box touches, walked
// by cell centres so that each cell is named by cell, the same encoder that
// names a clinic's stored geohash.
type grid struct {
	p          int
	lat, lng   float64 // centre of the south-west cell
	h, w       float64 // cell height and width, degrees
	rows, cols int
}

// gridOf is the grid of precision-p cells that the box lats x lng touches.
func gridOf(lats, lng interval, p int) grid {
	sw := geohash.BoundingBox(cell(lats.lo, lng.lo, p))
	ne := geohash.BoundingBox(cell(lats.hi, lng.hi, p))
	g := grid{p: p, h: sw.MaxLat - sw.MinLat, w: sw.MaxLng - sw.MinLng}
	g.lat, g.lng = sw.Center()
	// Cell edges are exact binary fractions: the quotients are whole numbers.
	g.rows = int(math.Round((ne.MinLat-sw.MinLat)/g.h)) + 1
	g.cols = int(math.Round((ne.MinLng-sw.MinLng)/g.w)) + 1
	return g
}

// cellsCount returns the number of cells at precision p the box touches,
// without enumerating them.
func cellsCount(lats interval, lngs []interval, p int) int {
	n := 0
	for _, iv := range lngs {
		g := gridOf(lats, iv, p)
		n += g.rows * g.cols
	}
	return n
}

// rangesAt enumerates the cells of precision p that the box touches and
// merges runs of consecutive cells into ranges.
func rangesAt(lats interval, lngs []interval, p int) []Range {
	var cells []uint64
	for _, iv := range lngs {
		g := gridOf(lats, iv, p)
		for y := range g.rows {
			for x := range g.cols {
				n, _ := geohash.ConvertStringToInt(cell(g.lat+float64(y)*g.h, g.lng+float64(x)*g.w, p))
				cells = append(cells, n)
			}
		}
	}
	slices.Sort(cells)
	cells = slices.Compact(cells)
	last := uint64(1) << uint(5*p)
	var out []Range
	for i := 0; i < len(cells); {
		j := i
		for j+1 < len(cells) && cells[j+1] == cells[j]+1 {
			j++
		}
		end := endOfKeys
		if cells[j]+1 < last {
			end = geohash.ConvertIntToString(cells[j]+1, uint(p))
		}
		out = append(out, Range{Start: geohash.ConvertIntToString(cells[i], uint(p)), End: end})
		i = j + 1
	}
	return out
}

// Near plans a search for stored points within radiusKm of (lat, lng). It
// covers the circle's bounding box with geohash cells of the finest
// precision (at most StoredPrecision) whose cells, merged into runs of
// consecutive geohashes, make at most MaxRanges ranges. Crossing the
// antimeridian splits the box in two; a circle that reaches a pole covers
// every longitude near it (coarse, but correct).
//
// lat must be in [-90, 90], lng in [-180, 180] and radiusKm in (0, 20000].
func Near(lat, lng, radiusKm float64) (Plan, error) {
	switch {
	case !finite(lat) || lat < -90 || lat > 90:
		return Plan{}, fmt.Errorf("latitude must be between -90 and 90")
	case !finite(lng) || lng < -180 || lng > 180:
		return Plan{}, fmt.Errorf("longitude must be between -180 and 180")
	case !finite(radiusKm) || radiusKm <= 0 || radiusKm > 20000:
		return Plan{}, fmt.Errorf("radius must be more than 0 and at most 20000 km")
	}
	lats, lngs := bounds(lat, lng, radiusKm)
	plan := Plan{Lat: lat, Lng: lng, RadiusKm: radiusKm}
	for p := 1; p <= StoredPrecision; p++ {
		if cellsCount(lats, lngs, p) > MaxCells {
			break
		}
		rs := rangesAt(lats, lngs, p)
		if len(rs) <= MaxRanges || plan.Ranges == nil {
			plan.Precision, plan.Ranges = p, rs
		}
	}
	if plan.Ranges == nil { // more than MaxCells cells even at precision 1: cannot happen (32 cells)
		plan.Precision, plan.Ranges = 1, rangesAt(lats, lngs, 1)
	}
	return plan, nil
}
