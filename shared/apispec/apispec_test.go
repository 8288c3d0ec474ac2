package apispec_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/lensflow/lensflow/shared/apispec"
)

// TestDocumentIsValidOpenAPI31 validates the committed document against the
// OpenAPI 3.1 specification's own schema (libopenapi-validator).
func TestDocumentIsValidOpenAPI31(t *testing.T) {
	doc, err := libopenapi.NewDocument(apispec.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, s := range e.SchemaValidationErrors {
				t.Errorf("  at %s: %s", s.FieldPath, s.Reason)
			}
		}
	}
}

// operation is what the checks below read of an operation.
type operation struct {
	OperationID string                `json:"operationId"`
	Security    []map[string][]string `json:"security"`
	Roles       *[]string             `json:"x-lensflow-roles"`
	Responses   map[string]any        `json:"responses"`
}

// TestOperationsNameTheirRoles: every operation has a unique operationId and
// names its roles twice, consistently: in x-lensflow-roles and as one
// security requirement per role (clinicToken, labToken, serviceToken), or
// none for a public one; a restricted operation declares 401, 403 and 429.
func TestOperationsNameTheirRoles(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]operation `json:"paths"`
	}
	if err := json.Unmarshal(apispec.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	scheme := map[string]string{"practitioner": "clinicToken", "lab": "labToken", "service": "serviceToken"}
	ids := map[string]string{}
	for p, item := range doc.Paths {
		for method, o := range item {
			where := method + " " + p
			if o.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[o.OperationID]; dup {
				t.Errorf("%s and %s share operationId %s", where, other, o.OperationID)
			}
			ids[o.OperationID] = where
			if o.Roles == nil || o.Security == nil {
				t.Errorf("%s: needs both x-lensflow-roles and security (empty for a public operation)", where)
				continue
			}
			var want []map[string][]string
			for _, r := range *o.Roles {
				if scheme[r] == "" {
					t.Errorf("%s: unknown role %q", where, r)
				}
				want = append(want, map[string][]string{scheme[r]: {}})
			}
			if len(want) != len(o.Security) || !slices.EqualFunc(want, o.Security, func(a, b map[string][]string) bool {
				for k := range a {
					if _, ok := b[k]; !ok || len(b) != 1 {
						return false
					}
				}
				return true
			}) {
				t.Errorf("%s: security %v does not match roles %v", where, o.Security, *o.Roles)
			}
			for _, status := range []string{"401", "403", "429"} {
				if _, ok := o.Responses[status]; (len(*o.Roles) > 0) != ok {
					t.Errorf("%s: roles %v, yet response %s declared: %v", where, *o.Roles, status, ok)
				}
			}
		}
	}
}

// TestHandlerServesTheDocument: what /openapi.json answers is the document.
func TestHandlerServesTheDocument(t *testing.T) {
	rec := httptest.NewRecorder()
	apispec.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != string(apispec.JSON) {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}
