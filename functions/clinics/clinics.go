// Package clinics is the Clinics function: the public locator that answers
// "which clinics supply these lenses near me?". It needs no token and shows
// only clinics that opted in.
//
//	GET /v1/clinics?near=LAT,LNG[&radiusKm=R][&limit=N][&lensType=scleral|orthok|rgp]
package clinics

import (
	"net/http"

	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/locator"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/platform"
	"github.com/lensflow/lensflow/shared/ports"
)

const routeSearch = "GET /v1/clinics"

func init() {
	platform.Register(platform.Function{Name: "Clinics", Routes: []platform.Route{
		{Pattern: routeSearch, Public: true, Query: []string{"near", "radiusKm", "limit", "lensType", paging.ParamSize, paging.ParamToken}},
	}, HTTP: New})
}

// Listing is a clinic as the public sees it.
type Listing struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Address    string   `json:"address"`
	City       string   `json:"city"`
	Postcode   string   `json:"postcode"`
	Country    string   `json:"country"`
	Phone      string   `json:"phone"`
	LensTypes  []string `json:"lensTypes"`
	DistanceKm float64  `json:"distanceKm"`
}

// New builds the function's handlers on app.
func New(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
	search := func(w http.ResponseWriter, r *http.Request) error {
		q, err := locator.ParseQuery(r.URL.Query())
		if err != nil {
			return err
		}
		scope := q.Scope()
		pos, err := paging.Request{Token: r.URL.Query().Get(paging.ParamToken)}.Start(scope)
		if err != nil {
			return err
		}
		q.After = pos.Cursor
		res, more, err := locator.SearchPage(r.Context(), app.Docs, q)
		if err != nil {
			return err
		}
		next := ""
		if more && len(res) > 0 {
			last := res[len(res)-1]
			next = paging.Token(scope, paging.Position{Cursor: &ports.Cursor{Value: last.DistanceKm, ID: last.ID}})
		}
		out := make([]Listing, 0, len(res))
		for _, c := range res {
			l := Listing{ID: c.ID, Name: c.Name, Address: c.Address, City: c.City, Postcode: c.Postcode,
				Country: c.Country, Phone: c.Phone, DistanceKm: c.DistanceKm}
			for _, t := range c.LensTypes {
				l.LensTypes = append(l.LensTypes, string(t))
			}
			out = append(out, l)
		}
		httpkit.JSON(w, http.StatusOK, paging.Body("clinics", out, next))
		return nil
	}
	return map[string]httpkit.HandlerFunc{routeSearch: search}, nil
}
