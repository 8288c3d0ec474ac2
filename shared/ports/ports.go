// Package ports declares the narrow interfaces lensflow's functions use to
// reach the outside world: documents with transactions, blobs, events and
// envelope encryption. Each interface has a Google Cloud adapter and an
// embedded adapter (sibling packages under shared/adapters), both held to one
// conformance suite (shared/ports/*test).
//
// Errors returned by adapters are classified with package errs:
// errs.NotFound for a missing document or object, errs.Exists for a create
// or a put-if-absent that found one, errs.Unavailable for transient backend
// failures, errs.Conflict for transaction contention that outlived retries.
package ports

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

// Documents is a document store with serializable transactions (Firestore
// semantics). Documents are Go values encoded as JSON objects; queries and
// filters use their top-level JSON field names.
type Documents interface {
	// Get decodes the document collection/id into dst (errs.NotFound if absent).
	Get(ctx context.Context, collection, id string, dst any) error
	// Query returns the documents matching q, in q's order.
	Query(ctx context.Context, q Query) ([]Doc, error)
	// RunTransaction runs fn atomically. fn may be called more than once
	// (on contention) and must have no effects outside tx. Inside fn, every
	// Get must come before the first write, as Firestore requires.
	RunTransaction(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	Close() error
}

// Tx is a transaction on Documents. Writes become visible only when the
// transaction commits; nothing is written if fn returns an error.
type Tx interface {
	Get(collection, id string, dst any) error  // errs.NotFound if absent
	Create(collection, id string, v any) error // errs.Exists (at commit or at once) if present
	Set(collection, id string, v any) error    // create or replace
	Delete(collection, id string) error        // no error if absent
}

// Query selects documents of one collection. Where terms are ANDed.
// Comparisons between values of different JSON types never match.
//
// Results are in (OrderBy, document id) order, both in the query's
// direction, as Firestore orders by a field and then by __name__; with no
// OrderBy, by document id alone. After starts the results strictly after
// a position in that order, so a caller pages through a query by passing
// the cursor of the last document it got (CursorOf) with the same query.
type Query struct {
	Collection string
	Where      []Where
	OrderBy    string // top-level field; empty means document id
	Desc       bool
	Limit      int     // 0 means no limit
	After      *Cursor // nil: from the start
}

// Cursor is a position in a query's order: the OrderBy field's value (nil
// when the query orders by id alone) and the document id, which breaks
// ties. Value is a string, bool or number, as in Where.
type Cursor struct {
	Value any
	ID    string
}

// CheckAfter is the rule every adapter applies to q.After before it reads
// the value in its own types: a cursor names a document, and a query
// ordered by id takes no value. Errors are errs.Invalid on the field
// "after", with op.
func (q Query) CheckAfter(op string) error {
	switch {
	case q.After == nil:
		return nil
	case q.After.ID == "":
		return errs.Field(op, "after", "a cursor needs the document id")
	case q.OrderBy == "" && q.After.Value != nil:
		return errs.Field(op, "after", "a query ordered by id takes a cursor without a value")
	}
	return nil
}

// CursorOf returns the cursor of document d in a query ordered by orderBy
// (empty: by id): the query's next page starts after it. A document without
// the field (which such a query never returns) or with a value that is not
// a string, bool or number is errs.Invalid.
func CursorOf(d Doc, orderBy string) (Cursor, error) {
	c := Cursor{ID: d.ID}
	if orderBy == "" {
		return c, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(d.Data, &fields); err != nil {
		return c, errs.Ef("ports.CursorOf", errs.Invalid, "document %q is not a JSON object: %v", d.ID, err)
	}
	raw, ok := fields[orderBy]
	if !ok {
		return c, errs.Ef("ports.CursorOf", errs.Invalid, "document %q has no field %q", d.ID, orderBy)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c.Value); err != nil {
		return c, errs.Ef("ports.CursorOf", errs.Invalid, "field %q of document %q: %v", orderBy, d.ID, err)
	}
	switch c.Value.(type) {
	case string, bool, json.Number:
		return c, nil
	}
	return c, errs.Ef("ports.CursorOf", errs.Invalid, "field %q of document %q is not a string, bool or number", orderBy, d.ID)
}

// Where is one filter term. Op is one of "==", "<", "<=", ">", ">=".
// Value is a string, bool, or a number (int, int64, float64).
type Where struct {
	Field string
	Op    string
	Value any
}

// Doc is one query result.
type Doc struct {
	ID   string
	Data json.RawMessage // the document as a JSON object
}

// Decode decodes the document into dst.
func (d Doc) Decode(dst any) error { return json.Unmarshal(d.Data, dst) }

// Blobs is an object store (Cloud Storage semantics: whole-object writes that
// appear atomically, never half-written).
type Blobs interface {
	// Put stores data under name. With IfAbsent, an existing object makes it
	// fail with errs.Exists and leaves the object unchanged.
	Put(ctx context.Context, name string, data []byte, opts PutOptions) error
	// Get returns the whole object (errs.NotFound if absent).
	Get(ctx context.Context, name string) ([]byte, error)
	// Delete removes the object; deleting an absent object is not an error.
	Delete(ctx context.Context, name string) error
	// List returns the names under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	Close() error
}

// PutOptions modify Put.
type PutOptions struct {
	ContentType string
	IfAbsent    bool
}

// Sealer is authenticated encryption with associated data. lensflow's
// sealers are envelope AEADs: a fresh data key per message, wrapped by a
// key-encryption key held elsewhere (Cloud KMS, or a local keyset file).
// Decrypt fails if the ciphertext or the associated data changed.
// The method set is tink.AEAD's.
type Sealer interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// ErrNotAuthentic is wrapped by a Sealer's Decrypt error, of kind
// errs.Other, when the ciphertext or its associated data is not what was
// sealed: changed, swapped or damaged. A failure of the key service is not
// wrapped with it and keeps its own kind (errs.Unavailable for an outage),
// so that a caller never takes an outage for a damaged object.
var ErrNotAuthentic = errors.New("ciphertext or associated data is not authentic")

// AssociatedData builds unambiguous associated data from parts: each part is
// preceded by its length as a big-endian uint32, after a version byte, so
// ("ab", "c") and ("a", "bc") differ, as do different part counts. Use it to
// bind a ciphertext to its clinic, patient and object ids.
func AssociatedData(parts ...string) []byte {
	n := 1
	for _, p := range parts {
		n += 4 + len(p)
	}
	var b bytes.Buffer
	b.Grow(n)
	b.WriteByte(1) // format version
	var l [4]byte
	for _, p := range parts {
		binary.BigEndian.PutUint32(l[:], uint32(len(p)))
		b.Write(l[:])
		b.WriteString(p)
	}
	return b.Bytes()
}

// Event is a CloudEvent as lensflow publishes it. Events carry ids only,
// never PHI. ID is our own event id: Pub/Sub may mint a new message id on a
// publisher retry, so consumers deduplicate on ID.
type Event struct {
	ID      string          // CloudEvent id (ours; stable across redelivery)
	Type    string          // e.g. "com.lensflow.scan.received.v1"
	Source  string          // e.g. "/lensflow/functions/scans"
	Subject string          // e.g. "scans/<id>"
	Time    time.Time       // when the fact happened
	Data    json.RawMessage // JSON object of ids
	// DataSchema is the CloudEvent dataschema attribute: the absolute URI
	// of the JSON Schema that Data follows (shared/eventschema), e.g.
	// "http://127.0.0.1:8080/schemas/events/com.lensflow.scan.received.v1.json".
	// Empty when the event names none.
	DataSchema string
	Extras     map[string]string // extra CloudEvent extensions (e.g. traceparent); lower-case keys
}

// Publisher publishes events to a topic (a bare topic id, e.g. "scan-received").
// A nil error means the broker has the event durably.
type Publisher interface {
	Publish(ctx context.Context, topic string, e Event) error
	Close() error
}

// Delivery is one delivery of an event to a subscription.
type Delivery struct {
	Event        Event
	MessageID    string
	Subscription string
	Attempt      int // 1 for the first delivery, when the broker counts attempts
	PublishTime  time.Time
}

// SubscriptionSpec describes a subscription as lensflow runs it: each has a
// dead-letter topic that takes messages after MaxDeliveryAttempts.
type SubscriptionSpec struct {
	Name                string // subscription id
	Topic               string // topic id
	DeadLetterTopic     string // topic id
	MaxDeliveryAttempts int    // 5..100
	AckDeadline         time.Duration
}

// Broker is the events backend as the local stack and tests drive it:
// administration and pull delivery. Functions only need Publisher.
type Broker interface {
	Publisher
	EnsureTopic(ctx context.Context, topic string) error
	EnsureSubscription(ctx context.Context, s SubscriptionSpec) error
	// Receive delivers messages of subscription to fn until ctx ends. A nil
	// return acks; an error nacks (the broker redelivers, and dead-letters
	// after MaxDeliveryAttempts).
	Receive(ctx context.Context, subscription string, fn func(ctx context.Context, d Delivery) error) error
}
