// Package boltdocs is the embedded ports.Documents: a transactional document
// store in one bbolt file, for local runs and tests. It keeps Firestore's
// semantics where lensflow relies on them (serializable transactions, all
// reads before writes, Create failing the whole transaction, typed query
// comparisons) so that code tested here behaves the same on Firestore.
//
// Each collection is a bucket; each document is the JSON encoding of the Go
// value (a JSON object) under its id. Transactions run under bbolt's single
// writer, so they never conflict; commits are fsynced before RunTransaction
// returns. A lone transaction commits on its own; concurrent transactions are
// grouped into one commit (bbolt's Batch), which is why fn may run more than
// once: if one function of a group fails, the others run again.
//
// The file is locked while open: a second process that opens it fails with
// errs.Unavailable after LockTimeout instead of hanging.
package boltdocs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrs "go.etcd.io/bbolt/errors"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/errs/kinds"
	"github.com/lensflow/lensflow/shared/ports"
)

// LockTimeout is how long Open waits for another process to release the file.
var LockTimeout = 2 * time.Second

// Store is a ports.Documents in a bbolt file. It is safe for concurrent use.
type Store struct {
	db *bolt.DB
	// batch groups concurrent transactions into one commit (db.Batch); when
	// false every transaction commits alone (db.Update).
	batch bool
	// inflight counts running transactions: a lone transaction commits
	// alone at once instead of waiting for a batch to fill.
	inflight atomic.Int32
}

var _ ports.Documents = (*Store)(nil)

// Open opens (creating if needed, with mode 0600) the store in the file at path.
func Open(path string) (*Store, error) {
	const op = "boltdocs.Open"
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, errs.E(op, errs.Other, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout})
	if err != nil {
		switch {
		case errors.Is(err, bolterrs.ErrTimeout):
			return nil, errs.Ef(op, errs.Unavailable, "%s is locked by another process (waited %v): %w", path, LockTimeout, err)
		case errors.Is(err, fs.ErrPermission):
			return nil, errs.E(op, errs.Permission, err)
		}
		return nil, errs.E(op, errs.Other, err)
	}
	// Batch timing: a short delay keeps a lone writer's latency low, while
	// concurrent writers still share commits (see BenchmarkTransaction).
	db.MaxBatchDelay = 2 * time.Millisecond
	return &Store{db: db, batch: true}, nil
}

// Close closes the file. Transactions in flight finish first.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return errs.E("boltdocs.Close", errs.Other, err)
	}
	return nil
}

// Get decodes collection/id into dst.
func (s *Store) Get(ctx context.Context, collection, id string, dst any) error {
	const op = "boltdocs.Get"
	if err := ports.CheckDocumentPath(op, collection, id); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return ctxErr(op, err)
	}
	var data []byte
	err := s.db.View(func(btx *bolt.Tx) error {
		data = lookup(btx, collection, id)
		return nil
	})
	if err != nil {
		return storeErr(op, err)
	}
	return decode(op, collection, data, dst)
}

// Query returns the documents of q.Collection that match q, in q's order.
func (s *Store) Query(ctx context.Context, q ports.Query) ([]ports.Doc, error) {
	const op = "boltdocs.Query"
	cq, err := compileQuery(op, q)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(op, err)
	}
	var docs []ports.Doc
	err = s.db.View(func(btx *bolt.Tx) error {
		b := btx.Bucket([]byte(q.Collection))
		if b == nil {
			return nil
		}
		var err error
		docs, err = cq.run(ctx, b)
		return err
	})
	if err != nil {
		if errs.KindOf(err) != errs.Other {
			return nil, err
		}
		return nil, storeErr(op, err)
	}
	return docs, nil
}

// RunTransaction runs fn in a serializable transaction and commits its
// writes durably, or none of them if fn (or a Create) fails. fn may be called
// more than once.
func (s *Store) RunTransaction(ctx context.Context, fn func(ctx context.Context, tx ports.Tx) error) error {
	const op = "boltdocs.RunTransaction"
	if err := ctx.Err(); err != nil {
		return ctxErr(op, err)
	}
	var fnErr error // fn's own error (or a sticky tx error), as opposed to bbolt's
	run := func(btx *bolt.Tx) error {
		fnErr = nil
		if err := ctx.Err(); err != nil {
			fnErr = ctxErr(op, err)
			return fnErr
		}
		tx := &txn{btx: btx}
		err := fn(ctx, tx)
		tx.done = true
		if err == nil {
			err = tx.failed // a Create conflict or a read after write, even if fn ignored it
		}
		fnErr = err
		return err
	}
	var err error
	if n := s.inflight.Add(1); s.batch && n > 1 {
		err = s.db.Batch(run)
	} else {
		err = s.db.Update(run)
	}
	s.inflight.Add(-1)
	switch {
	case err == nil:
		return nil
	case fnErr != nil && errors.Is(err, fnErr):
		return fnErr // fn's error as it returned it, kind and all
	}
	return storeErr(op, err)
}

// txn is a ports.Tx over one bbolt write transaction. Writes go straight to
// the bbolt transaction, which discards them unless it commits.
type txn struct {
	btx    *bolt.Tx
	wrote  bool  // a write happened: no more reads (Firestore's rule)
	failed error // sticky error that fails the transaction at commit
	done   bool  // fn returned: the tx must not be used any more
}

func (t *txn) fail(err error) error {
	if t.failed == nil {
		t.failed = err
	}
	return err
}

func (t *txn) usable(op string) error {
	if t.done {
		return errs.Ef(op, errs.Invalid, "transaction used after its function returned")
	}
	return nil
}

// Get decodes collection/id into dst. It must come before any write.
func (t *txn) Get(collection, id string, dst any) error {
	const op = "boltdocs.Tx.Get"
	if err := t.usable(op); err != nil {
		return err
	}
	if err := ports.CheckDocumentPath(op, collection, id); err != nil {
		return err
	}
	if t.wrote {
		return t.fail(errs.Ef(op, errs.Invalid, "read after write in transaction: all reads must come before the first write (Firestore rule)"))
	}
	return decode(op, collection, lookup(t.btx, collection, id), dst)
}

// Create writes a new document; errs.Exists (failing the whole
// transaction) if collection/id exists.
func (t *txn) Create(collection, id string, v any) error {
	const op = "boltdocs.Tx.Create"
	data, b, err := t.prepareWrite(op, collection, id, v)
	if err != nil {
		return err
	}
	if b.Get([]byte(id)) != nil {
		return t.fail(errs.Ef(op, errs.Exists, "document already exists in collection %q", collection))
	}
	return t.put(op, b, id, data)
}

// Set creates or replaces collection/id.
func (t *txn) Set(collection, id string, v any) error {
	const op = "boltdocs.Tx.Set"
	data, b, err := t.prepareWrite(op, collection, id, v)
	if err != nil {
		return err
	}
	return t.put(op, b, id, data)
}

// Delete removes collection/id; an absent document is not an error.
func (t *txn) Delete(collection, id string) error {
	const op = "boltdocs.Tx.Delete"
	if err := t.usable(op); err != nil {
		return err
	}
	if err := ports.CheckDocumentPath(op, collection, id); err != nil {
		return t.fail(err)
	}
	t.wrote = true
	b := t.btx.Bucket([]byte(collection))
	if b == nil {
		return nil
	}
	if err := b.Delete([]byte(id)); err != nil {
		return t.fail(storeErr(op, err))
	}
	return nil
}

func (t *txn) prepareWrite(op, collection, id string, v any) ([]byte, *bolt.Bucket, error) {
	if err := t.usable(op); err != nil {
		return nil, nil, err
	}
	if err := ports.CheckDocumentPath(op, collection, id); err != nil {
		return nil, nil, t.fail(err)
	}
	data, err := encode(op, v)
	if err != nil {
		return nil, nil, t.fail(err)
	}
	t.wrote = true
	b, err := t.btx.CreateBucketIfNotExists([]byte(collection))
	if err != nil {
		return nil, nil, t.fail(storeErr(op, err))
	}
	return data, b, nil
}

func (t *txn) put(op string, b *bolt.Bucket, id string, data []byte) error {
	if err := b.Put([]byte(id), data); err != nil {
		return t.fail(storeErr(op, err))
	}
	return nil
}

// lookup returns a copy of the stored document, or nil.
func lookup(btx *bolt.Tx, collection, id string) []byte {
	b := btx.Bucket([]byte(collection))
	if b == nil {
		return nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil
	}
	return bytes.Clone(v) // bbolt's memory is valid only during the transaction
}

func decode(op, collection string, data []byte, dst any) error {
	if data == nil {
		return errs.Ef(op, errs.NotFound, "no such document in collection %q", collection)
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return errs.Ef(op, errs.Other, "decoding document of collection %q: %w", collection, err)
	}
	return nil
}

// encode returns the JSON encoding of v, which must be a JSON object.
func encode(op string, v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, errs.Ef(op, errs.Invalid, "encoding document: %w", err)
	}
	if len(data) == 0 || data[0] != '{' {
		return nil, errs.Ef(op, errs.Invalid, "document must encode to a JSON object, not %s", jsonKind(data))
	}
	if nestedArray(data) {
		return nil, errs.Ef(op, errs.Invalid, "an array directly inside an array is not supported (Firestore rule)")
	}
	return data, nil
}

// nestedArray reports whether the JSON in data has an array directly inside
// an array, which Firestore cannot store.
func nestedArray(data []byte) bool {
	if !bytes.Contains(data, []byte("[[")) && !bytes.Contains(data, []byte(",[")) {
		return false // json.Marshal output has no spaces: no "[" follows "[" or ","
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []json.Delim
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		d, ok := tok.(json.Delim)
		if !ok {
			continue
		}
		switch d {
		case '[', '{':
			if d == '[' && len(stack) > 0 && stack[len(stack)-1] == '[' {
				return true
			}
			stack = append(stack, d)
		default:
			stack = stack[:len(stack)-1]
		}
	}
}

func jsonKind(data []byte) string {
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// ctxErr classifies the error of a context that ended, by lensflow's one
// rule (package kinds: cancelled or out of time, it is Unavailable).
func ctxErr(op string, err error) error {
	return errs.E(op, kinds.Of(err), err)
}

func storeErr(op string, err error) error {
	if errors.Is(err, bolterrs.ErrDatabaseNotOpen) {
		return errs.Ef(op, errs.Unavailable, "store closed: %w", err)
	}
	return errs.E(op, errs.Other, fmt.Errorf("bbolt: %w", err))
}
