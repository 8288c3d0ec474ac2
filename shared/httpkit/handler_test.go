package httpkit_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
)

// TestHandlerFuncAnswersItsError: a returned error is answered once, as
// problem+json with the status of its kind and the field it names; a nil
// error leaves the handler's own answer alone.
func TestHandlerFuncAnswersItsError(t *testing.T) {
	for _, tc := range []struct {
		name        string
		h           httpkit.HandlerFunc
		status      int
		contentType string
		field       string
	}{
		{"answered", func(w http.ResponseWriter, r *http.Request) error {
			httpkit.JSON(w, http.StatusCreated, map[string]string{"id": "x"})
			return nil
		}, 201, "application/json", ""},
		{"invalid input", func(w http.ResponseWriter, r *http.Request) error {
			return errs.Field("things.create", "quantity", "must be 1 to 10")
		}, 400, "application/problem+json", "quantity"},
		{"not found", func(w http.ResponseWriter, r *http.Request) error {
			return errs.Ef("things.get", errs.NotFound, "thing not found")
		}, 404, "application/problem+json", ""},
		{"unclassified", func(w http.ResponseWriter, r *http.Request) error {
			return errs.Ef("things.get", errs.Other, "the store said no")
		}, 500, "application/problem+json", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/things", nil))
			var p httpkit.Problem
			if rec.Code != tc.status || rec.Header().Get("Content-Type") != tc.contentType {
				t.Fatalf("%d %s %s, want %d %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body, tc.status, tc.contentType)
			}
			if tc.contentType != "application/problem+json" {
				return
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != tc.status || p.Field != tc.field {
				t.Fatalf("problem %+v (%v), want status %d naming %q", p, err, tc.status, tc.field)
			}
			if tc.status == 500 && p.Detail == "the store said no" {
				t.Fatal("a server error's cause reached the client")
			}
		})
	}
}
