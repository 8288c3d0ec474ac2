package httpkit

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// QueryRule is what a route accepts in its query string. Every route
// refuses a parameter given more than once (eye=OD&eye=OS: which one did
// the client mean?) and a query string that does not parse (a bad
// %-escape, a semicolon), which net/http would otherwise drop without a
// word. A strict route also refuses any parameter not in Allowed, so that
// a misspelt option (lenstype=orthok) is an error rather than a default.
type QueryRule struct {
	Allowed []string // the parameters the route reads
	Strict  bool     // refuse parameters not in Allowed
}

// Check applies the rule to a raw query string. Errors are errs.Invalid
// naming the parameter ("query" for a string that does not parse) and never
// repeat a value.
func (q QueryRule) Check(rawQuery string) error {
	const op = "query"
	if rawQuery == "" {
		return nil
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errs.Field(op, "query", "malformed query string (a bad %%-escape or a ';')")
	}
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		switch {
		case q.Strict && !slices.Contains(q.Allowed, name):
			takes := "none"
			if len(q.Allowed) > 0 {
				takes = strings.Join(q.Allowed, ", ")
			}
			return errs.Field(op, queryName(name), "unknown query parameter (this route takes %s)", takes)
		case len(vals[name]) > 1:
			return errs.Field(op, queryName(name), "given more than once")
		}
	}
	return nil
}

// Wrap refuses requests that break the rule (400) before next sees them.
func (q QueryRule) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := q.Check(r.URL.RawQuery); err != nil {
			Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// queryName is a client's parameter name fit to quote back: valid UTF-8,
// at most 64 bytes.
func queryName(name string) string {
	return shortKey(strings.ToValidUTF8(name, "\uFFFD"))
}
