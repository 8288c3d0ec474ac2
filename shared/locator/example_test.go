package locator_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/locator"
)

func ExampleEncode() {
	h, _ := locator.Encode(57.64911, 10.40744, 11)
	n, _ := locator.Neighbours("u4pr")
	fmt.Println(h)
	fmt.Println(n[locator.North], n[locator.East], n[locator.South], n[locator.West])
	// Output:
	// u4pruydqqvj
	// u4r2 u4px u4pq u4pp
}

func ExampleHaversine() {
	fmt.Printf("%.0f km\n", locator.Haversine(51.5074, -0.1278, 48.8566, 2.3522)) // London to Paris
	// Output: 344 km
}

func ExampleNear() {
	plan, _ := locator.Near(51.5074, -0.1278, 25)
	fmt.Println("precision", plan.Precision, "ranges", len(plan.Ranges))
	for _, q := range plan.Queries(locator.Collection)[:1] {
		fmt.Println(q.Collection, q.Where[0].Field, q.Where[0].Op, q.Where[0].Value, q.Where[1].Op, q.Where[1].Value)
	}
	// Output:
	// precision 4 ranges 7
	// clinics geohash >= gcpe < gcpf
}

func ExampleParseQuery() {
	v, _ := url.ParseQuery("near=51.539,-0.1426&radiusKm=5&lensType=scleral")
	q, err := locator.ParseQuery(v)
	fmt.Printf("%+v %v\n", q, err)

	v, _ = url.ParseQuery("near=NaN,0")
	_, err = locator.ParseQuery(v)
	fmt.Println(err)
	// Output:
	// {Lat:51.539 Lng:-0.1426 RadiusKm:5 Limit:10 LensType:scleral After:<nil>} <nil>
	// locator.ParseQuery: near: latitude must be a finite decimal number
}

func ExampleSearch() {
	dir, _ := os.MkdirTemp("", "locator")
	defer os.RemoveAll(dir)
	docs, err := boltdocs.Open(filepath.Join(dir, "d.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer docs.Close()
	ctx := context.Background()
	if _, err := locator.Seed(ctx, docs, locator.DemoClinics()); err != nil {
		fmt.Println(err)
		return
	}
	found, err := locator.Search(ctx, docs, locator.Query{Lat: 51.5074, Lng: -0.1278, RadiusKm: 5, Limit: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range found {
		fmt.Printf("%s (%s) %.1f km\n", r.Name, r.Phone, r.DistanceKm)
	}
	// Output:
	// Marylebone Scleral Centre (+44 20 7946 0103) 2.0 km
	// Upper Street Optometry (+44 20 7946 0104) 3.6 km
	// North Demo Contact Lens Clinic (+44 20 7946 0101) 3.7 km
}
