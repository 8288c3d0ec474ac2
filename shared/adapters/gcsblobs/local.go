package gcsblobs

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/lensflow/lensflow/shared/errs"
)

// localProject is the project id buckets are created in on the local server.
const localProject = "lensflow-local"

// Local is a Store backed by an embedded fake-gcs-server, reached by a real
// storage client over loopback HTTP. Close stops the client and the server.
//
// Durability of the filesystem backend (OpenLocal), checked against
// fake-gcs-server v1.56.1: an object's bytes are written to a temporary
// file, synced and renamed over the final path (renameio), so a file is
// never half-written; the object's metadata (a user.metadata xattr, or a
// "<name>.metadata" file where xattrs are unsupported) is written in a
// second step. A crash between the two leaves a complete file without, or
// with stale, metadata, which would make the object unreadable and break
// every List of the bucket; a crash during the first step leaves a
// ".<name><random>" temporary file. OpenLocal repairs both before serving
// (see recover): temporary files are removed, and a complete file whose
// metadata is missing or does not match its bytes is re-registered, so the
// rename is the commit point and each object is wholly old or wholly new.
type Local struct {
	*Store
	srv    *fakestorage.Server
	client *storage.Client
	lock   *os.File // flock on the data dir; nil for memory
}

// OpenLocal starts fake-gcs-server in-process with its filesystem backend
// rooted at dir (created if missing; data survives Close and reopening),
// creates bucket if missing and returns a store on it. One process at a
// time may open a dir: a second OpenLocal fails with errs.Conflict.
//
// Local limitation: because names map to paths, one name cannot be both an
// object and a "directory" prefix of another ("a" and "a/b"); the second
// Put fails. Cloud Storage allows this; lensflow's names never do it.
func OpenLocal(ctx context.Context, dir, bucket string) (*Local, error) {
	const op = "gcsblobs.OpenLocal"
	if dir == "" {
		return nil, errs.Ef(op, errs.Invalid, "data dir is empty")
	}
	if err := validBucket(bucket); err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, errs.E(op, errs.Conflict, err)
	}
	srv, err := fakestorage.NewServerWithOptions(serverOptions(dir))
	if err != nil {
		lock.Close()
		return nil, errs.E(op, errs.Other, fmt.Errorf("start fake-gcs-server: %w", err))
	}
	l, err := connect(ctx, srv, bucket)
	if err != nil {
		srv.Stop()
		lock.Close()
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	l.lock = lock
	if err := recoverBucket(srv, filepath.Join(dir, url.PathEscape(bucket)), bucket); err != nil {
		l.Close()
		return nil, errs.E(op, errs.Other, fmt.Errorf("recover %s: %w", dir, err))
	}
	return l, nil
}

// OpenMemory starts fake-gcs-server in-process with its memory backend
// (nothing survives Close) and returns a store on bucket. For tests.
func OpenMemory(ctx context.Context, bucket string) (*Local, error) {
	const op = "gcsblobs.OpenMemory"
	if err := validBucket(bucket); err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	srv, err := fakestorage.NewServerWithOptions(serverOptions(""))
	if err != nil {
		return nil, errs.E(op, errs.Other, fmt.Errorf("start fake-gcs-server: %w", err))
	}
	l, err := connect(ctx, srv, bucket)
	if err != nil {
		srv.Stop()
		return nil, errs.E(op, errs.KindOf(err), err)
	}
	return l, nil
}

// serverOptions configures a plain-HTTP server on a free loopback port.
// StorageRoot "" selects the memory backend.
func serverOptions(root string) fakestorage.Options {
	return fakestorage.Options{
		StorageRoot: root,
		Scheme:      "http",
		Host:        "127.0.0.1",
		Port:        0, // httptest picks a free port on 127.0.0.1
		PublicHost:  "127.0.0.1",
	}
}

// connect builds a real storage client on srv and ensures bucket exists.
func connect(ctx context.Context, srv *fakestorage.Server, bucket string) (*Local, error) {
	client, err := storage.NewClient(ctx,
		option.WithEndpoint(srv.URL()+"/storage/v1/"),
		option.WithoutAuthentication(),
		storage.WithJSONReads(),
	)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	b := client.Bucket(bucket)
	if _, err := b.Attrs(ctx); errors.Is(err, storage.ErrBucketNotExist) {
		err = b.Create(ctx, localProject, nil)
		var gerr *googleapi.Error
		if err != nil && !(errors.As(err, &gerr) && gerr.Code == http.StatusConflict) { // 409: a racing create
			client.Close()
			return nil, classify("create bucket", bucket, err)
		}
	} else if err != nil {
		client.Close()
		return nil, classify("bucket attrs", bucket, err)
	}
	return &Local{Store: New(client, bucket), srv: srv, client: client}, nil
}

// URL returns the base URL of the embedded server (http://127.0.0.1:PORT),
// usable as STORAGE_EMULATOR_HOST by other tools while it runs.
func (l *Local) URL() string { return l.srv.URL() }

// Close closes the client, stops the server and releases the data dir.
func (l *Local) Close() error {
	err := l.client.Close()
	l.srv.Stop()
	if l.lock != nil {
		if cerr := l.lock.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return errs.E("gcsblobs.Local.Close", errs.Other, err)
	}
	return nil
}

// lockDir takes an exclusive, non-blocking flock on dir, held until the
// returned file is closed: the filesystem backend's locking is in-process
// only, so two processes on one dir would corrupt each other's writes.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another process: %w", dir, err)
	}
	return f, nil
}

// recoverBucket repairs what a crash can leave in a bucket directory of the
// filesystem backend (see Local): it removes leftover temporary files and
// re-registers complete files whose metadata is missing or stale. It reads
// every object once, which is cheap at local-stack sizes.
func recoverBucket(srv *fakestorage.Server, bucketDir, bucket string) error {
	return filepath.WalkDir(bucketDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == bucketDir {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			// renameio's pending file: its write never committed.
			return os.Remove(path)
		}
		if strings.HasSuffix(d.Name(), ".metadata") {
			return nil // metadata file of the non-xattr handler
		}
		rel, err := filepath.Rel(bucketDir, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		obj, gerr := srv.GetObject(bucket, name)
		if gerr == nil && obj.Crc32c == encodedCRC32C(data) {
			return nil
		}
		contentType := defaultContentType
		if gerr == nil && obj.ContentType != "" {
			contentType = obj.ContentType
		}
		return srv.CreateObjectStreaming(fakestorage.Object{
			ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name, ContentType: contentType},
			Content:     data,
		}.StreamingObject())
	})
}

// encodedCRC32C is the base64 big-endian CRC32C that Cloud Storage reports.
func encodedCRC32C(data []byte) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.Checksum(data, castagnoli))
	return base64.StdEncoding.EncodeToString(b[:])
}

// validBucket checks a bucket name against Cloud Storage's basic rules
// (3-63 characters of lower-case letters, digits, '-', '_' and '.').
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return errors.New("bucket name must be 3 to 63 characters")
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return errors.New("bucket name may contain only a-z, 0-9, '-', '_' and '.'")
		}
	}
	if b[0] == '.' || b[0] == '-' || b[0] == '_' {
		return errors.New("bucket name must start with a letter or digit")
	}
	return nil
}
