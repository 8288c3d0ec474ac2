// Package contract holds events to their committed schemas
// (shared/eventschema): Data and Event validate an event's data with
// santhosh-tekuri/jsonschema, Publisher refuses events that do not match,
// and Compare tells a compatible schema change from a breaking one. The
// local stack and the tests link it; functions' production binaries do not.
package contract

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventschema"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/ports"
)

// compiled holds every committed schema, compiled once.
var compiled = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // date-time and friends are checked, not only noted
	out := map[string]*jsonschema.Schema{}
	for _, t := range eventschema.Types() {
		b, _ := eventschema.File(t)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", eventschema.FileName(t), err)
		}
		if err := c.AddResource(eventschema.ID(t), doc); err != nil {
			return nil, fmt.Errorf("%s: %w", eventschema.FileName(t), err)
		}
		s, err := c.Compile(eventschema.ID(t))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", eventschema.FileName(t), err)
		}
		out[t] = s
	}
	return out, nil
})

// Data checks data, an event's data, against the committed schema of
// eventType. It fails with errs.Invalid naming the type: one without a
// schema, data that is not JSON, or the validator's account of each
// mismatch (JSON pointers into the data and what was expected).
func Data(eventType string, data []byte) error {
	const op = "contract.Data"
	all, err := compiled()
	if err != nil {
		return errs.E(op, errs.Other, err)
	}
	s, ok := all[eventType]
	if !ok {
		return errs.Ef(op, errs.Invalid, "event type %s has no schema: add its data struct to scripts/eventschemas and run go generate ./shared/eventschema", eventType)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return errs.Ef(op, errs.Invalid, "event type %s: data is not JSON: %v", eventType, err)
	}
	if err := s.Validate(v); err != nil {
		return errs.Ef(op, errs.Invalid, "event type %s: data does not match %s: %v", eventType, eventschema.FileName(eventType), err)
	}
	return nil
}

// Event checks a published event: its data against its type's schema, and
// its dataschema attribute naming that schema.
func Event(e ports.Event) error {
	const op = "contract.Event"
	if e.DataSchema == "" {
		return errs.Ef(op, errs.Invalid, "event %s of type %s has no dataschema (eventschema.Stamp sets it)", e.ID, e.Type)
	}
	if !eventschema.Names(e.DataSchema, e.Type) {
		return errs.Ef(op, errs.Invalid, "event %s of type %s: dataschema %s names another schema", e.ID, e.Type, e.DataSchema)
	}
	if err := Data(e.Type, e.Data); err != nil {
		return errs.Wrap(op, fmt.Errorf("event %s: %w", e.ID, err))
	}
	return nil
}

// Publisher returns a Publisher that checks every event with Event before
// publishing it: one that fails is not published, onInvalid (if set) is
// told, and Publish returns the error (errs.Invalid, naming the type and
// the mismatch).
func Publisher(p ports.Publisher, onInvalid func(topic string, e ports.Event, err error)) ports.Publisher {
	return &validating{Publisher: p, onInvalid: onInvalid}
}

type validating struct {
	ports.Publisher
	onInvalid func(topic string, e ports.Event, err error)
}

func (v *validating) Publish(ctx context.Context, topic string, e ports.Event) error {
	if err := Event(e); err != nil {
		err = errs.Wrap("contract.Publisher", fmt.Errorf("topic %s: %w", topic, err))
		if v.onInvalid != nil {
			v.onInvalid(topic, e, err)
		}
		return err
	}
	return v.Publisher.Publish(ctx, topic, e)
}

// Outbox checks the data of every event waiting in docs' outbox against
// its type's schema (an event there has no dataschema yet: it is set when
// the event is published) and returns an error per event that fails.
func Outbox(ctx context.Context, docs ports.Documents) []error {
	pending, err := docs.Query(ctx, ports.Query{Collection: outbox.Collection})
	if err != nil {
		return []error{errs.Wrap("contract.Outbox", err)}
	}
	var out []error
	for _, d := range pending {
		var e outbox.Entry
		if err := d.Decode(&e); err != nil {
			out = append(out, errs.Wrap("contract.Outbox", err))
			continue
		}
		if err := Data(e.Event.Type, e.Event.Data); err != nil {
			out = append(out, fmt.Errorf("outbox entry %s for topic %s: %w", d.ID, e.Topic, err))
		}
	}
	return out
}
