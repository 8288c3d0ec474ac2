package httpkit

import "net/http"

// HandlerFunc is a route's handler that returns its error instead of
// answering it: ServeHTTP answers a non-nil error with Error (problem+json,
// its status from the error's kind), so a handler decodes, calls the
// service and encodes, and ends any failure with return err. A handler
// returns an error only before it has begun its answer; once it has
// written, it answers whatever follows itself (a failed write of the body
// is the client's to notice).
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f and answers its error.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		Error(w, r, err)
	}
}
