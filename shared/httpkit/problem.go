// Package httpkit is lensflow's HTTP toolkit: RFC 9457 problem responses,
// strict JSON decoding, body limits, authentication and role checks, request
// logging with trace ids, and Idempotency-Key handling for creating POSTs.
//
// Error kinds (package errs) map to HTTP statuses here and nowhere else.
package httpkit

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/lensflow/lensflow/shared/errs"
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
	// RequestID lets a clinic quote the failing request to support.
	RequestID string `json:"requestId,omitempty"`
}

// StatusOf maps an error kind to an HTTP status.
func StatusOf(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, ErrBodyTimeout) {
		return http.StatusRequestTimeout
	}
	switch errs.KindOf(err) {
	case errs.Invalid:
		return http.StatusBadRequest
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Exists, errs.Conflict:
		return http.StatusConflict
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	case errs.Permission:
		return http.StatusForbidden
	case errs.Unauthenticated:
		return http.StatusUnauthorized
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.Unprocessable:
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

var problemTypes = map[int]string{
	400: "invalid-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
	405: "method-not-allowed", 408: "request-timeout", 409: "conflict", 413: "too-large", 415: "unsupported-media-type",
	422: "unprocessable", 429: "rate-limited", 500: "internal", 503: "unavailable",
}

// Error writes err as a problem+json response. The detail of client errors
// (4xx) is the error's own message, which by convention names the field or
// line and never contains PHI; server errors get a generic detail and the
// cause is logged with the request's trace.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	p := Problem{Status: status, Title: http.StatusText(status), RequestID: RequestID(r.Context())}
	p.Type = "https://lensflow.dev/problems/" + problemTypes[status]
	if problemTypes[status] == "" {
		p.Type = "about:blank"
	}
	switch {
	case status == http.StatusRequestEntityTooLarge:
		p.Detail = "request body too large"
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			p.Detail += " (limit " + strconv.FormatInt(mbe.Limit, 10) + " bytes)"
		} else if errs.Is(errs.TooLarge, err) {
			p.Detail = errs.Message(err) // which limit: bytes, points
		}
	case status >= 500:
		p.Detail = "the request could not be completed; quote the request id when reporting it"
		Logger(r.Context()).ErrorContext(r.Context(), "request failed", "error", err.Error(), "kind", errs.KindOf(err).String())
	default:
		p.Detail = errs.Message(err)
		p.Field = errs.FieldOf(err)
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lensflow"`)
	}
	WriteProblem(w, p)
}

// WriteProblem writes p.
func WriteProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// JSON writes v as a JSON response with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Logger returns the request's logger (set by Serve), or slog.Default.
func Logger(ctx interface{ Value(any) any }) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
