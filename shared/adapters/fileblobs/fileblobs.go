// Package fileblobs is the local stack's blob store: one plain file per
// object under a data directory, with nothing between the caller and the
// filesystem. It replaces an embedded fake-gcs-server as the local default
// because that server holds each object in memory several times over (a
// 16 MiB scan cost about 90 MB of allocations to store), hashes it twice
// and writes a metadata record beside every object; the Google adapter
// (gcsblobs) keeps running the same conformance suite against
// fake-gcs-server in its tests, so the real client stays covered.
//
// Layout: the object "scans/abc" of bucket B under dir is the file
// dir/B/scans/abc, the layout fake-gcs-server's filesystem backend used, so
// a data directory written by earlier versions is read as it is (its
// ".metadata" side files are ignored).
//
// Durability: Put writes a temporary file (".<name>.<random>", a name no
// valid object can have) in the object's directory, syncs it, then
// commits it in one step: rename for an overwrite, link for IfAbsent (which
// fails atomically if the object exists), and syncs the directory. A crash
// leaves the old object or the new one, never part of either; Open removes
// the temporary files a crash left. There is no global lock: concurrent
// Puts of different objects run in parallel, and of the same object the
// last rename wins, as in Cloud Storage.
package fileblobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/errs/kinds"
	"github.com/lensflow/lensflow/shared/ports"
)

// Store is a ports.Blobs on a directory.
type Store struct {
	root string   // the bucket's directory
	lock *os.File // flock held on it while open
}

var _ ports.Blobs = (*Store)(nil)

// Open opens (creating it if missing) the store of bucket under dir. One
// process at a time may open a bucket directory: a second Open fails with
// errs.Conflict. Temporary files left by a crash are removed.
func Open(dir, bucket string) (*Store, error) {
	const op = "fileblobs.Open"
	if bucket == "" || strings.ContainsAny(bucket, `/\`) || bucket[0] == '.' {
		return nil, errs.Ef(op, errs.Invalid, "bucket name %q is not a single path segment", bucket)
	}
	root := filepath.Join(dir, url.PathEscape(bucket))
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	f, err := os.Open(root)
	if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, errs.E(op, errs.Conflict, fmt.Errorf("blob directory %s is in use by another process: %w", root, err))
	}
	s := &Store{root: root, lock: f}
	if err := s.removeTemporaries(); err != nil {
		f.Close()
		return nil, errs.E(op, errs.Other, err)
	}
	return s, nil
}

// removeTemporaries deletes the pending files of Puts a crash interrupted.
func (s *Store) removeTemporaries() error {
	return filepath.WalkDir(s.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasPrefix(d.Name(), ".") {
			return os.Remove(path)
		}
		return nil
	})
}

func (s *Store) path(name string) string { return filepath.Join(s.root, filepath.FromSlash(name)) }

// Put stores data under name; see the package comment for how it commits.
func (s *Store) Put(ctx context.Context, name string, data []byte, opts ports.PutOptions) error {
	const op = "fileblobs.Put"
	if err := ports.CheckBlobName(name); err != nil {
		return errs.E(op, errs.Invalid, err)
	}
	if err := ctx.Err(); err != nil {
		return errs.E(op, kinds.Of(err), err)
	}
	final := s.path(name)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errs.E(op, classify(err), fmt.Errorf("object %s: %w", name, err))
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(final)+"."+hex.EncodeToString(rnd[:]))
	if err := writeSynced(tmp, data); err != nil {
		_ = os.Remove(tmp)
		return errs.E(op, errs.Unavailable, fmt.Errorf("object %s: %w", name, err))
	}
	var err error
	if opts.IfAbsent {
		err = os.Link(tmp, final)
		_ = os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return errs.Ef(op, errs.Exists, "object %s already exists", name)
		}
	} else {
		err = os.Rename(tmp, final)
		if err != nil {
			_ = os.Remove(tmp)
		}
	}
	if err != nil {
		return errs.E(op, classify(err), fmt.Errorf("object %s: %w", name, err))
	}
	if err := syncDir(dir); err != nil {
		return errs.E(op, errs.Unavailable, fmt.Errorf("object %s: %w", name, err))
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get returns the whole object; errs.NotFound if it does not exist.
func (s *Store) Get(ctx context.Context, name string) ([]byte, error) {
	const op = "fileblobs.Get"
	if err := ports.CheckBlobName(name); err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, errs.E(op, kinds.Of(err), err)
	}
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		k := classify(err)
		if k == errs.Conflict {
			k = errs.NotFound // a prefix of other objects, or under an object: no such object
		}
		return nil, errs.E(op, k, fmt.Errorf("object %s: %w", name, err))
	}
	return b, nil
}

// Delete removes the object; an absent object is not an error.
func (s *Store) Delete(ctx context.Context, name string) error {
	const op = "fileblobs.Delete"
	if err := ports.CheckBlobName(name); err != nil {
		return errs.E(op, errs.Invalid, err)
	}
	if err := ctx.Err(); err != nil {
		return errs.E(op, kinds.Of(err), err)
	}
	p := s.path(name)
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return nil // a prefix of other objects, not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errs.E(op, classify(err), fmt.Errorf("object %s: %w", name, err))
	}
	return nil
}

// List returns the names of the objects whose names start with prefix,
// sorted. It walks only the directory the prefix's complete segments name.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	const op = "fileblobs.List"
	if err := ctx.Err(); err != nil {
		return nil, errs.E(op, kinds.Of(err), err)
	}
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		if ports.CheckBlobName(prefix[:i]) != nil {
			return []string{}, nil // no valid object lives under it
		}
		start = s.path(prefix[:i])
	}
	names := []string{}
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == start {
				return filepath.SkipAll
			}
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") || strings.HasSuffix(d.Name(), ".metadata") {
			return nil
		}
		rel, err := filepath.Rel(s.root, path)
		if err != nil {
			return err
		}
		if n := filepath.ToSlash(rel); strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
		return nil
	})
	if err != nil {
		return nil, errs.E(op, classify(err), err)
	}
	slices.Sort(names)
	return names, nil
}

// Close releases the directory lock.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	if err != nil {
		return errs.E("fileblobs.Close", errs.Other, err)
	}
	return nil
}

// classify maps a filesystem error to an errs kind: absent is NotFound; a
// path component that is an object where a directory is needed (or the
// reverse) is Conflict; anything else (disk full, I/O) is Unavailable.
func classify(err error) errs.Kind {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errs.NotFound
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.EEXIST):
		return errs.Conflict
	}
	return errs.Unavailable
}
