// Package kinds decides, once for all of lensflow, the errs.Kind of a
// failure a backend reports: one table for gRPC status codes (Firestore,
// Pub/Sub, Cloud Storage's gRPC API), one for HTTP statuses (Google's JSON
// APIs: Cloud Storage, Cloud KMS), and one rule each for context and
// transport errors. Every adapter classifies its client's errors with Of. An
// adapter that gives one answer a different meaning for one call says so at
// that call (a failed does-not-exist precondition on a put means Exists),
// never with a table of its own.
//
// Each kind is chosen by what lensflow's callers do with it: httpkit answers
// Unavailable 503 with Retry-After, Conflict and Exists 409, Other 500 (the
// cause logged, not shown), Invalid 400 and NotFound 404 (the cause shown);
// errs.Retryable (webhook deliveries) retries Unavailable, Conflict and
// Other; the event receiver retries every failure until it dead-letters;
// gcsblobs.Put and the idempotency store retry Unavailable at once.
//
// Lensflow calls every backend as itself (its service account), never as
// the clinic's user. A backend that refuses lensflow's credentials or
// permissions reports a fault of the deployment, so both are Other: as
// Permission or Unauthenticated they would answer the user 403 or 401 (and
// ask for a new sign-in) for something the user cannot fix, show the
// backend's message, and, as 4xx, keep the incident out of the error log.
//
// This package sits beside errs rather than in it so that the pure domain
// packages, which all import errs, link no gRPC or Google API code.
package kinds

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"

	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lensflow/lensflow/shared/errs"
)

// grpcKinds is the one table from gRPC status codes to kinds. Every code
// is listed, with the reason for its kind.
var grpcKinds = map[codes.Code]errs.Kind{
	// Not a failure: an error that claims it is a malformed answer.
	codes.OK: errs.Other,
	// The call was cut short (its context ended, the server is stopping),
	// not refused: made again, it may succeed. As context.Canceled.
	codes.Canceled: errs.Unavailable,
	// The backend said nothing lensflow can act on: internal.
	codes.Unknown: errs.Other,
	// The request itself is wrong: sent again unchanged it fails again.
	codes.InvalidArgument: errs.Invalid,
	// Out of time, maybe only this once: retry with backoff.
	codes.DeadlineExceeded: errs.Unavailable,
	// The document, object, topic or subscription is not there.
	codes.NotFound: errs.NotFound,
	// A create found the thing already there.
	codes.AlreadyExists: errs.Exists,
	// The backend refused lensflow's service account: a missing IAM role,
	// a deployment fault (see the package comment).
	codes.PermissionDenied: errs.Other,
	// A quota or rate limit: back off and retry.
	codes.ResourceExhausted: errs.Unavailable,
	// The backend is not in the state the call needs (a missing index, a
	// disabled key): a fault of the deployment that no retry fixes until
	// someone acts, not a clash with the user's request. A call whose
	// precondition is its own (a create-only write) says what it means
	// where it makes the call.
	codes.FailedPrecondition: errs.Other,
	// A transaction lost to a concurrent one, which a retry resolves. The
	// client libraries retry it themselves, so one that reaches lensflow
	// outlived their retries: contention, which ports promises as Conflict
	// (409, retryable).
	codes.Aborted: errs.Conflict,
	// A read or seek past the end of what is there: wrong input, as
	// InvalidArgument.
	codes.OutOfRange: errs.Invalid,
	// The backend does not offer what was asked: lensflow's code or
	// deployment is wrong.
	codes.Unimplemented: errs.Other,
	// The backend failed in itself. Google's services treat it as
	// transient (their own clients retry it), as HTTP 500 below.
	codes.Internal: errs.Unavailable,
	// The backend is down or overloaded: retry with backoff.
	codes.Unavailable: errs.Unavailable,
	// Unrecoverable loss or corruption: internal, for a person to look at.
	// (Cloud Storage's checksum failures are its adapter's to retry.)
	codes.DataLoss: errs.Other,
	// The backend rejected lensflow's own credentials: a deployment fault,
	// not the user's sign-in (see the package comment).
	codes.Unauthenticated: errs.Other,
}

// httpKinds is the one table from HTTP statuses to kinds, for answers that
// name no gRPC code. Where Google maps a gRPC code onto a status, the
// status has that code's kind above; 408 and 412 answer HTTP's own
// conditions. Other 5xx statuses are Unavailable (FromHTTPStatus); any
// other status is Other.
var httpKinds = map[int]errs.Kind{
	// InvalidArgument (and OutOfRange, FailedPrecondition, which an answer
	// that names its code tells apart): the request is wrong.
	http.StatusBadRequest: errs.Invalid,
	// Unauthenticated, PermissionDenied: lensflow's own credentials or
	// roles, a deployment fault.
	http.StatusUnauthorized: errs.Other,
	http.StatusForbidden:    errs.Other,
	// NotFound.
	http.StatusNotFound: errs.NotFound,
	// The backend gave up waiting for the request: retry.
	http.StatusRequestTimeout: errs.Unavailable,
	// Aborted (or AlreadyExists): a concurrent change won; retry.
	http.StatusConflict: errs.Conflict,
	// A condition the request set (an ETag, a generation) no longer holds:
	// the thing changed meanwhile. A create-only put says Exists at its call.
	http.StatusPreconditionFailed: errs.Conflict,
	// The payload is over the backend's limit.
	http.StatusRequestEntityTooLarge: errs.TooLarge,
	// OutOfRange.
	http.StatusRequestedRangeNotSatisfiable: errs.Invalid,
	// ResourceExhausted: a quota or rate limit.
	http.StatusTooManyRequests: errs.Unavailable,
	// Canceled (Google's "client closed request").
	499: errs.Unavailable,
	// Internal, as above.
	http.StatusInternalServerError: errs.Unavailable,
	// Unimplemented.
	http.StatusNotImplemented: errs.Other,
	// Unavailable, DeadlineExceeded and their proxies.
	http.StatusBadGateway:         errs.Unavailable,
	http.StatusServiceUnavailable: errs.Unavailable,
	http.StatusGatewayTimeout:     errs.Unavailable,
}

// FromGRPC returns the kind of a gRPC status code.
func FromGRPC(c codes.Code) errs.Kind {
	if k, ok := grpcKinds[c]; ok {
		return k
	}
	return errs.Other // a code gRPC does not define
}

// FromHTTPStatus returns the kind of a backend's HTTP status.
func FromHTTPStatus(code int) errs.Kind {
	if k, ok := httpKinds[code]; ok {
		return k
	}
	if code >= 500 && code < 600 {
		return errs.Unavailable
	}
	return errs.Other
}

// Of returns the kind of err, an error from a backend's client library:
// the kind of a classified error in its chain if it has one; Unavailable
// for a context that was cancelled or ran out of time, as for a transport
// failure (a broken connection, a refused dial, an answer cut short); the
// kind of a googleapi.Error's gRPC code if its body names one, else of its
// HTTP status; the kind of a gRPC status; Other for anything else.
func Of(err error) errs.Kind {
	k, _ := Classify(err)
	return k
}

// Classify is Of, and reports whether it recognised err as one of those
// rather than answering Other for want of anything better.
func Classify(err error) (errs.Kind, bool) {
	if err == nil {
		return errs.Other, false
	}
	if k := errs.KindOf(err); k != errs.Other {
		return k, true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The operation did not finish in time, or its caller stopped
		// waiting: nothing is wrong with the request or the backend, and
		// made again it may succeed. As gRPC's Canceled and DeadlineExceeded.
		return errs.Unavailable, true
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		if c, ok := namedCode(gerr); ok {
			return FromGRPC(c), true
		}
		return FromHTTPStatus(gerr.Code), true
	}
	if st, ok := status.FromError(err); ok {
		return FromGRPC(st.Code()), true
	}
	if transport(err) {
		return errs.Unavailable, true
	}
	return errs.Other, false
}

// namedCode returns the gRPC code a Google JSON API names in its error body
// ({"error": {"code": 400, "status": "FAILED_PRECONDITION", ...}}), which
// tells apart the codes Google maps onto one HTTP status.
func namedCode(gerr *googleapi.Error) (codes.Code, bool) {
	var body struct {
		Error struct {
			Status *codes.Code `json:"status"`
		} `json:"error"`
	}
	if gerr.Body == "" || json.Unmarshal([]byte(gerr.Body), &body) != nil || body.Error.Status == nil {
		return 0, false
	}
	return *body.Error.Status, true
}

// transport reports whether err is a failure to reach a backend or to read
// its whole answer, which a retry may not meet.
func transport(err error) bool {
	var uerr *url.Error
	var nerr net.Error
	return errors.As(err, &uerr) || errors.As(err, &nerr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
