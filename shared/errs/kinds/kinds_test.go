package kinds_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"

	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/errs/kinds"
)

// grpcWant is the kind of every gRPC code, as decided in package kinds.
var grpcWant = map[codes.Code]errs.Kind{
	codes.OK:                 errs.Other,
	codes.Canceled:           errs.Unavailable,
	codes.Unknown:            errs.Other,
	codes.InvalidArgument:    errs.Invalid,
	codes.DeadlineExceeded:   errs.Unavailable,
	codes.NotFound:           errs.NotFound,
	codes.AlreadyExists:      errs.Exists,
	codes.PermissionDenied:   errs.Other,
	codes.ResourceExhausted:  errs.Unavailable,
	codes.FailedPrecondition: errs.Other,
	codes.Aborted:            errs.Conflict,
	codes.OutOfRange:         errs.Invalid,
	codes.Unimplemented:      errs.Other,
	codes.Internal:           errs.Unavailable,
	codes.Unavailable:        errs.Unavailable,
	codes.DataLoss:           errs.Other,
	codes.Unauthenticated:    errs.Other,
}

// numCodes is how many codes gRPC defines (0 to 16).
const numCodes = 17

func TestFromGRPCCoversEveryCode(t *testing.T) {
	if len(grpcWant) != numCodes {
		t.Fatalf("the test lists %d codes, want all %d", len(grpcWant), numCodes)
	}
	// A code gRPC adds would have a name: decide its kind, here and in
	// the table.
	if name := codes.Code(numCodes).String(); name != fmt.Sprintf("Code(%d)", numCodes) {
		t.Fatalf("gRPC defines code %d (%s): decide its kind", numCodes, name)
	}
	for c := range codes.Code(numCodes) {
		want, ok := grpcWant[c]
		if !ok {
			t.Fatalf("code %d (%v) is not in the test", c, c)
		}
		t.Run(c.String(), func(t *testing.T) {
			if got := kinds.FromGRPC(c); got != want {
				t.Errorf("FromGRPC(%v) = %v, want %v", c, got, want)
			}
			if c == codes.OK {
				return // status.Error(OK) is nil: no error to classify
			}
			// The same through a status error, as a client returns it,
			// wrapped once more as adapters receive it.
			err := fmt.Errorf("firestore: %w", status.Error(c, "x"))
			if got := kinds.Of(err); got != want {
				t.Errorf("Of(status %v) = %v, want %v", c, got, want)
			}
			if _, ok := kinds.Classify(err); !ok {
				t.Errorf("Classify(status %v) does not recognise it", c)
			}
		})
	}
	if got := kinds.FromGRPC(codes.Code(99)); got != errs.Other {
		t.Errorf("FromGRPC(99) = %v, want Other", got)
	}
}

func TestFromHTTPStatus(t *testing.T) {
	cases := map[int]errs.Kind{
		400: errs.Invalid,
		401: errs.Other,
		403: errs.Other,
		404: errs.NotFound,
		408: errs.Unavailable,
		409: errs.Conflict,
		412: errs.Conflict,
		413: errs.TooLarge,
		416: errs.Invalid,
		429: errs.Unavailable,
		499: errs.Unavailable,
		500: errs.Unavailable,
		501: errs.Other,
		502: errs.Unavailable,
		503: errs.Unavailable,
		504: errs.Unavailable,
		// Not in the table: other 5xx are the backend's failure, the
		// rest (and no status at all) are unclassified.
		507: errs.Unavailable,
		599: errs.Unavailable,
		0:   errs.Other,
		200: errs.Other,
		304: errs.Other,
		405: errs.Other,
		410: errs.Other,
		418: errs.Other,
		600: errs.Other,
	}
	for code, want := range cases {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			if got := kinds.FromHTTPStatus(code); got != want {
				t.Errorf("FromHTTPStatus(%d) = %v, want %v", code, got, want)
			}
			if code == 0 {
				return
			}
			err := fmt.Errorf("storage: %w", &googleapi.Error{Code: code, Message: "x"})
			if got := kinds.Of(err); got != want {
				t.Errorf("Of(googleapi %d) = %v, want %v", code, got, want)
			}
		})
	}
}

// A Google JSON API that names the gRPC code behind its status is
// classified by the code: Google maps InvalidArgument, FailedPrecondition
// and OutOfRange all onto 400.
func TestGoogleAPINamedCode(t *testing.T) {
	body := func(code int, status string) string {
		return fmt.Sprintf(`{"error": {"code": %d, "message": "m", "status": %q}}`, code, status)
	}
	cases := []struct {
		name string
		err  *googleapi.Error
		want errs.Kind
	}{
		{"400 invalid argument", &googleapi.Error{Code: 400, Body: body(400, "INVALID_ARGUMENT")}, errs.Invalid},
		{"400 failed precondition", &googleapi.Error{Code: 400, Body: body(400, "FAILED_PRECONDITION")}, errs.Other},
		{"400 out of range", &googleapi.Error{Code: 400, Body: body(400, "OUT_OF_RANGE")}, errs.Invalid},
		{"409 already exists", &googleapi.Error{Code: 409, Body: body(409, "ALREADY_EXISTS")}, errs.Exists},
		{"409 aborted", &googleapi.Error{Code: 409, Body: body(409, "ABORTED")}, errs.Conflict},
		{"499 cancelled", &googleapi.Error{Code: 499, Body: body(499, "CANCELLED")}, errs.Unavailable},
		{"no status", &googleapi.Error{Code: 409, Body: `{"error": {"code": 409, "message": "m"}}`}, errs.Conflict},
		{"unknown status", &googleapi.Error{Code: 400, Body: body(400, "NO_SUCH_CODE")}, errs.Invalid},
		{"not json", &googleapi.Error{Code: 503, Body: "<html>unavailable</html>"}, errs.Unavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := kinds.Of(c.err); got != c.want {
				t.Errorf("Of = %v, want %v", got, c.want)
			}
		})
	}
}

func TestContextErrors(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for name, err := range map[string]error{
		"canceled":             context.Canceled,
		"deadline":             context.DeadlineExceeded,
		"ctx.Err canceled":     canceled.Err(),
		"wrapped canceled":     fmt.Errorf("reading: %w", context.Canceled),
		"url error of timeout": &url.Error{Op: "Get", URL: "https://x", Err: context.DeadlineExceeded},
		"cause of cancel":      context.Cause(canceled),
	} {
		t.Run(name, func(t *testing.T) {
			k, ok := kinds.Classify(err)
			if k != errs.Unavailable || !ok {
				t.Errorf("Classify(%v) = %v, %v; want Unavailable, true", err, k, ok)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	for name, err := range map[string]error{
		"url error":      &url.Error{Op: "Get", URL: "https://x", Err: errors.New("connection refused")},
		"net op error":   &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")},
		"unexpected EOF": fmt.Errorf("body: %w", io.ErrUnexpectedEOF),
		"closed":         net.ErrClosed,
	} {
		t.Run(name, func(t *testing.T) {
			if got := kinds.Of(err); got != errs.Unavailable {
				t.Errorf("Of(%v) = %v, want Unavailable", err, got)
			}
		})
	}
}

// An error already classified keeps its kind, even over a status or a
// context error it wraps; one that is not recognised is Other, and said
// to be unrecognised.
func TestClassifiedAndUnrecognised(t *testing.T) {
	conflict := errs.E("tx", errs.Conflict, status.Error(codes.Unavailable, "x"))
	if got := kinds.Of(fmt.Errorf("commit: %w", conflict)); got != errs.Conflict {
		t.Errorf("Of(Conflict over Unavailable) = %v, want Conflict", got)
	}
	invalid := errs.E("read", errs.Invalid, context.Canceled)
	if got := kinds.Of(invalid); got != errs.Invalid {
		t.Errorf("Of(Invalid over Canceled) = %v, want Invalid", got)
	}
	// A classified Other defers to what it wraps.
	if got := kinds.Of(errs.E("op", errs.Other, status.Error(codes.NotFound, "x"))); got != errs.NotFound {
		t.Errorf("Of(Other over NotFound) = %v, want NotFound", got)
	}
	for _, err := range []error{nil, errors.New("aead: decryption failed"), io.EOF} {
		if k, ok := kinds.Classify(err); k != errs.Other || ok {
			t.Errorf("Classify(%v) = %v, %v; want Other, false", err, k, ok)
		}
	}
}
