// Package locator answers "which clinics supply these lenses near me?" for
// the public clinic locator (GET /v1/clinics?near=LAT,LNG&radiusKm=R&limit=N).
//
// Clinics are stored in the "clinics" collection with a geohash of their
// position (precision 9) next to lat and lng. A search covers the circle
// around the caller with a few geohash prefix ranges (Near), runs one range
// query per range on the geohash field (which Firestore serves from its
// automatic single-field index), then keeps the opted-in clinics whose exact
// great-circle distance is within the radius, nearest first.
//
// Geohash cells are encoded, decoded and bounded by
// github.com/mmcloughlin/geohash; this package adds what the library leaves
// open: clamping at the poles and the antimeridian (the library's
// arithmetic would carry lat 90 and lng 180 off the grid), wrapping
// neighbours across the antimeridian and stopping them at the poles, and
// validating input (the library decodes any string). The range cover (Near,
// in cover.go) is lensflow's own: the library, like other geohash
// libraries, has no planner that turns a circle into a bounded number of
// Firestore prefix-range queries split at the antimeridian. The cover names
// its cells with the same encoder as the stored geohashes, so the two
// always agree.
//
// The library quantizes a coordinate with floating-point arithmetic, so a
// point within a few ulps (about 1e-14 degrees, nanometres) of a cell edge
// may be put in the adjacent cell, whose box then just misses it; the cover
// widens its box by 1e-9 degrees, far more than that, so searches still
// find such a point.
//
// Clinic records here are public business listings; nothing in this
// package touches patient data.
package locator

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
)

// Collection is the document collection that holds clinic listings, one
// document per clinic keyed by clinic id.
const Collection = "clinics"

// Search limits and defaults.
const (
	DefaultLimit    = 10
	MaxLimit        = 50
	DefaultRadiusKm = 25.0
	MaxRadiusKm     = 200.0
)

// Clinic is a clinic's public listing.
type Clinic struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Address   string      `json:"address"`
	City      string      `json:"city"`
	Postcode  string      `json:"postcode"`
	Country   string      `json:"country"` // ISO 3166-1 alpha-2
	Phone     string      `json:"phone"`
	Lat       float64     `json:"lat"`
	Lng       float64     `json:"lng"`
	Geohash   string      `json:"geohash"` // StoredPrecision characters, from Lat and Lng
	LensTypes []lens.Type `json:"lensTypes"`
	OptedIn   bool        `json:"optedIn"` // listed in the public locator only when true
}

// Supplies reports whether the clinic fits lens type t.
func (c Clinic) Supplies(t lens.Type) bool { return slices.Contains(c.LensTypes, t) }

// Validate checks a listing before it is stored: an id Firestore accepts,
// a name, coordinates in range, known lens types, and a geohash that
// matches the coordinates (Normalize sets it).
func (c Clinic) Validate() error {
	const op = "locator.Clinic"
	if err := ports.CheckDocumentName(c.ID); err != nil {
		return errs.Field(op, "id", "%v", err)
	}
	if strings.TrimSpace(c.Name) == "" {
		return errs.Field(op, "name", "must not be empty")
	}
	if !finite(c.Lat) || c.Lat < -90 || c.Lat > 90 {
		return errs.Field(op, "lat", "must be between -90 and 90")
	}
	if !finite(c.Lng) || c.Lng < -180 || c.Lng > 180 {
		return errs.Field(op, "lng", "must be between -180 and 180")
	}
	for _, t := range c.LensTypes {
		if _, err := lens.ParseType(string(t)); err != nil {
			return errs.Field(op, "lensTypes", "unknown lens type %q (want rgp, orthok or scleral)", t)
		}
	}
	if want := MustEncode(c.Lat, c.Lng, StoredPrecision); c.Geohash != want {
		return errs.Field(op, "geohash", "does not match lat and lng (want %s)", want)
	}
	return nil
}

// Normalize returns c with its geohash computed from Lat and Lng (it
// leaves an invalid position alone for Validate to report).
func (c Clinic) Normalize() Clinic {
	if h, err := Encode(c.Lat, c.Lng, StoredPrecision); err == nil {
		c.Geohash = h
	}
	c.LensTypes = slices.Clone(c.LensTypes)
	return c
}

// Result is one clinic found by Search, with its distance from the centre.
type Result struct {
	Clinic
	DistanceKm float64 `json:"distanceKm"` // great-circle, rounded to metres
}

// Query is a locator search.
type Query struct {
	Lat, Lng float64   // centre, degrees
	RadiusKm float64   // 0 < RadiusKm <= MaxRadiusKm; 0 means DefaultRadiusKm
	Limit    int       // 1..MaxLimit; 0 means DefaultLimit
	LensType lens.Type // optional: only clinics that fit this type
	// After, if set, starts the results after this position in their
	// order: a result's DistanceKm (rounded, as answered) and id.
	After *ports.Cursor
}

// Scope is what a page token of this search is bound to: the centre, the
// radius and the lens type (not the page size).
func (q Query) Scope() paging.Scope {
	return paging.NewScope("clinics.search", strconv.FormatFloat(q.Lat, 'g', -1, 64), strconv.FormatFloat(q.Lng, 'g', -1, 64),
		strconv.FormatFloat(q.RadiusKm, 'g', -1, 64), string(q.LensType))
}

// withDefaults fills zero values and checks ranges; errors name the query
// parameter.
func (q Query) withDefaults(op string) (Query, error) {
	if q.RadiusKm == 0 {
		q.RadiusKm = DefaultRadiusKm
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	switch {
	case !finite(q.Lat) || q.Lat < -90 || q.Lat > 90:
		return q, errs.Field(op, "near", "latitude must be between -90 and 90")
	case !finite(q.Lng) || q.Lng < -180 || q.Lng > 180:
		return q, errs.Field(op, "near", "longitude must be between -180 and 180")
	case !finite(q.RadiusKm) || q.RadiusKm <= 0 || q.RadiusKm > MaxRadiusKm:
		return q, errs.Field(op, "radiusKm", "must be more than 0 and at most %g", MaxRadiusKm)
	case q.Limit < 1 || q.Limit > MaxLimit:
		return q, errs.Field(op, "limit", "must be between 1 and %d", MaxLimit)
	}
	if q.LensType != "" {
		if _, err := lens.ParseType(string(q.LensType)); err != nil {
			return q, errs.Field(op, "lensType", "must be rgp, orthok or scleral")
		}
	}
	return q, nil
}

// ParseQuery reads a search from URL query parameters:
//
//	near=LAT,LNG   required, decimal degrees
//	radiusKm=R     optional, 0 < R <= 200, default 25
//	limit=N        optional, 1..50, default 10 (the page size, as before paging)
//	pageSize=N     optional, AIP-158: 0 or absent is limit's default, above 50 is 50
//	lensType=T     optional, rgp, orthok or scleral
//
// pageToken is the caller's to decode with the search's Scope.
// Errors are errs.Invalid naming the parameter; NaN, infinities, out of
// range values and repeated parameters are refused. Other parameters are
// ignored (caches and links add their own).
func ParseQuery(v url.Values) (Query, error) {
	const op = "locator.ParseQuery"
	one := func(name string) (string, bool, error) {
		vs, ok := v[name]
		if !ok {
			return "", false, nil
		}
		if len(vs) != 1 {
			return "", false, errs.Field(op, name, "must be given once")
		}
		return vs[0], true, nil
	}
	var q Query
	near, ok, err := one("near")
	if err != nil {
		return q, err
	}
	if !ok || near == "" {
		return q, errs.Field(op, "near", "required, as LAT,LNG in decimal degrees")
	}
	latS, lngS, found := strings.Cut(near, ",")
	if !found || strings.Contains(lngS, ",") {
		return q, errs.Field(op, "near", "must be LAT,LNG in decimal degrees")
	}
	if q.Lat, err = number(latS); err != nil {
		return q, errs.Field(op, "near", "latitude %v", err)
	}
	if q.Lng, err = number(lngS); err != nil {
		return q, errs.Field(op, "near", "longitude %v", err)
	}
	if s, ok, err := one("radiusKm"); err != nil {
		return q, err
	} else if ok {
		if q.RadiusKm, err = number(s); err != nil {
			return q, errs.Field(op, "radiusKm", "%v", err)
		}
		if q.RadiusKm == 0 {
			return q, errs.Field(op, "radiusKm", "must be more than 0 and at most %g", MaxRadiusKm)
		}
	}
	if s, ok, err := one("limit"); err != nil {
		return q, err
	} else if ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > MaxLimit {
			return q, errs.Field(op, "limit", "must be a whole number between 1 and %d", MaxLimit)
		}
		q.Limit = n
	}
	if s, ok, err := one(paging.ParamSize); err != nil {
		return q, err
	} else if ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return q, errs.Field(op, paging.ParamSize, "must be a whole number from 0 to %d (0: the default, %d)", MaxLimit, DefaultLimit)
		}
		q.Limit = min(n, MaxLimit) // 0: the default
	}
	if s, ok, err := one("lensType"); err != nil {
		return q, err
	} else if ok {
		q.LensType = lens.Type(s)
		if s == "" {
			return q, errs.Field(op, "lensType", "must be rgp, orthok or scleral")
		}
	}
	return q.withDefaults(op)
}

// number parses a finite decimal number; the error never quotes the input.
func number(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 {
		return 0, errors.New("must be a finite decimal number")
	}
	for _, c := range s { // plain decimals only: no hex floats, no "Inf", no "NaN", no "_"
		if !strings.ContainsRune("0123456789.+-eE", c) {
			return 0, errors.New("must be a finite decimal number")
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !finite(f) {
		return 0, errors.New("must be a finite decimal number")
	}
	return f, nil
}

// Search returns the opted-in clinics within q.RadiusKm of the centre that
// fit q.LensType (if set), nearest first (by distance rounded to metres,
// then id), after q.After if set, at most q.Limit.
// Errors from docs pass through with their kind; an invalid q is
// errs.Invalid naming the query parameter.
//
// Search reads every clinic in the plan's ranges (at most MaxRanges range
// queries), so its cost grows with the clinics near the centre, not with
// the whole collection.
func Search(ctx context.Context, docs ports.Documents, q Query) ([]Result, error) {
	out, _, err := SearchPage(ctx, docs, q)
	return out, err
}

// SearchPage is Search that also reports whether more results follow the
// q.Limit it returns (the page's next page starts after its last result).
func SearchPage(ctx context.Context, docs ports.Documents, q Query) ([]Result, bool, error) {
	const op = "locator.Search"
	q, err := q.withDefaults(op)
	if err != nil {
		return nil, false, err
	}
	plan, err := Near(q.Lat, q.Lng, q.RadiusKm)
	if err != nil {
		return nil, false, errs.Field(op, "near", "%v", err)
	}
	seen := map[string]bool{}
	var out []Result
	for _, pq := range plan.Queries(Collection) {
		found, err := docs.Query(ctx, pq)
		if err != nil {
			return nil, false, errs.Wrap(op, err)
		}
		for _, d := range found {
			if seen[d.ID] {
				continue
			}
			seen[d.ID] = true
			var c Clinic
			if err := d.Decode(&c); err != nil {
				continue // not a listing we can read; never fail the public search on one record
			}
			c.ID = d.ID
			if !c.OptedIn || (q.LensType != "" && !c.Supplies(q.LensType)) ||
				!finite(c.Lat) || !finite(c.Lng) {
				continue
			}
			dist := Haversine(q.Lat, q.Lng, c.Lat, c.Lng)
			if dist > q.RadiusKm {
				continue
			}
			r := Result{Clinic: c, DistanceKm: math.Round(dist*1000) / 1000}
			if q.After == nil || pastCursor(r, *q.After) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b Result) int {
		if r := cmp.Compare(a.DistanceKm, b.DistanceKm); r != 0 {
			return r
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(out) > q.Limit {
		return out[:q.Limit], true, nil
	}
	return out, false, nil
}

// pastCursor reports whether r comes after the position c in Search's order.
func pastCursor(r Result, c ports.Cursor) bool {
	d, _ := c.Value.(float64)
	if n, ok := c.Value.(json.Number); ok {
		d, _ = n.Float64()
	}
	if r.DistanceKm != d {
		return r.DistanceKm > d
	}
	return r.ID > c.ID
}

// Seed writes clinic listings (normalized: geohash computed) in one
// transaction and returns how many documents it created or changed.
// Listings already stored unchanged are left alone, so seeding twice is a
// no-op; a stored listing that differs is replaced by the given one.
func Seed(ctx context.Context, docs ports.Documents, clinics []Clinic) (int, error) {
	const op = "locator.Seed"
	norm := make([]Clinic, len(clinics))
	ids := map[string]bool{}
	for i, c := range clinics {
		c = c.Normalize()
		if err := c.Validate(); err != nil {
			return 0, errs.E(op, errs.Invalid, fmt.Errorf("clinic %d: %w", i, err))
		}
		if ids[c.ID] {
			return 0, errs.Field(op, "id", "clinic %d repeats an id", i)
		}
		ids[c.ID] = true
		norm[i] = c
	}
	var written int
	err := docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		written = 0
		var changed []Clinic
		for _, c := range norm { // every Get before the first write
			var old Clinic
			err := tx.Get(Collection, c.ID, &old)
			switch {
			case errs.Is(errs.NotFound, err):
				changed = append(changed, c)
			case err != nil:
				return err
			case !sameClinic(old, c):
				changed = append(changed, c)
			}
		}
		for _, c := range changed {
			if err := tx.Set(Collection, c.ID, c); err != nil {
				return err
			}
		}
		written = len(changed)
		return nil
	})
	if err != nil {
		return 0, errs.Wrap(op, err)
	}
	return written, nil
}

func sameClinic(a, b Clinic) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Address == b.Address && a.City == b.City &&
		a.Postcode == b.Postcode && a.Country == b.Country && a.Phone == b.Phone &&
		a.Lat == b.Lat && a.Lng == b.Lng && a.Geohash == b.Geohash &&
		slices.Equal(a.LensTypes, b.LensTypes) && a.OptedIn == b.OptedIn
}
