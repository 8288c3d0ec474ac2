// Package outbox makes "change the state and emit the event" atomic: an event
// is written into the outbox collection in the same transaction as the change
// that caused it, then published and removed. A crash or a failed publish
// between commit and publish loses nothing: the entry stays until a later
// Flush publishes it. Delivery is therefore at least once, and consumers
// deduplicate on the event id.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/tracing"
)

// Collection holds pending events.
const Collection = "outbox"

// Entry is one pending event.
type Entry struct {
	Topic   string      `json:"topic"`
	Event   ports.Event `json:"event"`
	Created time.Time   `json:"created"`
}

// Add records e for topic inside tx. The event's ID is the entry's id. The
// event carries the traceparent of ctx's span (the CloudEvent extension
// "traceparent", Pub/Sub attribute ce-traceparent), so its consumers
// continue the trace that caused it, whoever publishes it later.
func Add(ctx context.Context, tx ports.Tx, topic string, e ports.Event) error {
	e = tracing.Stamp(ctx, e)
	return tx.Create(Collection, e.ID, Entry{Topic: topic, Event: e, Created: e.Time})
}

// Relay publishes outbox entries.
type Relay struct {
	Docs      ports.Documents
	Publisher ports.Publisher
	Log       *slog.Logger
}

// Send publishes the entries with the given event ids now (typically right
// after the transaction that added them committed) and removes them. Entries
// that fail to publish stay for Flush; the first error is returned.
func (r *Relay) Send(ctx context.Context, ids ...string) error {
	var first error
	for _, id := range ids {
		var e Entry
		if err := r.Docs.Get(ctx, Collection, id, &e); err != nil {
			continue // already sent by someone else
		}
		if err := r.publish(ctx, id, e); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// FlushBatch is how many entries one query of Flush reads.
var FlushBatch = 200

// Flush publishes every entry older than minAge, oldest first, and removes
// it. It reads the outbox in batches of FlushBatch by created (a single
// field: no composite index), each starting after the last entry read
// (published and deleted or not), and stops at the first entry younger
// than minAge. It returns how many were published and the errors met.
func (r *Relay) Flush(ctx context.Context, minAge time.Duration) (int, error) {
	n := 0
	var all []error
	cutoff := time.Now().Add(-minAge)
	err := paging.Batches(ctx, r.Docs, ports.Query{Collection: Collection, OrderBy: "created"}, FlushBatch,
		func(docs []ports.Doc) error {
			for _, d := range docs {
				var e Entry
				if err := d.Decode(&e); err != nil {
					all = append(all, err)
					continue
				}
				if e.Created.After(cutoff) {
					return paging.ErrStop // the rest are younger still
				}
				if err := r.publish(ctx, d.ID, e); err != nil {
					all = append(all, err)
					continue
				}
				n++
			}
			return nil
		})
	if err != nil {
		all = append(all, err)
	}
	return n, errors.Join(all...)
}

func (r *Relay) publish(ctx context.Context, id string, e Entry) error {
	if err := r.Publisher.Publish(ctx, e.Topic, e.Event); err != nil {
		if r.Log != nil {
			r.Log.WarnContext(ctx, "outbox publish failed; will retry", "eventId", id, "topic", e.Topic, "error", err.Error())
		}
		return err
	}
	return r.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Delete(Collection, id)
	})
}
