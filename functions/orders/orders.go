// Package orders is the Orders function: a clinic orders a design version
// and follows the order's status and timeline.
//
//	POST /v1/orders        {"designId", "quantity", "notes"}   (Idempotency-Key)
//	GET  /v1/orders/{orderId}
//	POST /v1/orders/{orderId}/assessments   an aftercare visit, one assessment per visit (below); outcome "adjust" revises the design (Idempotency-Key)
//	GET  /v1/orders/{orderId}/assessments
//	GET  /v1/orders        the clinic's orders, newest first
//	GET  /v1/follow-ups    the clinic's aftercare visits not yet recorded, oldest dispatch first, each order's soonest first
//	POST /v1/orders/{orderId}/comments      {"text"}: the clinic's practitioners or lab staff (Idempotency-Key)
//	GET  /v1/orders/{orderId}/comments      the order's conversation, oldest first
//
// The lists page (AIP-158, package paging): pageSize, pageToken, and
// nextPageToken beside the list.
//
// Assessments: one per visit. The body is an aftercare assessment
// (visitKey, visualAcuity, overRefraction, ..., comfort, outcome) and,
// to correct a visit already recorded, "supersedes": the id of the
// visit's current assessment. A visit is its visitKey ("week-1"); an
// "unscheduled" visit is the unscheduled visit of the UTC day it is
// recorded on, and one of an earlier day is corrected by superseding its
// assessment. For a visit already recorded:
//
//   - the same assessment again (a retry without an Idempotency-Key, a
//     double click) changes nothing: 201 with the recorded assessment,
//     its Location and Idempotent-Replayed: true (audited as a replay);
//   - a different one is 409, problem+json with field "visitKey" naming
//     the visit and its assessment's id;
//   - with "supersedes": that id, it replaces it (201, audited as
//     assessment.supersede): the earlier is kept, marked supersededBy,
//     and an adjustment is computed again from the design the visit
//     found (fromDesignId), never on top of the one it replaces; a
//     "continue" that supersedes an "adjust" makes that design current
//     again as a new version. A supersedes that is not the visit's
//     current assessment is 409 naming the current one, one that names no
//     assessment of the visit is 400, and superseding after a later visit
//     revised the design is 409 (record the change at a later visit).
package orders

import (
	"net/http"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/platform"
)

const (
	routePlace  = "POST /v1/orders"
	routeGet    = "GET /v1/orders/{orderId}"
	routeAssess = "POST /v1/orders/{orderId}/assessments"
	routeVisits = "GET /v1/orders/{orderId}/assessments"
	routeList   = "GET /v1/orders"
	routeFollow = "GET /v1/follow-ups"
	routeNote   = "POST /v1/orders/{orderId}/comments"
	routeThread = "GET /v1/orders/{orderId}/comments"
)

// practitioners are the callers of a clinic's orders; an order's
// conversation is its clinic's practitioners' and lab staff's.
var (
	practitioners = []auth.Role{auth.RolePractitioner}
	conversation  = []auth.Role{auth.RolePractitioner, auth.RoleLab}
)

func init() {
	platform.Register(platform.Function{Name: "Orders", Routes: []platform.Route{
		{Pattern: routePlace, Roles: practitioners, Creates: true},
		{Pattern: routeGet, Roles: practitioners},
		{Pattern: routeAssess, Roles: practitioners, Creates: true},
		{Pattern: routeVisits, Roles: practitioners, Query: paging.Params},
		{Pattern: routeList, Roles: practitioners, Query: paging.Params},
		{Pattern: routeFollow, Roles: practitioners, Query: paging.Params},
		{Pattern: routeNote, Roles: conversation, Creates: true},
		{Pattern: routeThread, Roles: conversation, Query: paging.Params},
	}, HTTP: New})
}

// New builds the function's handlers on app.
func New(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
	svc := bootstrap.OrderService(app)
	place := func(w http.ResponseWriter, r *http.Request) error {
		var in orders.PlaceInput
		if err := httpkit.DecodeJSON(w, r, &in); err != nil {
			return err
		}
		in.OrderID, _ = httpkit.ResourceID(r.Context())
		o, err := svc.Place(r.Context(), httpkit.Actor(r), in)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/v1/orders/"+o.ID)
		o.SealedNotes = nil // the notes are answered in clear to their author, never as ciphertext
		httpkit.JSON(w, http.StatusCreated, orders.OrderView{Order: o, Notes: in.Notes})
		return nil
	}
	get := func(w http.ResponseWriter, r *http.Request) error {
		o, err := svc.Get(r.Context(), httpkit.Actor(r), r.PathValue("orderId"))
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, o)
		return nil
	}
	assess := func(w http.ResponseWriter, r *http.Request) error {
		body, err := httpkit.ReadBody(w, r, httpkit.MaxJSONBytes)
		if err != nil {
			return err
		}
		var in orders.AssessInput
		if err := httpkit.UnmarshalStrict(body, &in); err != nil {
			return err
		}
		id, _ := httpkit.ResourceID(r.Context())
		v, err := svc.Assess(r.Context(), httpkit.Actor(r), r.PathValue("orderId"), id, in)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/v1/orders/"+v.OrderID+"/assessments/"+v.ID)
		if v.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		httpkit.JSON(w, http.StatusCreated, v)
		return nil
	}
	visits := func(w http.ResponseWriter, r *http.Request) error {
		pr, err := paging.FromQuery(r.URL.Query())
		if err != nil {
			return err
		}
		vs, next, err := svc.Assessments(r.Context(), httpkit.Actor(r), r.PathValue("orderId"), pr)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, paging.Body("assessments", vs, next))
		return nil
	}
	list := func(w http.ResponseWriter, r *http.Request) error {
		pr, err := paging.FromQuery(r.URL.Query())
		if err != nil {
			return err
		}
		page, next, err := svc.List(r.Context(), httpkit.Actor(r), pr)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, paging.Body("orders", page, next))
		return nil
	}
	followUps := func(w http.ResponseWriter, r *http.Request) error {
		pr, err := paging.FromQuery(r.URL.Query())
		if err != nil {
			return err
		}
		fs, next, err := svc.FollowUps(r.Context(), httpkit.Actor(r), svc.Now(), pr)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, paging.Body("followUps", fs, next))
		return nil
	}
	note := func(w http.ResponseWriter, r *http.Request) error {
		var in orders.CommentInput
		if err := httpkit.DecodeJSON(w, r, &in); err != nil {
			return err
		}
		id, _ := httpkit.ResourceID(r.Context())
		c, err := svc.PostComment(r.Context(), httpkit.Actor(r), r.PathValue("orderId"), id, in)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/v1/orders/"+c.OrderID+"/comments")
		httpkit.JSON(w, http.StatusCreated, c)
		return nil
	}
	thread := func(w http.ResponseWriter, r *http.Request) error {
		pr, err := paging.FromQuery(r.URL.Query())
		if err != nil {
			return err
		}
		cs, next, err := svc.Comments(r.Context(), httpkit.Actor(r), r.PathValue("orderId"), pr)
		if err != nil {
			return err
		}
		httpkit.JSON(w, http.StatusOK, paging.Body("comments", cs, next))
		return nil
	}
	return map[string]httpkit.HandlerFunc{routePlace: place, routeGet: get, routeAssess: assess, routeVisits: visits,
		routeList: list, routeFollow: followUps, routeNote: note, routeThread: thread}, nil
}
