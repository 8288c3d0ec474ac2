// Package pubsubevents is the Google Cloud Pub/Sub adapter of ports.Broker
// (and so of ports.Publisher), built on cloud.google.com/go/pubsub/v2. The
// same code runs against production, the official Pub/Sub emulator and the
// in-process fake pstest; package pubsublocal wraps the fake with a bbolt
// journal so that the local stack loses no undelivered event across a
// restart.
//
// Events travel in the CloudEvents Pub/Sub binding, binary mode (package
// wire): data is Event.Data, attributes are ce-id, ce-type, ce-source,
// ce-subject, ce-time, ce-specversion and ce-<key> for each extension.
//
// Every subscription made by EnsureSubscription has a dead-letter topic and
// a subscription on it named DeadLetterSubscription(spec), so dead letters
// are kept for inspection and replay.
//
// Malformed messages (no ce-id, ce-type or ce-source, bad ce-time) never
// reach the handler: Receive logs the subscription and message id and nacks
// them, so after MaxDeliveryAttempts they land on the dead-letter topic like
// any other poison message, where they can be examined. They are not acked
// and dropped: losing a message silently is worse than a few redeliveries.
// On a subscription without a dead-letter policy (the dead-letter
// subscriptions themselves) a malformed message therefore stays, redelivered
// with the retry policy's backoff, until an operator removes it.
//
// Checked behaviour of the backends: production and the official emulator
// dead-letter on the server (the emulator honours dead-letter policies and
// counts delivery attempts); pstest v2.9.0 re-publishes a dead-lettered
// message every 10 ms forever, so brokers over pstest set
// Options.ClientDeadLetter (package pubsublocal does).
package pubsubevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents/cebinding"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/errs/kinds"
	"github.com/lensflow/lensflow/shared/ports"
)

// Defaults applied by EnsureSubscription and Receive.
const (
	// DefaultMaxDeliveryAttempts applies when a spec leaves MaxDeliveryAttempts 0.
	DefaultMaxDeliveryAttempts = 5
	// DefaultAckDeadline applies when a spec leaves AckDeadline 0.
	DefaultAckDeadline = 60 * time.Second
	// DeadLetterSuffix names the subscription kept on every dead-letter topic.
	DeadLetterSuffix = "-sub"
	// MaxAttemptsLabel is the subscription label holding MaxDeliveryAttempts
	// under Options.ClientDeadLetter.
	MaxAttemptsLabel = "lensflow-max-delivery-attempts"
	// serverMaxAttempts is the server-side backstop under ClientDeadLetter.
	serverMaxAttempts = 100
	// deadLetterRetention is how long a dead-letter subscription keeps messages (the maximum).
	deadLetterRetention = 7 * 24 * time.Hour
)

// DeadLetterSubscription returns the id of the subscription EnsureSubscription
// keeps on s's dead-letter topic: "<DeadLetterTopic>-sub".
func DeadLetterSubscription(s ports.SubscriptionSpec) string {
	return s.DeadLetterTopic + DeadLetterSuffix
}

// Options tune a Broker. The zero value is right for production.
type Options struct {
	// ReceiveSettings, if set, replaces pubsub.DefaultReceiveSettings for Receive.
	ReceiveSettings *pubsub.ReceiveSettings
	// PublishSettings, if set, replaces pubsub.DefaultPublishSettings.
	PublishSettings *pubsub.PublishSettings
	// MinRetryBackoff and MaxRetryBackoff are the server-side retry policy
	// EnsureSubscription sets (defaults 10 s and 600 s).
	MinRetryBackoff, MaxRetryBackoff time.Duration
	// NackDelay, if set, is how long Receive holds a failed message before
	// nacking it, by delivery attempt (1, 2, ...). Servers that honour the
	// retry policy need none; pstest ignores it, so the local broker sets one.
	NackDelay func(attempt int) time.Duration
	// ClientDeadLetter makes Receive dead-letter in the client: on the last
	// allowed attempt a failed message is published to the dead-letter topic
	// and acked. The server-side policy is then set to 100 attempts (a
	// backstop) and the real threshold kept in the subscription label
	// MaxAttemptsLabel. Production leaves this off; the local broker needs it
	// because pstest (v2.9.0) re-publishes a dead-lettered message to the
	// dead-letter topic every 10 ms forever (its internal ack uses the message
	// id instead of the ack id, so the message is never removed).
	ClientDeadLetter bool
	// Logger receives warnings about malformed messages and handler panics
	// (ids only). Defaults to slog.Default().
	Logger *slog.Logger
}

// Broker is ports.Broker over a Pub/Sub client. Its methods are safe for
// concurrent use. It does not own the client: Close stops the publishers,
// and the caller closes the client afterwards.
type Broker struct {
	client  *pubsub.Client
	project string
	opts    Options
	log     *slog.Logger
	journal Journal // nil except for the local broker

	mu     sync.Mutex
	pubs   map[string]*pubsub.Publisher
	closed bool
}

var _ ports.Broker = (*Broker)(nil)

// New returns a Broker for projectID using client, with production defaults.
func New(client *pubsub.Client, projectID string) *Broker {
	return NewWithOptions(client, projectID, Options{})
}

// NewWithOptions returns a Broker with opts.
func NewWithOptions(client *pubsub.Client, projectID string, opts Options) *Broker {
	if opts.MinRetryBackoff == 0 {
		opts.MinRetryBackoff = 10 * time.Second
	}
	if opts.MaxRetryBackoff == 0 {
		opts.MaxRetryBackoff = 600 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Broker{client: client, project: projectID, opts: opts, log: log, pubs: map[string]*pubsub.Publisher{}}
}

// Project returns the project id the broker names its resources in.
func (b *Broker) Project() string { return b.project }

func (b *Broker) topicName(id string) string {
	return fmt.Sprintf("projects/%s/topics/%s", b.project, id)
}
func (b *Broker) subName(id string) string {
	return fmt.Sprintf("projects/%s/subscriptions/%s", b.project, id)
}

// Publish publishes e to topic and waits until the server has it.
// Invalid events are errs.Invalid; transient failures errs.Unavailable.
func (b *Broker) Publish(ctx context.Context, topic string, e ports.Event) error {
	const op = "pubsubevents.Publish"
	if topic == "" {
		return errs.Field(op, "topic", "topic is required")
	}
	data, attrs, err := cebinding.Encode(e)
	if err != nil {
		return errs.E(op, errs.Invalid, err)
	}
	if b.journal != nil {
		undo, err := b.journal.BeforePublish(topic, e.ID, data, attrs)
		if err != nil {
			return errs.E(op, errs.Unavailable, err)
		}
		if err := b.PublishRaw(ctx, topic, data, attrs); err != nil {
			undo()
			return errs.Wrap(op, err)
		}
		return nil
	}
	if err := b.PublishRaw(ctx, topic, data, attrs); err != nil {
		return errs.Wrap(op, err)
	}
	return nil
}

// PublishRaw publishes one message of data with attrs as they are, not as
// an event (the dead-lettering, and the local broker's replay of what its
// journal kept), and waits for the server's ack.
func (b *Broker) PublishRaw(ctx context.Context, topic string, data []byte, attrs map[string]string) error {
	const op = "pubsubevents.publish"
	p, err := b.publisher(topic)
	if err != nil {
		return err
	}
	if _, err := p.Publish(ctx, &pubsub.Message{Data: data, Attributes: attrs}).Get(ctx); err != nil {
		return classify(op, err)
	}
	return nil
}

func (b *Broker) publisher(topic string) (*pubsub.Publisher, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errs.Ef("pubsubevents.publisher", errs.Unavailable, "broker is closed")
	}
	p := b.pubs[topic]
	if p == nil {
		p = b.client.Publisher(topic)
		if b.opts.PublishSettings != nil {
			p.PublishSettings = *b.opts.PublishSettings
		}
		b.pubs[topic] = p
	}
	return p, nil
}

// Close flushes and stops every publisher. Later publishes fail with
// errs.Unavailable. It does not close the client. Close is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	pubs := b.pubs
	b.pubs = map[string]*pubsub.Publisher{}
	b.closed = true
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Go(p.Stop)
	}
	wg.Wait()
	return nil
}

// EnsureTopic creates topic if it does not exist.
func (b *Broker) EnsureTopic(ctx context.Context, topic string) error {
	const op = "pubsubevents.EnsureTopic"
	if topic == "" {
		return errs.Field(op, "topic", "topic is required")
	}
	if err := b.ensureTopic(ctx, topic); err != nil {
		return errs.Wrap(op, err)
	}
	if b.journal != nil {
		if err := b.journal.RecordTopic(topic); err != nil {
			return errs.E(op, errs.Unavailable, err)
		}
	}
	return nil
}

func (b *Broker) ensureTopic(ctx context.Context, topic string) error {
	const op = "pubsubevents.ensureTopic"
	name := b.topicName(topic)
	_, err := b.client.TopicAdminClient.GetTopic(ctx, &pb.GetTopicRequest{Topic: name})
	if status.Code(err) == codes.NotFound {
		_, err = b.client.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: name})
		if status.Code(err) == codes.AlreadyExists {
			err = nil
		}
	}
	return classify(op, err)
}

// normalize validates s and fills in defaults.
func normalize(s ports.SubscriptionSpec) (ports.SubscriptionSpec, error) {
	const op = "pubsubevents.EnsureSubscription"
	switch {
	case s.Name == "":
		return s, errs.Field(op, "Name", "subscription name is required")
	case s.Topic == "":
		return s, errs.Field(op, "Topic", "topic is required")
	case s.DeadLetterTopic == "":
		return s, errs.Field(op, "DeadLetterTopic", "every subscription needs a dead-letter topic")
	case s.DeadLetterTopic == s.Topic:
		return s, errs.Field(op, "DeadLetterTopic", "dead-letter topic must differ from the topic")
	case s.Name == s.DeadLetterTopic+DeadLetterSuffix:
		return s, errs.Field(op, "Name", "name is reserved for the dead-letter subscription")
	}
	if s.MaxDeliveryAttempts == 0 {
		s.MaxDeliveryAttempts = DefaultMaxDeliveryAttempts
	}
	if s.MaxDeliveryAttempts < 5 || s.MaxDeliveryAttempts > 100 {
		return s, errs.Field(op, "MaxDeliveryAttempts", "must be between 5 and 100, got %d", s.MaxDeliveryAttempts)
	}
	if s.AckDeadline == 0 {
		s.AckDeadline = DefaultAckDeadline
	}
	if s.AckDeadline < 10*time.Second || s.AckDeadline > 600*time.Second || s.AckDeadline%time.Second != 0 {
		return s, errs.Field(op, "AckDeadline", "must be whole seconds between 10s and 600s, got %v", s.AckDeadline)
	}
	return s, nil
}

// EnsureSubscription creates, or brings in line, the subscription s with its
// dead-letter policy and retry policy, after ensuring s.Topic, the
// dead-letter topic and DeadLetterSubscription(s) on it. It is idempotent.
// A subscription of the same name on another topic is errs.Conflict.
// MaxDeliveryAttempts 0 means 5; AckDeadline 0 means 60 s.
func (b *Broker) EnsureSubscription(ctx context.Context, s ports.SubscriptionSpec) error {
	const op = "pubsubevents.EnsureSubscription"
	s, err := normalize(s)
	if err != nil {
		return err
	}
	for _, t := range []string{s.Topic, s.DeadLetterTopic} {
		if err := b.ensureTopic(ctx, t); err != nil {
			return errs.Wrap(op, err)
		}
	}
	dead := &pb.Subscription{
		Name:                     b.subName(DeadLetterSubscription(s)),
		Topic:                    b.topicName(s.DeadLetterTopic),
		AckDeadlineSeconds:       int32(DefaultAckDeadline / time.Second),
		MessageRetentionDuration: durationpb.New(deadLetterRetention),
		RetryPolicy:              b.retryPolicy(),
	}
	if err := b.ensureSub(ctx, dead, "ack_deadline_seconds", "retry_policy"); err != nil {
		return errs.Wrap(op, err)
	}
	main := &pb.Subscription{
		Name:               b.subName(s.Name),
		Topic:              b.topicName(s.Topic),
		AckDeadlineSeconds: int32(s.AckDeadline / time.Second),
		DeadLetterPolicy: &pb.DeadLetterPolicy{
			DeadLetterTopic:     b.topicName(s.DeadLetterTopic),
			MaxDeliveryAttempts: int32(s.MaxDeliveryAttempts),
		},
		RetryPolicy: b.retryPolicy(),
	}
	fields := []string{"ack_deadline_seconds", "dead_letter_policy", "retry_policy"}
	if b.opts.ClientDeadLetter {
		main.DeadLetterPolicy.MaxDeliveryAttempts = serverMaxAttempts
		main.Labels = map[string]string{MaxAttemptsLabel: strconv.Itoa(s.MaxDeliveryAttempts)}
		fields = append(fields, "labels")
	}
	if err := b.ensureSub(ctx, main, fields...); err != nil {
		return errs.Wrap(op, err)
	}
	if b.journal != nil {
		if err := b.journal.RecordSubscription(s); err != nil {
			return errs.E(op, errs.Unavailable, err)
		}
	}
	return nil
}

func (b *Broker) retryPolicy() *pb.RetryPolicy {
	return &pb.RetryPolicy{
		MinimumBackoff: durationpb.New(b.opts.MinRetryBackoff),
		MaximumBackoff: durationpb.New(b.opts.MaxRetryBackoff),
	}
}

// ensureSub creates want, or updates the listed fields of an existing
// subscription that differ from want.
func (b *Broker) ensureSub(ctx context.Context, want *pb.Subscription, fields ...string) error {
	const op = "pubsubevents.ensureSub"
	admin := b.client.SubscriptionAdminClient
	have, err := admin.GetSubscription(ctx, &pb.GetSubscriptionRequest{Subscription: want.Name})
	if status.Code(err) == codes.NotFound {
		_, err = admin.CreateSubscription(ctx, want)
		if status.Code(err) != codes.AlreadyExists {
			return classify(op, err)
		}
		have, err = admin.GetSubscription(ctx, &pb.GetSubscriptionRequest{Subscription: want.Name})
	}
	if err != nil {
		return classify(op, err)
	}
	if have.GetTopic() != want.Topic {
		return errs.Ef(op, errs.Conflict, "subscription %s exists on another topic", want.Name)
	}
	var stale []string
	for _, f := range fields {
		var same bool
		switch f {
		case "ack_deadline_seconds":
			same = have.GetAckDeadlineSeconds() == want.AckDeadlineSeconds
		case "dead_letter_policy":
			same = proto.Equal(have.GetDeadLetterPolicy(), want.DeadLetterPolicy)
		case "retry_policy":
			same = proto.Equal(have.GetRetryPolicy(), want.RetryPolicy)
		case "labels":
			same = maps.Equal(have.GetLabels(), want.Labels)
		}
		if !same {
			stale = append(stale, f)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	_, err = admin.UpdateSubscription(ctx, &pb.UpdateSubscriptionRequest{
		Subscription: want,
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: stale},
	})
	return classify(op, err)
}

// Receive delivers messages of subscription to fn until ctx ends, then
// returns nil. fn's nil acks; an error (or a panic) nacks, after
// Options.NackDelay if set. Delivery.Attempt is the server's delivery
// attempt count, 1 when the subscription has no dead-letter policy.
// A missing subscription is errs.NotFound.
func (b *Broker) Receive(ctx context.Context, subscription string, fn func(ctx context.Context, d ports.Delivery) error) error {
	const op = "pubsubevents.Receive"
	if subscription == "" {
		return errs.Field(op, "subscription", "subscription is required")
	}
	var dl deadLetter
	if b.opts.ClientDeadLetter {
		var err error
		if dl, err = b.deadLetterOf(ctx, subscription); err != nil {
			return errs.Wrap(op, err)
		}
	}
	s := b.client.Subscriber(subscription)
	if b.opts.ReceiveSettings != nil {
		s.ReceiveSettings = *b.opts.ReceiveSettings
	}
	err := s.Receive(ctx, func(mctx context.Context, m *pubsub.Message) {
		b.handle(mctx, subscription, dl, m, fn)
	})
	if err != nil && ctx.Err() == nil {
		return classify(op, err)
	}
	return nil
}

// deadLetter is a subscription's client-side dead-letter setting.
type deadLetter struct {
	topic       string // topic id; empty means none
	maxAttempts int
}

// deadLetterOf reads a subscription's dead-letter topic and threshold.
func (b *Broker) deadLetterOf(ctx context.Context, sub string) (deadLetter, error) {
	const op = "pubsubevents.deadLetterOf"
	s, err := b.client.SubscriptionAdminClient.GetSubscription(ctx, &pb.GetSubscriptionRequest{Subscription: b.subName(sub)})
	if err != nil {
		return deadLetter{}, classify(op, err)
	}
	p := s.GetDeadLetterPolicy()
	if p == nil || p.GetDeadLetterTopic() == "" {
		return deadLetter{}, nil
	}
	dl := deadLetter{topic: path.Base(p.GetDeadLetterTopic()), maxAttempts: int(p.GetMaxDeliveryAttempts())}
	if n, err := strconv.Atoi(s.GetLabels()[MaxAttemptsLabel]); err == nil && n > 0 {
		dl.maxAttempts = n
	}
	return dl, nil
}

// handle runs fn for one message and acks or nacks it.
func (b *Broker) handle(ctx context.Context, sub string, dl deadLetter, m *pubsub.Message, fn func(ctx context.Context, d ports.Delivery) error) {
	attempt := 1
	if m.DeliveryAttempt != nil && *m.DeliveryAttempt > 0 {
		attempt = *m.DeliveryAttempt
	}
	e, err := cebinding.Decode(m.Data, m.Attributes)
	if err != nil {
		b.log.Warn("pubsubevents: malformed message, nacking it towards the dead-letter topic",
			"subscription", sub, "message_id", m.ID, "attempt", attempt, "problem", errs.FieldOf(err))
		b.fail(ctx, sub, "", dl, m, attempt)
		return
	}
	if b.journal != nil && b.journal.OnDelivery(sub, e.ID, m) {
		m.Ack() // a replayed copy meant for other subscriptions
		return
	}
	d := ports.Delivery{Event: e, MessageID: m.ID, Subscription: sub, Attempt: attempt, PublishTime: m.PublishTime}
	if err := b.call(ctx, fn, d); err != nil {
		b.fail(ctx, sub, e.ID, dl, m, attempt)
		return
	}
	m.Ack()
	if b.journal != nil {
		b.journal.OnAck(sub, e.ID)
	}
}

// call runs fn, turning a panic into an error so one poison message cannot
// take the process down; it is nacked and dead-lettered like any failure.
func (b *Broker) call(ctx context.Context, fn func(ctx context.Context, d ports.Delivery) error, d ports.Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("pubsubevents: handler panicked", "subscription", d.Subscription,
				"event_id", d.Event.ID, "event_type", d.Event.Type, "stack", string(debug.Stack()))
			err = errs.Ef("pubsubevents.Receive", errs.Other, "handler panicked")
		}
	}()
	return fn(ctx, d)
}

// fail settles a failed delivery: on the last attempt under client-side
// dead-lettering it moves the message to the dead-letter topic and acks it;
// otherwise it nacks it after NackDelay.
func (b *Broker) fail(ctx context.Context, sub, id string, dl deadLetter, m *pubsub.Message, attempt int) {
	if dl.topic != "" && attempt >= dl.maxAttempts {
		if b.journal != nil && id != "" {
			b.journal.OnDeadLetter(sub, id)
		}
		attrs := maps.Clone(m.Attributes)
		delete(attrs, ReplayAttr)
		if err := b.PublishRaw(ctx, dl.topic, m.Data, attrs); err == nil {
			m.Ack()
			return
		}
	}
	b.nack(ctx, m, attempt)
}

func (b *Broker) nack(ctx context.Context, m *pubsub.Message, attempt int) {
	if b.opts.NackDelay != nil {
		if d := b.opts.NackDelay(attempt); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	m.Nack()
}

// classify maps a Pub/Sub client error to an errs kind: by lensflow's one
// table (package kinds), but for the client's own errors, which say what
// they are in their own words.
func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pubsub.ErrOversizedMessage):
		return errs.E(op, errs.TooLarge, err)
	case errors.Is(err, pubsub.ErrPublisherStopped), errors.Is(err, pubsub.ErrFlowControllerMaxOutstandingMessages), errors.Is(err, pubsub.ErrFlowControllerMaxOutstandingBytes):
		return errs.E(op, errs.Unavailable, err)
	}
	return errs.E(op, kinds.Of(err), err)
}

// ReplayAttr is the attribute the local broker puts on a message it
// re-publishes after a restart: the subscriptions (comma separated) that had
// not acked it. Other subscriptions of the topic ack and skip the copy.
// It is not a ce- attribute, so it never reaches ports.Event.
const ReplayAttr = "lensflow-replay-subs"

// Journal is a broker's persistence hook: the local stack's broker
// (package pubsublocal) keeps every message until it is acked in a file,
// so that a restart delivers what a crash left; a broker on Google's
// Pub/Sub has none. Each method is called at the moment its name says.
type Journal interface {
	RecordTopic(topic string) error
	RecordSubscription(s ports.SubscriptionSpec) error
	// BeforePublish records the message for every subscription of topic;
	// undo forgets it.
	BeforePublish(topic, id string, data []byte, attrs map[string]string) (undo func(), err error)
	// OnDelivery reports whether the delivery should be acked and skipped.
	OnDelivery(sub, id string, m *pubsub.Message) (skip bool)
	// OnDeadLetter moves the record from sub to its dead-letter
	// subscription.
	OnDeadLetter(sub, id string)
	OnAck(sub, id string)
}

// SetJournal makes j the broker's journal. Call it once, before the
// broker publishes or receives for anyone else.
func (b *Broker) SetJournal(j Journal) { b.journal = j }
