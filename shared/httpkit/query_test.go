package httpkit_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
)

func TestQueryRule(t *testing.T) {
	upload := httpkit.QueryRule{Allowed: []string{"eye", "lensType"}, Strict: true}
	none := httpkit.QueryRule{Strict: true}
	lax := httpkit.QueryRule{Allowed: []string{"status"}}
	for _, tc := range []struct {
		name  string
		rule  httpkit.QueryRule
		query string
		field string // "" when accepted
		msg   string
	}{
		{"declared", upload, "eye=OD&lensType=rgp", "", ""},
		{"none given", upload, "", "", ""},
		{"empty value", upload, "eye=", "", ""},
		{"repeated", upload, "eye=OD&eye=OS", "eye", "eye: given more than once"},
		{"repeated with the same value", upload, "eye=OD&lensType=rgp&eye=OD", "eye", "given more than once"},
		{"unknown", upload, "eye=OD&lenstype=rgp", "lenstype", "lenstype: unknown query parameter (this route takes eye, lensType)"},
		{"unknown on a route that takes none", none, "x=1", "x", "unknown query parameter (this route takes none)"},
		{"empty name", none, "=1", `""`, "unknown query parameter"},
		{"bad escape", upload, "eye=OD%zz", "query", "malformed query string"},
		{"semicolon", upload, "eye=OD;lensType=rgp", "query", "malformed query string"},
		{"lax route ignores unknown", lax, "status=queued&cacheBust=1", "", ""},
		{"lax route refuses repeats", lax, "status=queued&status=cutting", "status", "given more than once"},
		{"long name", none, strings.Repeat("n", 300) + "=1", strings.Repeat("n", 64) + "...", "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rule.Check(tc.query)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != tc.field || !strings.Contains(errs.Message(err), tc.msg) {
				t.Fatalf("got %v (field %q), want field %q saying %q", err, errs.FieldOf(err), tc.field, tc.msg)
			}
			if strings.Contains(errs.Message(err), "OD") || strings.Contains(errs.Message(err), "zz") {
				t.Fatalf("the error repeats a value: %v", err)
			}
		})
	}
}

func TestQueryRuleWrap(t *testing.T) {
	called := false
	h := httpkit.QueryRule{Allowed: []string{"eye"}, Strict: true}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		w.WriteHeader(http.StatusCreated)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/x?eye=OD&eye=OS", nil))
	var p httpkit.Problem
	if rec.Code != 400 || called || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Field != "eye" ||
		rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/x?eye=OD", nil))
	if rec.Code != 201 || !called {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
