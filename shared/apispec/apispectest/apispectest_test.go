package apispectest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/apispec"
)

// TestCheckerCatchesMismatches plants the mistakes the end-to-end check
// exists to catch, each answered by a fake server through the transport:
// an undeclared status, a field of the wrong type, a missing required
// field and header, and an error that is not problem+json. A conforming
// answer, another server's answer and an unknown route pass.
func TestCheckerCatchesMismatches(t *testing.T) {
	c, err := New(apispec.JSON)
	if err != nil {
		t.Fatal(err)
	}
	scan := `{"id":"s1","status":"designed","patientId":"p1","eye":"OD","lensType":"rgp","format":"xyz-csv","points":10,` +
		`"receivedAt":"2026-03-02T10:00:00Z","links":{"self":"/v1/scans/s1","design":"/v1/scans/s1/design","patient":"/v1/patients/p1"}}`
	for _, tc := range []struct {
		name, path, ct, body string
		status               int
		header               map[string]string
		want                 string // "" for no failure
	}{
		{"conforming", "/v1/scans/s1", "application/json", scan, 200, nil, ""},
		{"undeclared status", "/v1/scans/s1", "application/problem+json", `{"type":"x","title":"I'm a teapot","status":418}`, 418, nil,
			"getScan (GET /v1/scans/{scanId}) answered 418"},
		{"wrong field type", "/v1/scans/s1", "application/json", strings.Replace(scan, `"points":10`, `"points":"ten"`, 1), 200, nil,
			"getScan (GET /v1/scans/{scanId}) answered 200"},
		{"missing field", "/v1/scans/s1", "application/json", strings.Replace(scan, `"status":"designed",`, ``, 1), 200, nil, "status"},
		{"503 without Retry-After", "/v1/scans/s1", "application/problem+json", `{"type":"x","title":"Service Unavailable","status":503}`, 503, nil, "Retry-After"},
		{"problem with a stray member", "/v1/scans/s1", "application/problem+json", `{"type":"x","title":"Not Found","status":404,"scanId":"s1"}`, 404, nil,
			"getScan (GET /v1/scans/{scanId}) answered 404"},
		{"unknown route", "/v1/nothing", "application/problem+json", `{"type":"x","title":"Not Found","status":404}`, 404, nil, ""},
		{"another server", "/hook", "text/plain", "ok", 200, map[string]string{"X-Request-Id": ""}, ""},
		{"undescribed route of ours", "/v1/secret", "application/json", `{}`, 200, nil, "describes no such operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Request-Id", "r1")
				for k, v := range tc.header {
					if v == "" {
						w.Header().Del(k)
					} else {
						w.Header().Set(k, v)
					}
				}
				w.Header().Set("Content-Type", tc.ct)
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			before := len(c.Failures())
			hc := &http.Client{Transport: c.Transport(nil)}
			resp, err := hc.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != tc.body {
				t.Fatalf("the transport changed the body: %q", got)
			}
			fs := c.Failures()[before:]
			switch {
			case tc.want == "" && len(fs) > 0:
				t.Fatalf("a conforming exchange failed: %v", fs)
			case tc.want != "" && (len(fs) != 1 || !strings.Contains(fs[0], tc.want)):
				t.Fatalf("failures %q, want one naming %q", fs, tc.want)
			}
		})
	}
}
