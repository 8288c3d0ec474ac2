package locator

import (
	"fmt"
	"math"
	"strings"
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

var base32Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(Base32); i++ {
		t[Base32[i]] = int8(i)
	}
	return t
}()

// Box is the latitude/longitude rectangle a geohash names, in degrees.
// A point belongs to the box when MinLat <= lat < MaxLat and
// MinLng <= lng < MaxLng (the last row and column also take lat 90 and lng 180).
type Box struct {
	MinLat, MaxLat, MinLng, MaxLng float64
}

// Center returns the middle of the box.
func (b Box) Center() (lat, lng float64) {
	return (b.MinLat + b.MaxLat) / 2, (b.MinLng + b.MaxLng) / 2
}

// bits returns how many longitude and latitude bits a geohash of precision
// p carries: 5p bits interleaved, longitude first.
func bits(p int) (lngBits, latBits int) {
	n := 5 * p
	return (n + 1) / 2, n / 2
}

// axisIndex bisects [lo, hi) bits times and returns the index of the
// interval holding v. Values at or beyond hi land in the last interval,
// values below lo in the first. Encode and the cover share this routine, so
// a clinic's stored geohash and the cells of a cover always agree.
func axisIndex(v, lo, hi float64, bits int) uint64 {
	var idx uint64
	for range bits {
		mid := (lo + hi) / 2
		idx <<= 1
		if v >= mid {
			idx |= 1
			lo = mid
		} else {
			hi = mid
		}
	}
	return idx
}

// cellIndex is the 5p-bit interleaved number of the cell (lngIdx, latIdx) at
// precision p; its base-32 digits are the geohash.
func cellIndex(lngIdx, latIdx uint64, p int) uint64 {
	lngBits, latBits := bits(p)
	var n uint64
	li, ai := lngBits, latBits
	for k := range 5 * p {
		n <<= 1
		if k%2 == 0 {
			li--
			n |= (lngIdx >> uint(li)) & 1
		} else {
			ai--
			n |= (latIdx >> uint(ai)) & 1
		}
	}
	return n
}

// splitIndex undoes cellIndex.
func splitIndex(n uint64, p int) (lngIdx, latIdx uint64) {
	for k := range 5 * p {
		b := (n >> uint(5*p-1-k)) & 1
		if k%2 == 0 {
			lngIdx = lngIdx<<1 | b
		} else {
			latIdx = latIdx<<1 | b
		}
	}
	return lngIdx, latIdx
}

// indexString writes the cell number n as p base-32 characters.
func indexString(n uint64, p int) string {
	b := make([]byte, p)
	for i := p - 1; i >= 0; i-- {
		b[i] = Base32[n&31]
		n >>= 5
	}
	return string(b)
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
	lat = math.Max(-90, math.Min(90, lat))
	lng = normalizeLng(lng)
	lngBits, latBits := bits(precision)
	n := cellIndex(axisIndex(lng, -180, 180, lngBits), axisIndex(lat, -90, 90, latBits), precision)
	return indexString(n, precision), nil
}

// MustEncode is Encode for values known to be valid; it panics otherwise.
func MustEncode(lat, lng float64, precision int) string {
	h, err := Encode(lat, lng, precision)
	if err != nil {
		panic(err)
	}
	return h
}

// parse returns the cell number and precision of a geohash. Upper case is
// accepted.
func parse(hash string) (uint64, int, error) {
	p := len(hash)
	if p < 1 || p > MaxPrecision {
		return 0, 0, fmt.Errorf("geohash length %d out of range 1..%d", p, MaxPrecision)
	}
	var n uint64
	for i := 0; i < p; i++ {
		c := hash[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d := base32Index[c]
		if d < 0 {
			return 0, 0, fmt.Errorf("geohash character %d is not in the geohash alphabet", i+1)
		}
		n = n<<5 | uint64(d)
	}
	return n, p, nil
}

// DecodeBox returns the rectangle a geohash names.
func DecodeBox(hash string) (Box, error) {
	n, p, err := parse(hash)
	if err != nil {
		return Box{}, err
	}
	lngIdx, latIdx := splitIndex(n, p)
	return cellBox(lngIdx, latIdx, p), nil
}

func cellBox(lngIdx, latIdx uint64, p int) Box {
	lngBits, latBits := bits(p)
	w := 360 / float64(uint64(1)<<uint(lngBits))
	h := 180 / float64(uint64(1)<<uint(latBits))
	return Box{
		MinLat: -90 + float64(latIdx)*h, MaxLat: -90 + float64(latIdx+1)*h,
		MinLng: -180 + float64(lngIdx)*w, MaxLng: -180 + float64(lngIdx+1)*w,
	}
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
type Direction int

// The eight directions, clockwise from north, in the order Neighbours
// returns them.
const (
	North Direction = iota
	NorthEast
	East
	SouthEast
	South
	SouthWest
	West
	NorthWest
)

var steps = [8][2]int{ // {dLat, dLng}
	North: {1, 0}, NorthEast: {1, 1}, East: {0, 1}, SouthEast: {-1, 1},
	South: {-1, 0}, SouthWest: {-1, -1}, West: {0, -1}, NorthWest: {1, -1},
}

// Neighbour returns the adjacent cell of the same precision in direction d.
// Longitude wraps across the antimeridian; beyond a pole there is no cell,
// and Neighbour returns "" (the cells along the polar edge all touch the
// pole, so a search near a pole covers every longitude instead; see Cover).
func Neighbour(hash string, d Direction) (string, error) {
	if d < North || d > NorthWest {
		return "", fmt.Errorf("unknown direction %d", d)
	}
	n, p, err := parse(hash)
	if err != nil {
		return "", err
	}
	lngIdx, latIdx := splitIndex(n, p)
	lngBits, latBits := bits(p)
	lat := int64(latIdx) + int64(steps[d][0])
	if lat < 0 || lat >= int64(1)<<uint(latBits) {
		return "", nil
	}
	lngN := int64(1) << uint(lngBits)
	lng := ((int64(lngIdx)+int64(steps[d][1]))%lngN + lngN) % lngN
	return indexString(cellIndex(uint64(lng), uint64(lat), p), p), nil
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
	_, _, err := parse(s)
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
