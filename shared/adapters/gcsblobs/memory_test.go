package gcsblobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/lensflow/lensflow/shared/errs"
)

// localProject is the project id buckets are created in on the local server.
const localProject = "lensflow-local"

// Local is a Store backed by an embedded fake-gcs-server in memory, reached
// by a real storage client over loopback HTTP: the Google adapter's code
// path, for tests. Close stops the client and the server.
type Local struct {
	*Store
	srv    *fakestorage.Server
	client *storage.Client
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

// Close closes the client and stops the server.
func (l *Local) Close() error {
	err := l.client.Close()
	l.srv.Stop()
	if err != nil {
		return errs.E("gcsblobs.Local.Close", errs.Other, err)
	}
	return nil
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
