// Package portal is the Portal function: the clinic portal's static page
// (HTML, two ES modules, the page and its labels table, and one
// stylesheet, embedded in the binary) and its sign-in configuration. Everything it serves is public and holds no
// patient data; the page calls the API with the signed-in user's token.
//
//	GET /portal/              the page (index.html)
//	GET /portal/{file...}     app.js, app.css, ...
//	GET /portal/config.json   {"mode":"local"} or {"mode":"identity-platform","apiKey":...,"project":...}
//	GET /portal/schemas/events/<type>.json   the JSON Schema an event's dataschema names (package eventschema)
//	GET /portal/api.html      the API reference, rendered by api.js from /portal/openapi.json (package apispec)
package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/lensflow/lensflow/shared/apispec"
	"github.com/lensflow/lensflow/shared/bootstrap"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventschema"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/platform"
)

const (
	routeFiles  = "GET /portal/{file...}"
	routeConfig = "GET /portal/config.json"
	routeSchema = "GET /portal/schemas/events/{schema}"
)

// identityToolkit is the origin of the Identity Platform REST API the page
// signs in with (accounts:signInWithPassword).
const identityToolkit = "https://identitytoolkit.googleapis.com"

//go:embed static
var static embed.FS

func init() {
	platform.Register(platform.Function{Name: "Portal", Routes: []platform.Route{
		{Pattern: routeFiles, Public: true},
		{Pattern: routeConfig, Public: true},
		{Pattern: routeSchema, Public: true},
	}, HTTP: New})
}

// Config is what the page needs to sign a user in.
type Config struct {
	Mode    string `json:"mode"`              // "local" (development tokens) or "identity-platform"
	APIKey  string `json:"apiKey,omitempty"`  // Identity Platform web API key
	Project string `json:"project,omitempty"` // Google Cloud project
}

// ConfigOf derives the page's sign-in configuration from the app's: local
// when the development issuer is configured.
func ConfigOf(c bootstrap.Config) Config {
	if slices.Contains(c.AuthIssuers, "dev") {
		return Config{Mode: "local"}
	}
	return Config{Mode: "identity-platform", APIKey: c.IdentityAPIKey, Project: c.Project}
}

// contentTypes are the only kinds of file served; anything else is 404.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
}

// CSP is the Content-Security-Policy of every response: only our own
// scripts, styles and images, no inline code, no framing, and API calls
// only to us (and, in identity-platform mode, the sign-in endpoint).
func CSP(mode string) string {
	connect := "'self'"
	if mode == "identity-platform" {
		connect += " " + identityToolkit
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"connect-src " + connect + "; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// asset is one embedded file, with its validator.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// New builds the function's handlers on app.
func New(app *bootstrap.App) (map[string]httpkit.HandlerFunc, error) {
	cfg := ConfigOf(app.Config)
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	assets, err := load(static)
	if err != nil {
		return nil, err
	}
	assets["config.json"] = newAsset(cfgJSON, contentTypes[".json"])
	// The events' data schemas, which every event's dataschema names
	// (bootstrap: <public URL>/portal/schemas/events/<type>.json).
	for _, t := range eventschema.Types() {
		b, _ := eventschema.File(t)
		assets[strings.TrimPrefix(eventschema.Path, "/")+t+".json"] = newAsset(b, "application/schema+json")
	}
	// The API's OpenAPI description, which api.html renders.
	assets["openapi.json"] = newAsset(apispec.JSON, contentTypes[".json"])
	csp := CSP(cfg.Mode)
	files := func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("file")
		if name == "" {
			name = "index.html"
		}
		a, ok := assets[name]
		if !ok {
			return errs.Ef("portal", errs.NotFound, "no such file")
		}
		serve(w, r, a, csp)
		return nil
	}
	config := func(w http.ResponseWriter, r *http.Request) error {
		serve(w, r, assets["config.json"], csp)
		return nil
	}
	schema := func(w http.ResponseWriter, r *http.Request) error {
		a, ok := assets[strings.TrimPrefix(eventschema.Path, "/")+r.PathValue("schema")]
		if !ok {
			return errs.Ef("portal", errs.NotFound, "no such event schema")
		}
		serve(w, r, a, csp)
		return nil
	}
	return map[string]httpkit.HandlerFunc{routeFiles: files, routeConfig: config, routeSchema: schema}, nil
}

// load reads every servable file under static/, keyed by its path below it.
func load(fsys fs.FS) (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, "static/")] = newAsset(b, ct)
		return nil
	})
	return out, err
}

func newAsset(b []byte, ct string) asset {
	sum := sha256.Sum256(b)
	return asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// serve writes a with its security headers. Files are not fingerprinted, so
// browsers revalidate every time (cheap: 304 on a matching ETag) and a
// deploy never mixes an old script with a new page.
func serve(w http.ResponseWriter, r *http.Request, a asset, csp string) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
