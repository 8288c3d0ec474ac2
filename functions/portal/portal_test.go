package portal

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/eventschema"
	"github.com/lensflow/lensflow/shared/platform"
)

// serve mounts the function as the platform does and answers one GET.
func get(t *testing.T, cfg bootstrap.Config, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	f, ok := platform.Lookup("Portal")
	if !ok {
		t.Fatal("Portal is not registered")
	}
	h, err := platform.Handler(&bootstrap.App{Config: cfg, Log: slog.New(slog.DiscardHandler)}, f)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var local = bootstrap.Config{AuthIssuers: []string{"dev"}, MaxInFlight: 8, RateLimit: 100, RateBurst: 100}

func TestFiles(t *testing.T) {
	for _, tc := range []struct {
		path, status, contentType, contains string
	}{
		{"/portal/", "200", "text/html; charset=utf-8", "<script type=\"module\" src=\"app.js\">"},
		{"/portal/index.html", "200", "text/html; charset=utf-8", "clinic portal"},
		{"/portal/app.js", "200", "text/javascript; charset=utf-8", "signInWithPassword"},
		{"/portal/labels.js", "200", "text/javascript; charset=utf-8", "Back optic zone radius"},
		{"/portal/app.css", "200", "text/css; charset=utf-8", ":focus-visible"},
		{"/portal/config.json", "200", "application/json", `"mode":"local"`},
		{"/portal/api.html", "200", "text/html; charset=utf-8", "<script type=\"module\" src=\"api.js\">"},
		{"/portal/api.js", "200", "text/javascript; charset=utf-8", "fetch('openapi.json'"},
		{"/portal/openapi.json", "200", "application/json", `"openapi": "3.1.0"`},
		{"/portal/missing.js", "404", "application/problem+json", ""},
		{"/portal/static/app.js", "404", "application/problem+json", ""},
		{"/portal/portal.go", "404", "application/problem+json", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := get(t, local, tc.path)
			if got := rec.Code; http.StatusText(got) == "" || strings.TrimSpace(tc.status) != itoa(got) {
				t.Fatalf("status %d, want %s: %s", got, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if rec.Code != 200 {
				return
			}
			csp := rec.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "identitytoolkit") {
				t.Errorf("CSP %q is not strict for local mode", csp)
			}
			for h, want := range map[string]string{"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if got := rec.Header().Get(h); got != want {
					t.Errorf("%s %q, want %q", h, got, want)
				}
			}
			if rec.Header().Get("ETag") == "" {
				t.Error("no ETag")
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestRevalidation(t *testing.T) {
	first := get(t, local, "/portal/app.js")
	etag := first.Header().Get("ETag")
	if again := get(t, local, "/portal/app.js", "If-None-Match", etag); again.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match %s: %d, want 304", etag, again.Code)
	}
}

func TestConfig(t *testing.T) {
	gcp := bootstrap.Config{AuthIssuers: []string{"identity-platform", "google-oidc"}, Project: "lensflow-prod", IdentityAPIKey: "AIza-test",
		MaxInFlight: 8, RateLimit: 100, RateBurst: 100}
	for _, tc := range []struct {
		name    string
		cfg     bootstrap.Config
		want    Config
		connect string
	}{
		{"local", local, Config{Mode: "local"}, "connect-src 'self';"},
		{"gcp", gcp, Config{Mode: "identity-platform", APIKey: "AIza-test", Project: "lensflow-prod"}, "connect-src 'self' https://identitytoolkit.googleapis.com;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, tc.cfg, "/portal/config.json")
			var got Config
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got != tc.want {
				t.Fatalf("config %s (%v), want %+v", rec.Body, err, tc.want)
			}
			if csp := get(t, tc.cfg, "/portal/").Header().Get("Content-Security-Policy"); !strings.Contains(csp, tc.connect) {
				t.Errorf("CSP %q lacks %q", csp, tc.connect)
			}
		})
	}
}

// TestNoInlineCodeOrCDN checks the page keeps to its CSP: no inline
// scripts, styles or event handlers, nothing loaded from another origin.
func TestNoInlineCodeOrCDN(t *testing.T) {
	inline := []*regexp.Regexp{
		regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`),                              // a script element with content
		regexp.MustCompile(`<script(?:(?:\s+(?:type|async|defer)(?:="[^"]*")?)*)\s*>`), // a script without src
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\son[a-z]+\s*=`),
		regexp.MustCompile(`\sstyle\s*=`),
		regexp.MustCompile(`javascript:`),
	}
	external := regexp.MustCompile(`(?:src|href)\s*=\s*["']?(?:https?:)?//|@import|url\(\s*["']?(?:https?:)?//|import\s+[^;]*from\s+["']https?:`)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		s := string(b)
		if strings.HasSuffix(p, ".html") {
			for _, re := range inline {
				if m := re.FindString(s); m != "" {
					t.Errorf("%s: inline code %q (the CSP forbids it)", p, m)
				}
			}
		}
		if m := external.FindString(s); m != "" {
			t.Errorf("%s: loads %q from another origin", p, m)
		}
		for _, u := range regexp.MustCompile(`https?://[^\s'"`+"`"+`)]+`).FindAllString(s, -1) {
			if !strings.HasPrefix(u, identityToolkit+"/") {
				t.Errorf("%s: refers to %s: everything is served by us", p, u)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoMarkupFromStrings checks the page builds its DOM from text only:
// API data (a comment's text, a patient's name) can never become markup.
func TestNoMarkupFromStrings(t *testing.T) {
	sinks := regexp.MustCompile(`\.(?:inner|outer)HTML\b|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment|\beval\(|new Function\(`)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		for _, m := range sinks.FindAllString(string(b), -1) {
			t.Errorf("%s: uses %s: build nodes with el() and text instead", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEventSchemas: the portal serves the JSON Schema of every event type
// where the events' dataschema points (bootstrap), and nothing else there.
func TestEventSchemas(t *testing.T) {
	for _, typ := range eventschema.Types() {
		rec := get(t, bootstrap.Config{}, "/portal"+eventschema.Path+typ+".json")
		var s struct {
			ID string `json:"$id"`
		}
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/schema+json" ||
			json.Unmarshal(rec.Body.Bytes(), &s) != nil || s.ID != eventschema.ID(typ) {
			t.Errorf("GET %s schema: %d %s %.80s", typ, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	}
	for _, p := range []string{"com.lensflow.never.heard.v1.json", "com.lensflow.scan.received.v1", "", "..%2Fapp.js"} {
		if rec := get(t, bootstrap.Config{}, "/portal"+eventschema.Path+p); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, rec.Code)
		}
	}
}
