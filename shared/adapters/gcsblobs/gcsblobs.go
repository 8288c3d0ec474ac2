// Package gcsblobs implements ports.Blobs on Cloud Storage with the real
// cloud.google.com/go/storage client.
//
// The same Store runs in production (New, with a client on Google's
// endpoints) and in tests (OpenMemory, with a client talking over loopback
// HTTP to an embedded fake-gcs-server), so the conformance suite exercises
// the production code path. The local stack stores blobs with fileblobs.
//
// Writes are whole-object: the object appears when the upload finalizes,
// never half-written, and every upload carries a CRC32C of the data so a
// payload corrupted in transit is rejected instead of stored. Reads of whole
// objects are checked against the stored CRC32C by the client.
//
// Object names must be portable names (see ports.CheckBlobName): the local filesystem
// backend maps names to paths, so the rules are a little stricter than
// Cloud Storage's. lensflow's names are opaque ids, never PHI.
package gcsblobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/errs/kinds"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/retry"
)

// defaultContentType is stored when PutOptions.ContentType is empty.
const defaultContentType = "application/octet-stream"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Store is a ports.Blobs over one Cloud Storage bucket.
type Store struct {
	client *storage.Client
	bucket *storage.BucketHandle
	name   string
}

var _ ports.Blobs = (*Store)(nil)

// New returns a Store over bucket. The caller keeps ownership of client:
// Store.Close does not close it, so one client can serve several stores.
func New(client *storage.Client, bucket string) *Store {
	return &Store{client: client, bucket: client.Bucket(bucket), name: bucket}
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.name }

// putRetry bounds the attempts of one Put (four). The writer sends the
// object in a single request straight from the caller's bytes (ChunkSize
// 0): the client's own retries need a buffered copy of the whole object
// (16 MiB for a large scan, per upload in flight), so Put retries transient
// failures itself instead, from the bytes it already holds. Only
// errs.Unavailable failures are retried, with pauses of about 100 ms,
// doubling, at most 2 s; a context that ends during a pause ends Put with
// the last attempt's error.
var putRetry = retry.Policy{Attempts: 4, Initial: 100 * time.Millisecond, Max: 2 * time.Second}

// Put stores data under name as one whole object. With opts.IfAbsent the
// upload carries a does-not-exist precondition, and an existing object
// makes it fail with errs.Exists, unchanged.
//
// As with any Cloud Storage client, a retried IfAbsent upload whose first
// attempt was committed but whose response was lost reports errs.Exists for
// its own write: a caller that must tell the two apart compares the stored
// object with what it meant to write.
func (s *Store) Put(ctx context.Context, name string, data []byte, opts ports.PutOptions) error {
	const op = "gcsblobs.Put"
	if err := ports.CheckBlobName(name); err != nil {
		return errs.E(op, errs.Invalid, err)
	}
	crc := crc32.Checksum(data, castagnoli)
	return retry.Do(ctx, putRetry, retry.Unavailable, func() error { return s.put(ctx, name, data, crc, opts) })
}

// put is one attempt of Put.
func (s *Store) put(ctx context.Context, name string, data []byte, crc uint32, opts ports.PutOptions) error {
	const op = "gcsblobs.Put"
	// Cancelling the writer's context aborts the upload: nothing is committed.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	obj := s.bucket.Object(name)
	if opts.IfAbsent {
		obj = obj.If(storage.Conditions{DoesNotExist: true})
	}
	w := obj.NewWriter(ctx)
	w.ContentType = opts.ContentType
	if w.ContentType == "" {
		w.ContentType = defaultContentType
	}
	w.CRC32C = crc
	w.SendCRC32C = true
	w.ChunkSize = 0 // one request from data, no buffered copy (see putRetry)

	if _, err := w.Write(data); err != nil {
		cancel()
		_ = w.Close() // reports the same failure; the upload is abandoned
		return classifyPut(op, name, opts, err)
	}
	if err := w.Close(); err != nil {
		return classifyPut(op, name, opts, err)
	}
	return nil
}

// Get returns the whole object; errs.NotFound if it does not exist.
func (s *Store) Get(ctx context.Context, name string) ([]byte, error) {
	const op = "gcsblobs.Get"
	if err := ports.CheckBlobName(name); err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	r, err := s.bucket.Object(name).NewReader(ctx)
	if err != nil {
		return nil, classify(op, name, err)
	}
	defer r.Close()
	var buf bytes.Buffer // sized once: the object and the read that sees its end
	buf.Grow(int(r.Attrs.Size) + bytes.MinRead)
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, classify(op, name, err)
	}
	return buf.Bytes(), nil
}

// Delete removes the object; an absent object is not an error.
func (s *Store) Delete(ctx context.Context, name string) error {
	const op = "gcsblobs.Delete"
	if err := ports.CheckBlobName(name); err != nil {
		return errs.E(op, errs.Invalid, err)
	}
	err := s.bucket.Object(name).Delete(ctx)
	if err != nil && kindOf(err) != errs.NotFound {
		return classify(op, name, err)
	}
	return nil
}

// List returns the names of the objects whose names start with prefix, sorted.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	const op = "gcsblobs.List"
	q := &storage.Query{Prefix: prefix}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	it := s.bucket.Objects(ctx, q)
	names := []string{}
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, classify(op, prefix, err)
		}
		names = append(names, attrs.Name)
	}
	slices.Sort(names)
	return names, nil
}

// Close releases nothing: the client belongs to the caller of New.
func (s *Store) Close() error { return nil }

// classify maps a storage client error to an errs kind. what is the object
// name or list prefix (opaque ids, never PHI).
func classify(op, what string, err error) error {
	wrapped := fmt.Errorf("%q: %w", what, err)
	return errs.E(op, kindOf(err), wrapped)
}

// kindOf decides the errs.Kind of a storage client error: by lensflow's one
// table (package kinds), but for what this client says in its own words
// and for a checksum failure.
func kindOf(err error) errs.Kind {
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return errs.NotFound
	case errors.Is(err, storage.ErrBucketNotExist):
		// A missing bucket is a deployment fault, not a missing object.
		return errs.Other
	case checksumFailed(err):
		// We compute the checksum from our own bytes: a mismatch means
		// the payload was damaged in transit, which a retry can fix
		// (where the table says Invalid for a 400, Other for DataLoss).
		return errs.Unavailable
	}
	return kinds.Of(err)
}

// checksumFailed reports whether err is the server refusing an upload whose
// bytes do not match the checksum sent with them: a 400 naming the
// checksum on the JSON API, DataLoss on gRPC.
func checksumFailed(err error) bool {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		m := strings.ToLower(gerr.Message)
		return gerr.Code == http.StatusBadRequest && (strings.Contains(m, "crc32c") || strings.Contains(m, "md5"))
	}
	return status.Code(err) == codes.DataLoss
}

// classifyPut classifies a failed upload. An IfAbsent upload carries one
// precondition, that no object exists, so its failure (412 on the JSON
// API, FailedPrecondition on gRPC) means the object is there: errs.Exists,
// where the table says Conflict or Other for a precondition in general.
func classifyPut(op, name string, opts ports.PutOptions, err error) error {
	if opts.IfAbsent && preconditionFailed(err) {
		return errs.E(op, errs.Exists, fmt.Errorf("%q: %w", name, err))
	}
	return classify(op, name, err)
}

// preconditionFailed reports whether err is the server refusing a request
// whose precondition does not hold.
func preconditionFailed(err error) bool {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code == http.StatusPreconditionFailed
	}
	return status.Code(err) == codes.FailedPrecondition
}
