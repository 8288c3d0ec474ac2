package gcsblobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/pkg/xattr"
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

func TestConformanceLocalFilesystem(t *testing.T) {
	blobstest.Run(t, func(t *testing.T) ports.Blobs {
		l, err := OpenLocal(testCtx(t), t.TempDir(), testBucket)
		if err != nil {
			t.Fatalf("OpenLocal: %v", err)
		}
		return l
	})
}

func TestLocalReopenKeepsData(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	l, err := OpenLocal(ctx, dir, testBucket)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	data := []byte("survives\x00restart")
	if err := l.Put(ctx, "keep/me", data, ports.PutOptions{ContentType: "application/x-test", IfAbsent: true}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	l2, err := OpenLocal(ctx, dir, testBucket)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l2.Close()
	got, err := l2.Get(ctx, "keep/me")
	if err != nil || string(got) != string(data) {
		t.Fatalf("Get after reopen = %q, %v; want %q", got, err, data)
	}
	if err := l2.Put(ctx, "keep/me", []byte("other"), ports.PutOptions{IfAbsent: true}); !errs.Is(errs.Exists, err) {
		t.Fatalf("IfAbsent after reopen: err = %v, want Exists", err)
	}
	names, err := l2.List(ctx, "")
	if err != nil || !slices.Equal(names, []string{"keep/me"}) {
		t.Fatalf("List after reopen = %q, %v", names, err)
	}
}

func TestLocalDirIsExclusive(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	l, err := OpenLocal(ctx, dir, testBucket)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	defer l.Close()
	if l2, err := OpenLocal(ctx, dir, testBucket); !errs.Is(errs.Conflict, err) {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("second OpenLocal on one dir: err = %v, want Conflict", err)
	}
}

// TestLocalRecoversFromCrash simulates what a crash in the middle of the
// filesystem backend's two-step write leaves behind and checks that a reopen
// serves whole objects only and that List works.
func TestLocalRecoversFromCrash(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	l, err := OpenLocal(ctx, dir, testBucket)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	for _, n := range []string{"intact", "overwritten", "stale/meta"} {
		if err := l.Put(ctx, n, []byte("old "+n), ports.PutOptions{ContentType: "text/plain"}); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	bdir := filepath.Join(dir, url.PathEscape(testBucket))
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(bdir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// 1. Crash while writing the temporary file: a partial pending file.
	write("scans/.new-object123456", "partial")
	// 2. Crash after the rename of a new object, before its metadata.
	write("scans/new-object", "new complete")
	// 3. Crash after the rename of an overwrite: a new inode without the
	// old xattr (or, without xattrs, the old .metadata file is stale).
	p := filepath.Join(bdir, "overwritten")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	write("overwritten", "new overwritten")
	// 4. Metadata present but describing other bytes.
	if err := os.WriteFile(filepath.Join(bdir, "stale", "meta"), []byte("new bytes"), 0o600); err != nil {
		t.Fatal(err)
	}

	l2, err := OpenLocal(ctx, dir, testBucket)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l2.Close()
	names, err := l2.List(ctx, "")
	want := []string{"intact", "overwritten", "scans/new-object", "stale/meta"}
	if err != nil || !slices.Equal(names, want) {
		t.Fatalf("List = %q, %v; want %q", names, err, want)
	}
	for name, content := range map[string]string{
		"intact": "old intact", "overwritten": "new overwritten",
		"scans/new-object": "new complete", "stale/meta": "new bytes",
	} {
		got, err := l2.Get(ctx, name)
		if err != nil || string(got) != content {
			t.Errorf("Get(%s) = %q, %v; want %q", name, got, err, content)
		}
	}
	if _, err := os.Stat(filepath.Join(bdir, "scans", ".new-object123456")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pending file not removed: %v", err)
	}
}

// TestLocalUsesXattrMetadata records which metadata handler this machine's
// filesystem gets, since the crash analysis depends on it.
func TestLocalUsesXattrMetadata(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	l, err := OpenLocal(ctx, dir, testBucket)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	defer l.Close()
	if err := l.Put(ctx, "x", []byte("x"), ports.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, testBucket, "x")
	if _, err := xattr.Get(p, "user.metadata"); err == nil {
		t.Logf("metadata kept in the user.metadata xattr")
	} else if _, err := os.Stat(p + ".metadata"); err == nil {
		t.Logf("metadata kept in x.metadata files (no xattr support)")
	} else {
		t.Fatalf("no metadata found for a stored object")
	}
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
		{"412", &googleapi.Error{Code: 412}, errs.Exists},
		{"404", &googleapi.Error{Code: 404}, errs.NotFound},
		{"400", &googleapi.Error{Code: 400, Message: "Invalid object name"}, errs.Invalid},
		{"400 crc", &googleapi.Error{Code: 400, Message: `Provided CRC32C "x" doesn't match calculated CRC32C "y".`}, errs.Unavailable},
		{"401", &googleapi.Error{Code: 401}, errs.Unauthenticated},
		{"403", &googleapi.Error{Code: 403}, errs.Permission},
		{"408", &googleapi.Error{Code: 408}, errs.Unavailable},
		{"429", &googleapi.Error{Code: 429}, errs.Unavailable},
		{"500", &googleapi.Error{Code: 500}, errs.Unavailable},
		{"503", &googleapi.Error{Code: 503}, errs.Unavailable},
		{"grpc unavailable", status.Error(codes.Unavailable, "down"), errs.Unavailable},
		{"grpc failed precondition", status.Error(codes.FailedPrecondition, "exists"), errs.Exists},
		{"grpc permission", status.Error(codes.PermissionDenied, "no"), errs.Permission},
		{"deadline", context.DeadlineExceeded, errs.Unavailable},
		{"canceled", context.Canceled, errs.Other},
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

func TestValidName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"scans/0b7f/raw", true},
		{"a", true},
		{"clinic-1/patient_2/obj.v1.bin", true},
		{"ünïcode/名前", true},
		{"", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/./b", false},
		{"a/../b", false},
		{"a//b", false},
		{"/abs", false},
		{"trail/", false},
		{".hidden", false},
		{"dir/.hidden", false},
		{"x.metadata", false},
		{"ctl\x01", false},
		{"nl\n", false},
		{"del\x7f", false},
		{`back\slash`, false},
		{string([]byte{0xff, 0xfe}), false},
		{string(make([]byte, 1025)), false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.name), func(t *testing.T) {
			if err := ValidName(c.name); (err == nil) != c.ok {
				t.Fatalf("ValidName(%q) = %v, want ok=%v", c.name, err, c.ok)
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
