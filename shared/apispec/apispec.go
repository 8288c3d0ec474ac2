// Package apispec holds lensflow's HTTP contract: the OpenAPI 3.1
// description of every route (openapi.json beside this file, embedded),
// reviewed like code. The local stack serves it at /openapi.json and the
// portal at /portal/openapi.json, where /portal/api.html renders it.
//
// The tests keep it honest: apispec_test validates the document as OpenAPI
// 3.1; scripts/internal/allfunctions compares it with every registered route
// (method, path, roles, creating, query parameters); and the end-to-end
// tests of scripts/local validate every response they receive against it
// (package apispectest).
package apispec

import (
	_ "embed"
	"net/http"
)

// JSON is the OpenAPI 3.1 document.
//
//go:embed openapi.json
var JSON []byte

// Handler serves the document as application/json.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(JSON)
	})
}
