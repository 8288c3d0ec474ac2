package locator

import (
	"fmt"
	"math"
	"strings"

	"github.com/mmcloughlin/geohash"
)

// Base32 is the geohash alphabet (no a, i, l, o). It is in ASCII order, so
// geohash strings sort the same way as the cells they name, which is what
// makes prefix ranges work as Firestore range queries.
const Base32 = "0123456789bcdefghjkmnpqrstuvwxyz"

// MaxPrecision is the longest geohash this package encodes (12 characters,
// cells of about 37 mm x 19 mm).
const MaxPrecision = 12

// StoredPrecision is the precision of the geohash field stored on each
// clinic (cells of about 4.8 m x 4.8 m).
const StoredPrecision = 9

// Box is the latitude/longitude rectangle a geohash names, in degrees.
// A point belongs to the box when MinLat <= lat < MaxLat and
// MinLng <= lng < MaxLng (the last row and column also take lat 90 and lng
// 180). It is the geohash library's Box, whose Contains also takes the edges.
type Box = geohash.Box

// topLat and topLng are the southern and western edges of the library's
// last 32-bit row and column. The library maps a coordinate to
// (x+r)/2r * 2^32 and truncates, so lat 90 and lng 180 (and values that
// round to them) would fall off the grid into the first row or column;
// cell clamps to these edges instead, which are inside the last cell at
// every precision, as the standard bisection puts them.
var (
	topLat = 90 - math.Ldexp(180, -32)
	topLng = 180 - math.Ldexp(360, -32)
)

// cell is the geohash of precision p (1..MaxPrecision) of the cell holding
// (lat, lng), with both clamped onto the grid: latitude to [-90, 90],
// longitude to [-180, 180] (180 lands in the last column; it does not wrap).
// Encode and the cover both name cells with it, so a clinic's stored
// geohash and the cells of a cover always agree.
func cell(lat, lng float64, p int) string {
	lat = math.Max(-90, math.Min(topLat, lat))
	lng = math.Max(-180, math.Min(topLng, lng))
	return geohash.EncodeWithPrecision(lat, lng, uint(p))
}

// Encode returns the geohash of precision 1..12 for the point. Latitude is
// clamped to [-90, 90] and longitude normalized into [-180, 180); NaN or
// infinite coordinates and precisions out of range are errors.
func Encode(lat, lng float64, precision int) (string, error) {
	if precision < 1 || precision > MaxPrecision {
		return "", fmt.Errorf("precision %d out of range 1..%d", precision, MaxPrecision)
	}
	if !finite(lat) || !finite(lng) {
		return "", fmt.Errorf("coordinates must be finite numbers")
	}
	return cell(lat, normalizeLng(lng), precision), nil
}

// MustEncode is Encode for values known to be valid; it panics otherwise.
func MustEncode(lat, lng float64, precision int) string {
	h, err := Encode(lat, lng, precision)
	if err != nil {
		panic(err)
	}
	return h
}

// parse checks a geohash (upper case is accepted) and returns it in lower
// case. The library decodes any string without complaint, so this runs
// before every decode.
func parse(hash string) (string, error) {
	if p := len(hash); p < 1 || p > MaxPrecision {
		return "", fmt.Errorf("geohash length %d out of range 1..%d", p, MaxPrecision)
	}
	hash = strings.ToLower(hash)
	for i := 0; i < len(hash); i++ {
		if strings.IndexByte(Base32, hash[i]) < 0 {
			return "", fmt.Errorf("geohash character %d is not in the geohash alphabet", i+1)
		}
	}
	return hash, nil
}

// DecodeBox returns the rectangle a geohash names.
func DecodeBox(hash string) (Box, error) {
	hash, err := parse(hash)
	if err != nil {
		return Box{}, err
	}
	return geohash.BoundingBox(hash), nil
}

// Decode returns the centre of a geohash's cell and the half-size of the
// cell (the largest error of the centre), all in degrees.
func Decode(hash string) (lat, lng, latErr, lngErr float64, err error) {
	b, err := DecodeBox(hash)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	lat, lng = b.Center()
	return lat, lng, (b.MaxLat - b.MinLat) / 2, (b.MaxLng - b.MinLng) / 2, nil
}

// Direction names a neighbouring cell.
type Direction = geohash.Direction

// The eight directions, clockwise from north, in the order Neighbours
// returns them.
const (
	North     = geohash.North
	NorthEast = geohash.NorthEast
	East      = geohash.East
	SouthEast = geohash.SouthEast
	South     = geohash.South
	SouthWest = geohash.SouthWest
	West      = geohash.West
	NorthWest = geohash.NorthWest
)

var steps = [8][2]int{ // {dLat, dLng}
	North: {1, 0}, NorthEast: {1, 1}, East: {0, 1}, SouthEast: {-1, 1},
	South: {-1, 0}, SouthWest: {-1, -1}, West: {0, -1}, NorthWest: {1, -1},
}

// Neighbour returns the adjacent cell of the same precision in direction d.
// Longitude wraps across the antimeridian; beyond a pole there is no cell,
// and Neighbour returns "" (the cells along the polar edge all touch the
// pole, so a search near a pole covers every longitude instead; see Near).
//
// The library's own Neighbors steps past the grid's edges without
// wrapping (what it returns there depends on how the platform converts an
// out-of-range float to an integer), so the step is taken here and only the
// encoding is the library's.
func Neighbour(hash string, d Direction) (string, error) {
	if d < North || d > NorthWest {
		return "", fmt.Errorf("unknown direction %d", d)
	}
	b, err := DecodeBox(hash)
	if err != nil {
		return "", err
	}
	lat, lng := b.Center()
	lat += float64(steps[d][0]) * (b.MaxLat - b.MinLat)
	lng += float64(steps[d][1]) * (b.MaxLng - b.MinLng)
	if lat < -90 || lat > 90 {
		return "", nil
	}
	return cell(lat, normalizeLng(lng), len(hash)), nil
}

// Neighbours returns the eight adjacent cells, indexed by Direction
// (N, NE, E, SE, S, SW, W, NW); entries beyond a pole are "".
// The result is in lower case.
func Neighbours(hash string) ([8]string, error) {
	var out [8]string
	for d := North; d <= NorthWest; d++ {
		h, err := Neighbour(hash, d)
		if err != nil {
			return out, err
		}
		out[d] = h
	}
	return out, nil
}

// ValidGeohash reports whether s is a lower-case geohash of precision 1..12.
func ValidGeohash(s string) bool {
	if s != strings.ToLower(s) {
		return false
	}
	_, err := parse(s)
	return err == nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// normalizeLng maps a finite longitude into [-180, 180).
func normalizeLng(lng float64) float64 {
	if lng >= -180 && lng < 180 {
		return lng
	}
	lng = math.Mod(lng+180, 360)
	if lng < 0 {
		lng += 360
	}
	return lng - 180
}
