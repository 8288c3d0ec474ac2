package locator_test

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/locator"
	"github.com/lensflow/lensflow/shared/ports"
)

func openDocs(t testing.TB) ports.Documents {
	t.Helper()
	docs, err := boltdocs.Open(t.TempDir() + "/d.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docs.Close() })
	return docs
}

func seeded(t testing.TB, clinics []locator.Clinic) ports.Documents {
	t.Helper()
	docs := openDocs(t)
	if _, err := locator.Seed(context.Background(), docs, clinics); err != nil {
		t.Fatal(err)
	}
	return docs
}

func ids(rs []locator.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// bruteForce is the oracle: scan every clinic.
func bruteForce(clinics []locator.Clinic, q locator.Query) []string {
	type hit struct {
		id string
		d  float64
	}
	var hits []hit
	for _, c := range clinics {
		if !c.OptedIn || (q.LensType != "" && !c.Supplies(q.LensType)) {
			continue
		}
		if d := locator.Haversine(q.Lat, q.Lng, c.Lat, c.Lng); d <= q.RadiusKm {
			hits = append(hits, hit{c.ID, d})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if r := cmp.Compare(a.d, b.d); r != 0 {
			return r
		}
		return strings.Compare(a.id, b.id)
	})
	out := []string{}
	for i, h := range hits {
		if i == q.Limit {
			break
		}
		out = append(out, h.id)
	}
	return out
}

func TestDemoClinics(t *testing.T) {
	cs := locator.DemoClinics()
	if len(cs) < 30 || len(cs) > 45 {
		t.Fatalf("%d demo clinics, want a few dozen", len(cs))
	}
	seen := map[string]bool{}
	cities := map[string]bool{}
	optedOut := 0
	for _, c := range cs {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.ID, err)
		}
		if seen[c.ID] {
			t.Errorf("duplicate id %s", c.ID)
		}
		seen[c.ID] = true
		cities[c.City] = true
		if !c.OptedIn {
			optedOut++
		}
		if len(c.LensTypes) == 0 {
			t.Errorf("%s fits no lens type", c.ID)
		}
		if !strings.Contains(c.Phone, "555") && !strings.Contains(c.Phone, "7946 0") && !strings.Contains(c.Phone, " 496 0") {
			t.Errorf("%s phone %q is not from a fictional range", c.ID, c.Phone)
		}
	}
	if !seen["demo-north"] || !seen["demo-south"] {
		t.Error("demo-north and demo-south must be demo clinics")
	}
	if optedOut == 0 || optedOut == len(cs) {
		t.Errorf("%d of %d opted out; want a few", optedOut, len(cs))
	}
	if len(cities) < 10 {
		t.Errorf("only %d cities", len(cities))
	}
	cs[0].Name = "changed"
	if locator.DemoClinics()[0].Name == "changed" {
		t.Error("DemoClinics shares its slice between calls")
	}
}

func TestSearchDemo(t *testing.T) {
	ctx := context.Background()
	demo := locator.DemoClinics()
	docs := seeded(t, demo)
	north := demo[slices.IndexFunc(demo, func(c locator.Clinic) bool { return c.ID == "demo-north" })]

	tests := []struct {
		name    string
		q       locator.Query
		want    []string // exact ids in order; nil means "compare with the oracle only"
		exclude []string
	}{
		{
			name: "nearest first, opted-out excluded",
			q:    locator.Query{Lat: north.Lat, Lng: north.Lng},
			want: []string{"demo-north", "marylebone-scleral", "islington-optometry", "demo-south", "stratford-lens-lab", "greenwich-vision"},
			// hammersmith-eyes is 8 km away but has not opted in.
			exclude: []string{"hammersmith-eyes"},
		},
		{
			name: "radius filters",
			q:    locator.Query{Lat: north.Lat, Lng: north.Lng, RadiusKm: 3},
			want: []string{"demo-north", "marylebone-scleral", "islington-optometry"},
		},
		{
			name: "limit",
			q:    locator.Query{Lat: north.Lat, Lng: north.Lng, Limit: 2},
			want: []string{"demo-north", "marylebone-scleral"},
		},
		{
			name: "lens type",
			q:    locator.Query{Lat: north.Lat, Lng: north.Lng, LensType: lens.Scleral},
			want: []string{"demo-north", "marylebone-scleral"},
		},
		{
			name: "nothing nearby",
			q:    locator.Query{Lat: 0, Lng: 0, RadiusKm: 200},
			want: []string{},
		},
		{
			name: "other hemisphere",
			q:    locator.Query{Lat: -33.8688, Lng: 151.2093, RadiusKm: 30, LensType: lens.OrthoK},
			want: []string{"sydney-cbd-lenses", "bondi-optometry"}, // chatswood-vision opted out
		},
		{
			name: "across a city, 200 km",
			q:    locator.Query{Lat: 41.8781, Lng: -87.6298, RadiusKm: 200, Limit: 50},
			want: []string{"chicago-loop-lenses", "lincoln-park-vision"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := locator.Search(ctx, docs, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			q := tt.q
			if q.RadiusKm == 0 {
				q.RadiusKm = locator.DefaultRadiusKm
			}
			if q.Limit == 0 {
				q.Limit = locator.DefaultLimit
			}
			if oracle := bruteForce(demo, q); !slices.Equal(ids(got), oracle) {
				t.Fatalf("Search = %v, brute force = %v", ids(got), oracle)
			}
			if tt.want != nil && !slices.Equal(ids(got), tt.want) {
				t.Fatalf("Search = %v, want %v", ids(got), tt.want)
			}
			for i, r := range got {
				if slices.Contains(tt.exclude, r.ID) || !r.OptedIn {
					t.Fatalf("result %s should be excluded", r.ID)
				}
				if r.DistanceKm > q.RadiusKm || (i > 0 && r.DistanceKm < got[i-1].DistanceKm) {
					t.Fatalf("distances out of order or range: %+v", got)
				}
				if r.Name == "" || r.Phone == "" || r.Address == "" {
					t.Fatalf("result without listing details: %+v", r)
				}
			}
		})
	}
}

// TestSearchMatchesBruteForce runs random searches around the demo cities
// and compares with a full scan.
func TestSearchMatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	demo := locator.DemoClinics()
	docs := seeded(t, demo)
	rng := rand.New(rand.NewPCG(7, 8))
	types := []lens.Type{"", lens.RGP, lens.OrthoK, lens.Scleral}
	for i := range 300 {
		c := demo[rng.IntN(len(demo))]
		q := locator.Query{
			Lat:      c.Lat + rng.NormFloat64()*0.2,
			Lng:      c.Lng + rng.NormFloat64()*0.3,
			RadiusKm: 0.5 + rng.Float64()*199.5,
			Limit:    1 + rng.IntN(locator.MaxLimit),
			LensType: types[i%len(types)],
		}
		got, err := locator.Search(ctx, docs, q)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteForce(demo, q); !slices.Equal(ids(got), want) {
			t.Fatalf("query %+v: Search = %v, brute force = %v", q, ids(got), want)
		}
	}
}

func TestSearchAntimeridianAndPole(t *testing.T) {
	ctx := context.Background()
	clinics := []locator.Clinic{
		{ID: "taveuni-east", Name: "East", Lat: -16.80, Lng: 179.97, LensTypes: []lens.Type{lens.RGP}, OptedIn: true},
		{ID: "taveuni-west", Name: "West", Lat: -16.81, Lng: -179.96, LensTypes: []lens.Type{lens.RGP}, OptedIn: true},
		{ID: "suva", Name: "Far", Lat: -18.1416, Lng: 178.4419, LensTypes: []lens.Type{lens.RGP}, OptedIn: true},
		{ID: "north-pole", Name: "Pole", Lat: 89.99, Lng: 120, LensTypes: []lens.Type{lens.Scleral}, OptedIn: true},
		{ID: "pole-far-side", Name: "Pole far side", Lat: 89.9, Lng: -60, LensTypes: []lens.Type{lens.Scleral}, OptedIn: true},
	}
	docs := seeded(t, clinics)
	tests := []struct {
		name string
		q    locator.Query
		want []string
	}{
		{"from the east side", locator.Query{Lat: -16.8, Lng: 179.99, RadiusKm: 20}, []string{"taveuni-east", "taveuni-west"}},
		{"from the west side", locator.Query{Lat: -16.81, Lng: -179.95, RadiusKm: 20}, []string{"taveuni-west", "taveuni-east"}},
		{"exactly on 180", locator.Query{Lat: -17.3, Lng: 180, RadiusKm: 200}, []string{"taveuni-west", "taveuni-east", "suva"}},
		{"at the pole", locator.Query{Lat: 90, Lng: 0, RadiusKm: 20}, []string{"north-pole", "pole-far-side"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := locator.Search(ctx, docs, tt.q)
			if err != nil || !slices.Equal(ids(got), tt.want) {
				t.Fatalf("Search = %v, %v; want %v", ids(got), err, tt.want)
			}
		})
	}
}

func TestSearchInvalid(t *testing.T) {
	docs := openDocs(t)
	tests := []struct {
		name  string
		q     locator.Query
		field string
	}{
		{"lat NaN", locator.Query{Lat: math.NaN()}, "near"},
		{"lng out of range", locator.Query{Lng: 200}, "near"},
		{"radius too large", locator.Query{RadiusKm: 201}, "radiusKm"},
		{"radius negative", locator.Query{RadiusKm: -1}, "radiusKm"},
		{"radius Inf", locator.Query{RadiusKm: math.Inf(1)}, "radiusKm"},
		{"limit too large", locator.Query{Limit: 51}, "limit"},
		{"limit negative", locator.Query{Limit: -1}, "limit"},
		{"unknown lens type", locator.Query{LensType: "soft"}, "lensType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := locator.Search(context.Background(), docs, tt.q)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Fatalf("err = %v (field %q), want invalid %s", err, errs.FieldOf(err), tt.field)
			}
		})
	}
}

// failingDocs fails every query, as an unavailable backend would.
type failingDocs struct{ ports.Documents }

func (failingDocs) Query(context.Context, ports.Query) ([]ports.Doc, error) {
	return nil, errs.E("fake.Query", errs.Unavailable, nil)
}

func TestSearchBackendError(t *testing.T) {
	_, err := locator.Search(context.Background(), failingDocs{}, locator.Query{Lat: 1, Lng: 1})
	if !errs.Is(errs.Unavailable, err) {
		t.Fatalf("err = %v, want unavailable", err)
	}
}

func TestSearchSkipsUnreadableRecords(t *testing.T) {
	ctx := context.Background()
	docs := seeded(t, locator.DemoClinics())
	// A record in the range whose fields have the wrong types.
	h := locator.MustEncode(51.5390, -0.1426, locator.StoredPrecision)
	err := docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Set(locator.Collection, "broken", map[string]any{"geohash": h, "lat": "north", "optedIn": true})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := locator.Search(ctx, docs, locator.Query{Lat: 51.5390, Lng: -0.1426, RadiusKm: 1})
	if err != nil || len(got) != 1 || got[0].ID != "demo-north" {
		t.Fatalf("Search = %v, %v; want demo-north only", ids(got), err)
	}
}

func TestSeed(t *testing.T) {
	ctx := context.Background()
	docs := openDocs(t)
	demo := locator.DemoClinics()
	n, err := locator.Seed(ctx, docs, demo)
	if err != nil || n != len(demo) {
		t.Fatalf("first Seed = %d, %v; want %d", n, err, len(demo))
	}
	n, err = locator.Seed(ctx, docs, demo)
	if err != nil || n != 0 {
		t.Fatalf("second Seed = %d, %v; want 0 (idempotent)", n, err)
	}
	changed := locator.DemoClinics()
	changed[1].OptedIn = !changed[1].OptedIn
	if n, err = locator.Seed(ctx, docs, changed); err != nil || n != 1 {
		t.Fatalf("Seed after a change = %d, %v; want 1", n, err)
	}
	var got locator.Clinic
	if err := docs.Get(ctx, locator.Collection, changed[1].ID, &got); err != nil || got.OptedIn != changed[1].OptedIn {
		t.Fatalf("stored %+v, %v", got, err)
	}

	t.Run("geohash computed", func(t *testing.T) {
		c := locator.Clinic{ID: "x", Name: "X", Lat: 57.64911, Lng: 10.40744}
		if _, err := locator.Seed(ctx, docs, []locator.Clinic{c}); err != nil {
			t.Fatal(err)
		}
		var got locator.Clinic
		if err := docs.Get(ctx, locator.Collection, "x", &got); err != nil || got.Geohash != "u4pruydqq" {
			t.Fatalf("stored geohash %q, %v; want u4pruydqq", got.Geohash, err)
		}
	})
	bad := []struct {
		name  string
		c     []locator.Clinic
		field string
	}{
		{"bad id", []locator.Clinic{{ID: "a/b", Name: "X"}}, "id"},
		{"no name", []locator.Clinic{{ID: "a"}}, "name"},
		{"lat out of range", []locator.Clinic{{ID: "a", Name: "X", Lat: 95}}, "lat"},
		{"lng NaN", []locator.Clinic{{ID: "a", Name: "X", Lng: math.NaN()}}, "lng"},
		{"unknown lens", []locator.Clinic{{ID: "a", Name: "X", LensTypes: []lens.Type{"soft"}}}, "lensTypes"},
		{"duplicate id", []locator.Clinic{{ID: "a", Name: "X"}, {ID: "a", Name: "Y"}}, "id"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := locator.Seed(ctx, docs, tt.c)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Fatalf("err = %v (field %q), want invalid %s", err, errs.FieldOf(err), tt.field)
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		want  locator.Query
		field string // expected error field; "" means success
	}{
		{"defaults", "near=51.5,-0.12", locator.Query{Lat: 51.5, Lng: -0.12, RadiusKm: 25, Limit: 10}, ""},
		{"all parameters", "near=-33.87,151.21&radiusKm=5.5&limit=50&lensType=orthok", locator.Query{Lat: -33.87, Lng: 151.21, RadiusKm: 5.5, Limit: 50, LensType: lens.OrthoK}, ""},
		{"spaces and plus", "near=+51.5,%20-0.12&limit=1", locator.Query{Lat: 51.5, Lng: -0.12, RadiusKm: 25, Limit: 1}, ""},
		{"edges", "near=-90,180&radiusKm=200", locator.Query{Lat: -90, Lng: 180, RadiusKm: 200, Limit: 10}, ""},
		{"unknown parameters ignored", "near=1,2&utm_source=x", locator.Query{Lat: 1, Lng: 2, RadiusKm: 25, Limit: 10}, ""},
		{"missing near", "radiusKm=5", locator.Query{}, "near"},
		{"empty near", "near=", locator.Query{}, "near"},
		{"one coordinate", "near=51.5", locator.Query{}, "near"},
		{"three coordinates", "near=1,2,3", locator.Query{}, "near"},
		{"lat NaN", "near=NaN,0", locator.Query{}, "near"},
		{"lng Inf", "near=0,Inf", locator.Query{}, "near"},
		{"lng infinity", "near=0,-infinity", locator.Query{}, "near"},
		{"hex float", "near=0x1p4,0", locator.Query{}, "near"},
		{"overflow", "near=1e400,0", locator.Query{}, "near"},
		{"lat 90.1", "near=90.1,0", locator.Query{}, "near"},
		{"lng -180.5", "near=0,-180.5", locator.Query{}, "near"},
		{"near twice", "near=1,2&near=3,4", locator.Query{}, "near"},
		{"radius 0", "near=1,2&radiusKm=0", locator.Query{}, "radiusKm"},
		{"radius negative", "near=1,2&radiusKm=-3", locator.Query{}, "radiusKm"},
		{"radius too big", "near=1,2&radiusKm=200.01", locator.Query{}, "radiusKm"},
		{"radius NaN", "near=1,2&radiusKm=nan", locator.Query{}, "radiusKm"},
		{"radius text", "near=1,2&radiusKm=far", locator.Query{}, "radiusKm"},
		{"radius empty", "near=1,2&radiusKm=", locator.Query{}, "radiusKm"},
		{"limit 0", "near=1,2&limit=0", locator.Query{}, "limit"},
		{"limit 51", "near=1,2&limit=51", locator.Query{}, "limit"},
		{"limit fraction", "near=1,2&limit=2.5", locator.Query{}, "limit"},
		{"limit twice", "near=1,2&limit=2&limit=3", locator.Query{}, "limit"},
		{"lens type unknown", "near=1,2&lensType=soft", locator.Query{}, "lensType"},
		{"lens type empty", "near=1,2&lensType=", locator.Query{}, "lensType"},
		{"lens type case", "near=1,2&lensType=RGP", locator.Query{}, "lensType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := locator.ParseQuery(v)
			if tt.field == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseQuery = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tt.field {
				t.Fatalf("err = %v (field %q), want invalid %s", err, errs.FieldOf(err), tt.field)
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"near=51.5,-0.12", "near=-33.87,151.21&radiusKm=5.5&limit=50&lensType=orthok",
		"near=NaN,0", "near=1e400,0", "near=,&limit=-1", "near=90,180&radiusKm=200",
		"near=1,2&near=3,4", "lensType=%00", "near=0x1p4,1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := locator.ParseQuery(v)
		if err != nil {
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) == "" {
				t.Fatalf("error %v is not an invalid-field error", err)
			}
			if msg := errs.Message(err); len(raw) > 8 && strings.Contains(msg, raw) {
				t.Fatalf("error message quotes the input: %q", msg)
			}
			return
		}
		if math.IsNaN(q.Lat) || q.Lat < -90 || q.Lat > 90 || math.IsNaN(q.Lng) || q.Lng < -180 || q.Lng > 180 ||
			!(q.RadiusKm > 0 && q.RadiusKm <= locator.MaxRadiusKm) || q.Limit < 1 || q.Limit > locator.MaxLimit {
			t.Fatalf("accepted out-of-range query %+v", q)
		}
		if _, err := locator.Near(q.Lat, q.Lng, q.RadiusKm); err != nil {
			t.Fatalf("accepted query has no plan: %v", err)
		}
	})
}
