package gcsblobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/blobstest"
)

const testBucket = "lensflow-test"

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConformanceMemory(t *testing.T) {
	blobstest.Run(t, func(t *testing.T) ports.Blobs {
		l, err := OpenMemory(testCtx(t), testBucket)
		if err != nil {
			t.Fatalf("OpenMemory: %v", err)
		}
		return l
	})
}

func TestCRC32CMismatchIsRejected(t *testing.T) {
	ctx := testCtx(t)
	l, err := OpenMemory(ctx, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Send a checksum that does not match the bytes, as a payload damaged
	// in transit would: the server must refuse it and store nothing.
	w := l.client.Bucket(testBucket).Object("crc").NewWriter(ctx)
	w.CRC32C = 12345
	w.SendCRC32C = true
	if _, err := w.Write([]byte("payload")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	err = w.Close()
	if err == nil {
		t.Fatal("upload with a wrong CRC32C was accepted")
	}
	if k := kindOf(err); k != errs.Unavailable {
		t.Errorf("kindOf(%v) = %v, want Unavailable (retryable)", err, k)
	}
	if _, err := l.Get(ctx, "crc"); !errs.Is(errs.NotFound, err) {
		t.Errorf("Get after rejected upload: err = %v, want NotFound", err)
	}
}

func TestPutCancelledCommitsNothing(t *testing.T) {
	l, err := OpenMemory(testCtx(t), testBucket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Put(ctx, "cancelled", make([]byte, 1<<20), ports.PutOptions{}); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if _, err := l.Get(testCtx(t), "cancelled"); !errs.Is(errs.NotFound, err) {
		t.Fatalf("Get after cancelled Put: err = %v, want NotFound", err)
	}
}

func TestServerDownIsUnavailable(t *testing.T) {
	ctx := testCtx(t)
	l, err := OpenMemory(ctx, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	l.srv.Stop()
	defer l.client.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = l.Get(ctx, "x")
	if !errs.Is(errs.Unavailable, err) {
		t.Fatalf("Get with server down: err = %v (kind %v), want Unavailable", err, errs.KindOf(err))
	}
}

func TestKindOf(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want errs.Kind
	}{
		{"object not exist", fmt.Errorf("w: %w", storage.ErrObjectNotExist), errs.NotFound},
		{"bucket not exist", storage.ErrBucketNotExist, errs.Other},
		{"412", &googleapi.Error{Code: 412}, errs.Conflict}, // Exists only for an IfAbsent put: TestClassifyPut
		{"404", &googleapi.Error{Code: 404}, errs.NotFound},
		{"400", &googleapi.Error{Code: 400, Message: "Invalid object name"}, errs.Invalid},
		{"400 crc", &googleapi.Error{Code: 400, Message: `Provided CRC32C "x" doesn't match calculated CRC32C "y".`}, errs.Unavailable},
		{"401", &googleapi.Error{Code: 401}, errs.Other}, // lensflow's own credentials: see package kinds
		{"403", &googleapi.Error{Code: 403}, errs.Other},
		{"408", &googleapi.Error{Code: 408}, errs.Unavailable},
		{"429", &googleapi.Error{Code: 429}, errs.Unavailable},
		{"500", &googleapi.Error{Code: 500}, errs.Unavailable},
		{"503", &googleapi.Error{Code: 503}, errs.Unavailable},
		{"grpc unavailable", status.Error(codes.Unavailable, "down"), errs.Unavailable},
		{"grpc failed precondition", status.Error(codes.FailedPrecondition, "exists"), errs.Other}, // Exists only for an IfAbsent put
		{"grpc data loss", status.Error(codes.DataLoss, "checksum"), errs.Unavailable},
		{"grpc permission", status.Error(codes.PermissionDenied, "no"), errs.Other},
		{"deadline", context.DeadlineExceeded, errs.Unavailable},
		{"canceled", context.Canceled, errs.Unavailable},
		{"wrapped canceled", &url.Error{Op: "Get", URL: "http://x", Err: context.Canceled}, errs.Unavailable},
		{"url error", &url.Error{Op: "Get", URL: "http://x", Err: errors.New("connection refused")}, errs.Unavailable},
		{"net op error", &net.OpError{Op: "dial", Err: errors.New("refused")}, errs.Unavailable},
		{"unexpected EOF", io.ErrUnexpectedEOF, errs.Unavailable},
		{"other", errors.New("boom"), errs.Other},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := kindOf(c.err); got != c.want {
				t.Fatalf("kindOf(%v) = %v, want %v", c.err, got, c.want)
			}
			if got := errs.KindOf(classify("op", "name", c.err)); got != c.want {
				t.Fatalf("classify kind = %v, want %v", got, c.want)
			}
			if !errors.Is(classify("op", "name", c.err), c.err) {
				t.Fatal("classify does not wrap the cause")
			}
		})
	}
}

// An IfAbsent upload's failed precondition means the object exists; any
// other upload's, and any other failure, keeps the general kind.
func TestClassifyPut(t *testing.T) {
	ifAbsent, plain := ports.PutOptions{IfAbsent: true}, ports.PutOptions{}
	cases := []struct {
		name string
		opts ports.PutOptions
		err  error
		want errs.Kind
	}{
		{"412 if absent", ifAbsent, &googleapi.Error{Code: 412}, errs.Exists},
		{"grpc failed precondition if absent", ifAbsent, status.Error(codes.FailedPrecondition, "exists"), errs.Exists},
		{"412 plain", plain, &googleapi.Error{Code: 412}, errs.Conflict},
		{"grpc failed precondition plain", plain, status.Error(codes.FailedPrecondition, "x"), errs.Other},
		{"503 if absent", ifAbsent, &googleapi.Error{Code: 503}, errs.Unavailable},
		{"400 crc if absent", ifAbsent, &googleapi.Error{Code: 400, Message: "Provided CRC32C does not match"}, errs.Unavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := classifyPut("op", "name", c.opts, c.err)
			if got := errs.KindOf(err); got != c.want {
				t.Fatalf("classifyPut kind = %v, want %v", got, c.want)
			}
			if !errors.Is(err, c.err) {
				t.Fatal("classifyPut does not wrap the cause")
			}
		})
	}
}

func TestBucketValidation(t *testing.T) {
	for _, b := range []string{"", "ab", "Upper", "has space", "-lead", "../x"} {
		t.Run(b, func(t *testing.T) {
			if _, err := OpenMemory(testCtx(t), b); !errs.Is(errs.Invalid, err) {
				t.Fatalf("OpenMemory(%q): err = %v, want Invalid", b, err)
			}
		})
	}
}
