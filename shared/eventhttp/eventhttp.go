// Package eventhttp is the HTTP side of lensflow's event delivery, in both
// directions, shaped exactly like Cloud Run's:
//
//   - NewPushRequest builds the request an Eventarc Pub/Sub trigger sends a
//     Cloud Run service: a binary-mode CloudEvent of type
//     google.cloud.pubsub.topic.v1.messagePublished whose JSON body wraps the
//     Pub/Sub message (our own event rides in its ce-* attributes and data).
//   - Handler serves a CloudEvent function (the functions framework's
//     signature) over HTTP: binary or structured CloudEvents, and raw Pub/Sub
//     push envelopes converted the way the framework converts them.
//   - Unwrap turns such a messagePublished CloudEvent back into the
//     ports.Delivery that was published.
//   - Push delivers a subscription of a ports.Broker to an http.Handler the
//     way a push subscription or Eventarc would, for the local stack (pstest
//     never pushes) and for end-to-end tests.
//
// Status codes follow Pub/Sub push: 102, 200, 201, 202 and 204 ack, anything
// else nacks, and a nacked message is dead-lettered after the subscription's
// MaxDeliveryAttempts.
package eventhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/lensflow/lensflow/shared/adapters/pubsubevents/cebinding"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// MessagePublished is the CloudEvent type of a Pub/Sub message delivered by
// Eventarc or converted by the functions framework.
const MessagePublished = "google.cloud.pubsub.topic.v1.messagePublished"

// pubsubService prefixes the CloudEvent source of Pub/Sub events.
const pubsubService = "//pubsub.googleapis.com/"

// Message is a Pub/Sub message in its JSON (push and Eventarc) form. Data
// is base64 in JSON, as encoding/json does for []byte.
type Message struct {
	Data        []byte            `json:"data,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	MessageID   string            `json:"messageId"`
	PublishTime time.Time         `json:"publishTime"`
	OrderingKey string            `json:"orderingKey,omitempty"`
}

// Envelope is the body of a Pub/Sub push request and the data of a
// messagePublished CloudEvent. Subscription is the full resource name;
// DeliveryAttempt is set when the subscription has a dead-letter policy.
type Envelope struct {
	Message         Message `json:"message"`
	Subscription    string  `json:"subscription,omitempty"`
	DeliveryAttempt int     `json:"deliveryAttempt,omitempty"`
}

// TopicSource returns the CloudEvent source of messages on topic.
func TopicSource(project, topic string) string {
	return pubsubService + "projects/" + project + "/topics/" + topic
}

// NewEnvelope returns the push envelope for d on project.
func NewEnvelope(d ports.Delivery, project string) (Envelope, error) {
	const op = "eventhttp.NewEnvelope"
	data, attrs, err := cebinding.Encode(d.Event)
	if err != nil {
		return Envelope{}, errs.E(op, errs.Invalid, err)
	}
	if d.MessageID == "" {
		return Envelope{}, errs.Field(op, "MessageID", "message id is required")
	}
	env := Envelope{
		Message:         Message{Data: data, Attributes: attrs, MessageID: d.MessageID, PublishTime: d.PublishTime.UTC()},
		DeliveryAttempt: d.Attempt,
	}
	if d.Subscription != "" {
		env.Subscription = "projects/" + project + "/subscriptions/" + d.Subscription
	}
	return env, nil
}

// NewPushRequest builds the POST an Eventarc Pub/Sub trigger sends to url
// for delivery d of a message on project/topic: binary-mode CloudEvent
// headers (ce-specversion, ce-id = message id, ce-type = MessagePublished,
// ce-source = //pubsub.googleapis.com/projects/P/topics/T, ce-time = publish
// time) and the Envelope as the JSON body.
func NewPushRequest(ctx context.Context, url string, d ports.Delivery, project, topic string) (*http.Request, error) {
	req, err := newEnvelopeRequest(ctx, "eventhttp.NewPushRequest", url, d, project)
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", d.MessageID)
	h.Set("Ce-Type", MessagePublished)
	h.Set("Ce-Source", TopicSource(project, topic))
	if !d.PublishTime.IsZero() {
		h.Set("Ce-Time", d.PublishTime.UTC().Format(time.RFC3339Nano))
	}
	return req, nil
}

// NewRawPushRequest builds the POST a plain Pub/Sub push subscription sends:
// no CloudEvent headers, the Envelope as the body. The path of url should
// end in projects/P/topics/T so that Handler can name the topic.
func NewRawPushRequest(ctx context.Context, url string, d ports.Delivery, project string) (*http.Request, error) {
	return newEnvelopeRequest(ctx, "eventhttp.NewRawPushRequest", url, d, project)
}

// newEnvelopeRequest is a JSON POST of d's push envelope to url.
func newEnvelopeRequest(ctx context.Context, op, url string, d ports.Delivery, project string) (*http.Request, error) {
	env, err := NewEnvelope(d, project)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// Unwrap returns the delivery carried by a messagePublished CloudEvent:
// the event from the message's ce-* attributes and data, the message id,
// the subscription id, the delivery attempt (1 when the envelope has none)
// and the publish time. Anything else is errs.Invalid naming the problem.
func Unwrap(e cloudevents.Event) (ports.Delivery, error) {
	const op = "eventhttp.Unwrap"
	if e.Type() != MessagePublished {
		return ports.Delivery{}, errs.Field(op, "type", "CloudEvent type %q is not %s", e.Type(), MessagePublished)
	}
	var env Envelope
	if err := json.Unmarshal(e.Data(), &env); err != nil {
		return ports.Delivery{}, errs.Field(op, "data", "not a Pub/Sub message envelope: %v", err)
	}
	ev, err := cebinding.Decode(env.Message.Data, env.Message.Attributes)
	if err != nil {
		return ports.Delivery{}, errs.E(op, errs.Invalid, err)
	}
	d := ports.Delivery{
		Event:       ev,
		MessageID:   env.Message.MessageID,
		Attempt:     max(env.DeliveryAttempt, 1),
		PublishTime: env.Message.PublishTime,
	}
	if env.Subscription != "" {
		d.Subscription = path.Base(env.Subscription)
	}
	if d.MessageID == "" {
		d.MessageID = e.ID()
	}
	if d.PublishTime.IsZero() {
		d.PublishTime = e.Time()
	}
	return d, nil
}

var topicPath = regexp.MustCompile(`projects/[^/?]+/topics/[^/?]+`)

// envelopeEvent converts a raw push envelope into the messagePublished
// CloudEvent the functions framework makes of it: id = message id, time =
// publish time, source from the projects/P/topics/T part of urlPath (or the
// subscription when the path has none), data = the envelope.
func envelopeEvent(body []byte, urlPath string) (cloudevents.Event, error) {
	const op = "eventhttp.envelopeEvent"
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return cloudevents.Event{}, errs.Field(op, "body", "not a CloudEvent or Pub/Sub push envelope: %v", err)
	}
	if env.Message.MessageID == "" {
		return cloudevents.Event{}, errs.Field(op, "message.messageId", "push envelope without a message id")
	}
	resource := topicPath.FindString(urlPath)
	if resource == "" {
		resource = strings.TrimPrefix(env.Subscription, "/")
	}
	e := cloudevents.NewEvent()
	e.SetID(env.Message.MessageID)
	e.SetType(MessagePublished)
	e.SetSource(pubsubService + resource)
	t := env.Message.PublishTime
	if t.IsZero() {
		t = time.Now()
	}
	e.SetTime(t.UTC())
	if err := e.SetData(cloudevents.ApplicationJSON, env); err != nil {
		return cloudevents.Event{}, errs.E(op, errs.Other, fmt.Errorf("encode data: %w", err))
	}
	if err := e.Validate(); err != nil {
		return cloudevents.Event{}, errs.Field(op, "body", "invalid CloudEvent: %v", err)
	}
	return e, nil
}
