// Package pubsublocal is the local stack's Pub/Sub: the real Pub/Sub
// client (package pubsubevents's Broker) talking gRPC to an in-process
// pstest server, with a bbolt journal so that no undelivered event is lost
// across a restart. It is a stand-in for Google's service, linked by the
// local stack and the tests, never by a function's production binary.
package pubsublocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// Project is the project id the local broker names its resources in.
const Project = "lensflow-local"

// Local is the embedded broker of the local stack and of tests: the real
// Pub/Sub client talking gRPC to an in-process pstest server, plus a bbolt
// journal that makes undelivered messages survive a restart.
//
// The journal keeps the topology (every topic and subscription spec ensured
// through Local) and one record per undelivered message and subscription,
// keyed by subscription and event id: written before a publish reaches the
// server, deleted when that subscription acks it, moved to the dead-letter
// subscription when the last attempt fails. Open re-creates the
// recorded topology on the fresh server and re-publishes every pending
// record (once per topic and event, marked with pubsubevents.ReplayAttr), so there is no
// separate step for callers: open, then Receive.
//
// Delivery is at least once: a crash between a handler's success and the
// journal delete, or a dead-lettering Local did not witness (a message
// nacked by a subscriber shutting down on its last attempt), leads to a
// redelivery after the next Open, never to a loss.
//
// pstest differences that Local papers over or documents: it ignores retry
// backoff, so Local waits NackDelay (default 100 ms * 2^(attempt-1), capped
// at 5 s) before nacking; it hands about one message per stream per 10 ms,
// so Local receives with 25 streams (about 2,000 events/s here); its own
// dead-lettering re-publishes the message every 10 ms forever, so Local
// dead-letters in the client (pubsubevents.Options.ClientDeadLetter); it never delivers
// push subscriptions (use eventhttp.Push); and it drops a message nobody has
// pulled for 10 minutes (the journal keeps it, and the next Open
// delivers it).
type Local struct {
	*pubsubevents.Broker
	srv    *pstest.Server
	conn   *grpc.ClientConn
	client *pubsub.Client
	j      *boltJournal
	once   sync.Once
}

// Option configures Open.
type Option func(*localConfig)

type localConfig struct {
	nackDelay func(attempt int) time.Duration
	logger    *slog.Logger
	streams   int
}

// WithNackDelay sets how long a failed delivery is held before it is nacked
// (tests use a few milliseconds).
func WithNackDelay(f func(attempt int) time.Duration) Option {
	return func(c *localConfig) { c.nackDelay = f }
}

// WithLogger sets the logger for warnings (ids only).
func WithLogger(l *slog.Logger) Option { return func(c *localConfig) { c.logger = l } }

// WithStreams sets the number of streaming pulls per Receive (default 25;
// pstest gives each about 100 messages a second).
func WithStreams(n int) Option { return func(c *localConfig) { c.streams = n } }

// ExponentialDelay returns base*2^(attempt-1), capped at max.
func ExponentialDelay(base, max time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}

// Open starts the local broker with its journal at journalPath
// (created if missing), re-creates the recorded topics and subscriptions and
// re-publishes every message that was not acked before the last Close or
// crash. Only one process may hold a journal at a time; a second Open
// on the same path fails with errs.Unavailable after a second.
func Open(ctx context.Context, journalPath string, opts ...Option) (*Local, error) {
	const op = "pubsublocal.Open"
	cfg := localConfig{nackDelay: ExponentialDelay(100*time.Millisecond, 5*time.Second), streams: 25}
	for _, o := range opts {
		o(&cfg)
	}
	j, err := openJournal(journalPath)
	if err != nil {
		return nil, errs.E(op, errs.Unavailable, err)
	}
	srv := pstest.NewServer()
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Close()
		j.db.Close()
		return nil, errs.E(op, errs.Unavailable, err)
	}
	client, err := pubsub.NewClient(ctx, Project, option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		srv.Close()
		j.db.Close()
		return nil, errs.E(op, errs.Unavailable, err)
	}
	rs := pubsub.DefaultReceiveSettings
	rs.NumGoroutines = cfg.streams
	rs.MaxOutstandingMessages = 1000
	ps := pubsub.DefaultPublishSettings
	ps.DelayThreshold = time.Millisecond
	b := pubsubevents.NewWithOptions(client, Project, pubsubevents.Options{
		ReceiveSettings:  &rs,
		PublishSettings:  &ps,
		NackDelay:        cfg.nackDelay,
		Logger:           cfg.logger,
		ClientDeadLetter: true,
	})
	l := &Local{Broker: b, srv: srv, conn: conn, client: client, j: j}
	if err := l.restore(ctx); err != nil {
		l.Close()
		return nil, errs.Wrap(op, err)
	}
	b.SetJournal(j)
	return l, nil
}

// restore re-creates the topology and re-publishes the pending messages.
func (l *Local) restore(ctx context.Context) error {
	topics, subs := l.j.topology()
	for _, t := range topics {
		if err := l.EnsureTopic(ctx, t); err != nil {
			return err
		}
	}
	for _, s := range subs {
		if err := l.EnsureSubscription(ctx, s); err != nil { // journal not attached yet: no re-recording
			return err
		}
	}
	pending, err := l.j.pending()
	if err != nil {
		return err
	}
	for _, p := range pending {
		attrs := make(map[string]string, len(p.Attrs)+1)
		for k, v := range p.Attrs {
			attrs[k] = v
		}
		attrs[pubsubevents.ReplayAttr] = strings.Join(p.subs, ",")
		if err := l.PublishRaw(ctx, p.Topic, p.Data, attrs); err != nil {
			return err
		}
	}
	return nil
}

// Pending returns how many (subscription, event) deliveries the journal
// still holds: published but not yet acked.
func (l *Local) Pending() (int, error) {
	n := 0
	err := l.j.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketPending).Stats().KeyN
		return nil
	})
	return n, err
}

// Close stops the publishers, the client and the server, and closes the
// journal. Unacked messages stay in the journal for the next Open.
func (l *Local) Close() error {
	var err error
	l.once.Do(func() {
		err = errors.Join(l.Broker.Close(), l.client.Close(), l.srv.Close(), l.j.db.Close())
		_ = l.conn.Close() // normally already closed by the client
	})
	if err != nil {
		return errs.E("pubsublocal.Local.Close", errs.Unavailable, err)
	}
	return nil
}

var (
	bucketTopics  = []byte("topics")
	bucketSubs    = []byte("subscriptions")
	bucketPending = []byte("pending")
)

// record is one pending message for one subscription.
type record struct {
	Topic string            `json:"topic"`
	Data  []byte            `json:"data,omitempty"`
	Attrs map[string]string `json:"attrs"`
	subs  []string          // filled by pending(): every subscription holding it
}

// boltJournal implements journal over a bbolt file.
type boltJournal struct {
	db *bolt.DB

	mu   sync.RWMutex
	subs map[string]ports.SubscriptionSpec // normalized specs by name
}

func openJournal(path string) (*boltJournal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("journal directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open journal (is another process using it?): %w", err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	j := &boltJournal{db: db, subs: map[string]ports.SubscriptionSpec{}}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTopics, bucketSubs, bucketPending} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketSubs).ForEach(func(k, v []byte) error {
			var s ports.SubscriptionSpec
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("journal subscription record: %w", err)
			}
			j.subs[s.Name] = s
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return j, nil
}

func (j *boltJournal) topology() (topics []string, subs []ports.SubscriptionSpec) {
	_ = j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTopics).ForEach(func(k, _ []byte) error {
			topics = append(topics, string(k))
			return nil
		})
	})
	j.mu.RLock()
	defer j.mu.RUnlock()
	for _, s := range j.subs {
		subs = append(subs, s)
	}
	slices.SortFunc(subs, func(a, b ports.SubscriptionSpec) int { return strings.Compare(a.Name, b.Name) })
	return topics, subs
}

func (j *boltJournal) RecordTopic(topic string) error {
	return j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketTopics).Put([]byte(topic), nil) })
}

func (j *boltJournal) RecordSubscription(s ports.SubscriptionSpec) error {
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSubs).Put([]byte(s.Name), v) }); err != nil {
		return err
	}
	j.mu.Lock()
	j.subs[s.Name] = s
	j.mu.Unlock()
	return nil
}

// subscribers returns the subscriptions that receive messages of topic:
// those on it, and the dead-letter subscriptions of specs whose dead-letter
// topic it is.
func (j *boltJournal) subscribers(topic string) []string {
	j.mu.RLock()
	defer j.mu.RUnlock()
	var out []string
	for _, s := range j.subs {
		if s.Topic == topic {
			out = append(out, s.Name)
		}
		if s.DeadLetterTopic == topic {
			out = append(out, pubsubevents.DeadLetterSubscription(s))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// key is subscription NUL event id; neither contains NUL.
func key(sub, id string) []byte { return []byte(sub + "\x00" + id) }

func (j *boltJournal) BeforePublish(topic, id string, data []byte, attrs map[string]string) (func(), error) {
	subs := j.subscribers(topic)
	if len(subs) == 0 {
		return func() {}, nil
	}
	v, err := json.Marshal(record{Topic: topic, Data: data, Attrs: attrs})
	if err != nil {
		return nil, err
	}
	err = j.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPending)
		for _, s := range subs {
			if err := b.Put(key(s, id), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("journal publish: %w", err)
	}
	return func() { j.delete(subs, id) }, nil
}

func (j *boltJournal) delete(subs []string, id string) {
	_ = j.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPending)
		for _, s := range subs {
			if err := b.Delete(key(s, id)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (j *boltJournal) has(sub, id string) bool {
	var ok bool
	_ = j.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketPending).Get(key(sub, id)) != nil
		return nil
	})
	return ok
}

// onDelivery skips replayed copies meant for other subscriptions, and makes
// sure every message the server delivers is in the journal (so a message
// the server dead-lettered on its own is still kept on the dead-letter
// subscription).
func (j *boltJournal) OnDelivery(sub, id string, m *pubsub.Message) bool {
	if j.has(sub, id) {
		return false
	}
	if targets, ok := m.Attributes[pubsubevents.ReplayAttr]; ok && !slices.Contains(strings.Split(targets, ","), sub) {
		return true
	}
	topic := j.topicOf(sub)
	if topic == "" {
		return false
	}
	attrs := make(map[string]string, len(m.Attributes))
	for k, v := range m.Attributes {
		if k != pubsubevents.ReplayAttr {
			attrs[k] = v
		}
	}
	if v, err := json.Marshal(record{Topic: topic, Data: m.Data, Attrs: attrs}); err == nil {
		_ = j.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketPending).Put(key(sub, id), v) })
	}
	return false
}

// topicOf returns the topic a known subscription reads.
func (j *boltJournal) topicOf(sub string) string {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if s, ok := j.subs[sub]; ok {
		return s.Topic
	}
	for _, s := range j.subs {
		if pubsubevents.DeadLetterSubscription(s) == sub {
			return s.DeadLetterTopic
		}
	}
	return ""
}

// onDeadLetter moves the record to the dead-letter subscription: the
// message is about to be published to the dead-letter topic.
func (j *boltJournal) OnDeadLetter(sub, id string) {
	j.mu.RLock()
	s, ok := j.subs[sub]
	j.mu.RUnlock()
	if !ok {
		return
	}
	_ = j.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPending)
		v := b.Get(key(sub, id))
		if v == nil {
			return nil
		}
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		r.Topic = s.DeadLetterTopic
		nv, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put(key(pubsubevents.DeadLetterSubscription(s), id), nv); err != nil {
			return err
		}
		return b.Delete(key(sub, id))
	})
}

func (j *boltJournal) OnAck(sub, id string) { j.delete([]string{sub}, id) }

// pending returns the journal's records grouped by topic and event id, each
// with the subscriptions still waiting for it.
func (j *boltJournal) pending() ([]record, error) {
	var out []record
	idx := map[string]int{}
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			sub, id, ok := bytes.Cut(k, []byte{0})
			if !ok {
				return nil
			}
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("journal record: %w", err)
			}
			g := r.Topic + "\x00" + string(id)
			if i, ok := idx[g]; ok {
				out[i].subs = append(out[i].subs, string(sub))
				return nil
			}
			r.subs = []string{string(sub)}
			idx[g] = len(out)
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// Addr is the address the in-process Pub/Sub server listens on (loopback),
// for programs beside the local stack that pull with the real client
// through PUBSUB_EMULATOR_HOST, as the lab's lathe cell does. Messages they
// acknowledge stay in the journal and may be delivered again after a
// restart: such consumers must be idempotent, as with Pub/Sub itself.
func (l *Local) Addr() string { return l.srv.Addr }
