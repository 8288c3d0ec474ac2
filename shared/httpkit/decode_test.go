package httpkit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
)

type body struct {
	Name  string  `json:"name"`
	Count int     `json:"count"`
	Inner *body   `json:"inner,omitempty"`
	List  []body  `json:"list,omitempty"`
	Ratio float64 `json:"ratio"`
}

func TestUnmarshalStrict(t *testing.T) {
	for _, tc := range []struct {
		name, in, field string
		ok              bool
	}{
		{"valid", `{"name":"a","count":2}`, "", true},
		{"nested valid", `{"inner":{"name":"b"},"list":[{"name":"c"},{"name":"c"}]}`, "", true},
		{"same key in sibling objects", `{"list":[{"name":"x"},{"name":"y"}]}`, "", true},
		{"unknown field", `{"name":"a","colour":"red"}`, "colour", false},
		{"duplicate key", `{"name":"a","name":"b"}`, "name", false},
		{"duplicate nested key", `{"inner":{"count":1,"count":2}}`, "count", false},
		{"duplicate key in array element", `{"list":[{"ratio":1,"ratio":2}]}`, "ratio", false},
		{"trailing data", `{"name":"a"} {"name":"b"}`, "body", false},
		{"trailing garbage", `{"name":"a"}x`, "body", false},
		{"empty", ``, "body", false},
		{"wrong type", `{"count":"three"}`, "count", false},
		{"malformed", `{"name":`, "body", false},
		{"not an object", `[1,2]`, "", false},
		{"huge number", `{"count":1e400}`, "", false},
		{"surrogate pair", `{"name":"\ud83d\ude00"}`, "", true},
		{"replacement character sent as such", "{\"name\":\"\uFFFD \ufffd \\\\ud800\"}", "", true},
		{"lone high surrogate", `{"name":"Ad\ud800a"}`, "name", false},
		{"lone high surrogate at the end", `{"name":"Ada\uD800"}`, "name", false},
		{"high surrogate before a letter", `{"name":"\ud800\u0041"}`, "name", false},
		{"two high surrogates", `{"name":"\ud800\ud800"}`, "name", false},
		{"lone low surrogate", `{"name":"\udc00"}`, "name", false},
		{"lone surrogate nested", `{"inner":{"name":"\udfff"}}`, "inner.name", false},
		{"lone surrogate in an array", `{"list":[{"name":"ok"},{"name":"\udfff"}]}`, "list.name", false},
		{"lone surrogate in a key", `{"na\ud800me":"a"}`, "body", false},
		{"lone surrogate in a nested key", `{"inner":{"\ud800":"a"}}`, "inner", false},
		{"invalid UTF-8", "{\"name\":\"Ad\xffa\"}", "name", false},
		{"UTF-8 of a surrogate", "{\"name\":\"\xed\xa0\x80\"}", "name", false},
		{"truncated UTF-8", "{\"name\":\"\xc3\"}", "name", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b body
			err := UnmarshalStrict([]byte(tc.in), &b)
			if tc.ok {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("want Invalid error, got %v", err)
			}
			if tc.field != "" && errs.FieldOf(err) != tc.field {
				t.Fatalf("field = %q, want %q (err %v)", errs.FieldOf(err), tc.field, err)
			}
			if strings.Contains(err.Error(), "Ad") {
				t.Fatalf("the error repeats the value: %v", err)
			}
		})
	}
}

// A lone surrogate or bytes that are not UTF-8 are named for what they are.
func TestUnmarshalStrictTextMessages(t *testing.T) {
	for in, want := range map[string]string{
		`{"name":"\ud800"}`:      "name: contains a lone UTF-16 surrogate escape",
		"{\"name\":\"\xff\"}":    "name: is not valid UTF-8",
		`{"inner":{"\udc00":1}}`: "inner: a key contains a lone UTF-16 surrogate escape",
	} {
		var b body
		err := UnmarshalStrict([]byte(in), &b)
		if got := errs.Message(err); !strings.HasPrefix(got, want) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	deep := strings.Repeat(`{"inner":`, 100) + `{"name":"\ud800"}` + strings.Repeat(`}`, 100)
	var b body
	if f := errs.FieldOf(UnmarshalStrict([]byte(deep), &b)); len(f) > maxFieldPath+10 || !strings.HasSuffix(f, "...") {
		t.Errorf("deep field %q", f)
	}
}

func TestDecodeJSONLimitsAndContentType(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", MaxJSONBytes) + `"}`
	for _, tc := range []struct {
		name, ct, body string
		status         int
	}{
		{"too large", "application/json", big, 413},
		{"wrong content type", "text/plain", `{"name":"a"}`, 400},
		{"ok", "application/json; charset=utf-8", `{"name":"a"}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ct)
			var b body
			if err := DecodeJSON(rec, r, &b); err != nil {
				Error(rec, r, err)
			} else {
				rec.WriteHeader(200)
			}
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
		})
	}
}

func TestErrorWritesProblem(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		detail     string
		field      string
		retryAfter bool
	}{
		{errs.Field("scans.upload", "eye", "must be OD or OS"), 400, "eye: must be OD or OS", "eye", false},
		{errs.E("scans.upload", errs.Invalid, errs.Field("topo", "line 7", "expected 3 values")), 400, "line 7: expected 3 values", "line 7", false},
		{errs.Ef("scans.get", errs.NotFound, "scan not found"), 404, "scan not found", "", false},
		{errs.E("x", errs.Unavailable, nil), 503, "", "", true},
		{errs.Ef("db", errs.Other, "secret internal detail"), 500, "", "", false},
		{errs.Ef("auth", errs.Unauthenticated, "token expired"), 401, "token expired", "", false},
		{errs.Ef("auth", errs.Permission, "no"), 403, "no", "", false},
		{errs.Ef("idem", errs.Unprocessable, "reused"), 422, "reused", "", false},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			rec := httptest.NewRecorder()
			Error(rec, httptest.NewRequest("GET", "/", nil), tc.err)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != tc.status || p.Title != http.StatusText(tc.status) || p.Type == "" {
				t.Fatalf("problem %+v", p)
			}
			if tc.detail != "" && p.Detail != tc.detail {
				t.Fatalf("detail %q, want %q", p.Detail, tc.detail)
			}
			if p.Field != tc.field {
				t.Fatalf("field %q, want %q", p.Field, tc.field)
			}
			if strings.Contains(rec.Body.String(), "secret internal detail") {
				t.Fatal("internal error detail leaked to the client")
			}
			if (rec.Header().Get("Retry-After") != "") != tc.retryAfter {
				t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
			}
		})
	}
}
