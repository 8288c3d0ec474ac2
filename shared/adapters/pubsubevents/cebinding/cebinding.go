// Package cebinding is lensflow's encoding of a ports.Event as a Pub/Sub message:
// the CloudEvents Pub/Sub protocol binding in binary mode. The message data
// is Event.Data unchanged; every context attribute travels as a message
// attribute prefixed "ce-":
//
//	ce-specversion  1.0
//	ce-id           Event.ID      (required)
//	ce-type         Event.Type    (required)
//	ce-source       Event.Source  (required)
//	ce-subject      Event.Subject (omitted when empty)
//	ce-time         Event.Time, RFC 3339 with nanoseconds, UTC (omitted when zero)
//	ce-dataschema   Event.DataSchema, an absolute URI (omitted when empty)
//	ce-<key>        one per Event.Extras entry
//	content-type    application/json, when there is data (the binding's datacontenttype)
//
// Both the Pub/Sub adapter and the HTTP push glue (package eventhttp) use it,
// so an event reads the same whichever way it arrives.
package cebinding

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// Attribute names and values of the binding.
const (
	Prefix         = "ce-"
	AttrSpec       = "ce-specversion"
	AttrID         = "ce-id"
	AttrType       = "ce-type"
	AttrSource     = "ce-source"
	AttrSubject    = "ce-subject"
	AttrTime       = "ce-time"
	AttrDataSchema = "ce-dataschema"
	AttrCT         = "content-type"
	SpecVersion    = "1.0"
	JSONType       = "application/json"
	maxExtraKeyLen = 20
)

// reserved holds CloudEvents attribute names that cannot be extensions.
var reserved = map[string]bool{
	"specversion": true, "id": true, "type": true, "source": true, "subject": true,
	"time": true, "datacontenttype": true, "dataschema": true, "data": true, "data_base64": true,
}

var extraKey = regexp.MustCompile(`^[a-z0-9]+$`)

// Encode returns the message data and attributes for e. It fails with
// errs.Invalid when a required attribute is missing, DataSchema is set but
// not an absolute URI, or an Extras key is not a valid CloudEvents extension
// name (lower-case letters and digits, at most 20 characters, not a core
// attribute name).
func Encode(e ports.Event) (data []byte, attrs map[string]string, err error) {
	const op = "cebinding.Encode"
	switch {
	case e.ID == "":
		return nil, nil, errs.Field(op, "id", "event id is required")
	case e.Type == "":
		return nil, nil, errs.Field(op, "type", "event type is required")
	case e.Source == "":
		return nil, nil, errs.Field(op, "source", "event source is required")
	}
	if e.DataSchema != "" && !absoluteURI(e.DataSchema) {
		return nil, nil, errs.Field(op, "dataschema", "event dataschema must be an absolute URI")
	}
	attrs = make(map[string]string, 7+len(e.Extras))
	attrs[AttrSpec] = SpecVersion
	attrs[AttrID] = e.ID
	attrs[AttrType] = e.Type
	attrs[AttrSource] = e.Source
	if e.Subject != "" {
		attrs[AttrSubject] = e.Subject
	}
	if !e.Time.IsZero() {
		attrs[AttrTime] = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if e.DataSchema != "" {
		attrs[AttrDataSchema] = e.DataSchema
	}
	for k, v := range e.Extras {
		if len(k) > maxExtraKeyLen || !extraKey.MatchString(k) || reserved[k] {
			return nil, nil, errs.Field(op, "extras", "extension name %q must be 1-%d lower-case letters or digits and not a core attribute", k, maxExtraKeyLen)
		}
		attrs[Prefix+k] = v
	}
	if len(e.Data) > 0 {
		attrs[AttrCT] = JSONType
		data = []byte(e.Data)
	}
	return data, attrs, nil
}

// Decode rebuilds the event from message data and attributes. Attributes
// that are not "ce-" prefixed (content-type, anything a broker adds) are
// ignored. A message without ce-id, ce-type or ce-source, with a
// ce-specversion other than 1.0, an unparsable ce-time or a ce-dataschema
// that is not an absolute URI is malformed:
// errs.Invalid. Error texts name the attribute, never its value.
func Decode(data []byte, attrs map[string]string) (ports.Event, error) {
	const op = "cebinding.Decode"
	if v, ok := attrs[AttrSpec]; ok && v != SpecVersion {
		return ports.Event{}, errs.Field(op, AttrSpec, "unsupported CloudEvents spec version")
	}
	e := ports.Event{
		ID:         attrs[AttrID],
		Type:       attrs[AttrType],
		Source:     attrs[AttrSource],
		Subject:    attrs[AttrSubject],
		DataSchema: attrs[AttrDataSchema],
	}
	if e.DataSchema != "" && !absoluteURI(e.DataSchema) {
		return ports.Event{}, errs.Field(op, AttrDataSchema, "not an absolute URI")
	}
	for _, req := range []struct{ name, v string }{{AttrID, e.ID}, {AttrType, e.Type}, {AttrSource, e.Source}} {
		if req.v == "" {
			return ports.Event{}, errs.Field(op, req.name, "required CloudEvent attribute is missing")
		}
	}
	if s, ok := attrs[AttrTime]; ok && s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return ports.Event{}, errs.Field(op, AttrTime, "not an RFC 3339 time")
		}
		e.Time = t.UTC()
	}
	for k, v := range attrs {
		name, ok := strings.CutPrefix(k, Prefix)
		if !ok || reserved[name] || name == "" {
			continue
		}
		if e.Extras == nil {
			e.Extras = make(map[string]string)
		}
		e.Extras[name] = v
	}
	if len(data) > 0 {
		e.Data = append([]byte(nil), data...)
	}
	return e, nil
}

// absoluteURI reports whether s is an absolute URI (it has a scheme), as
// CloudEvents requires of dataschema.
func absoluteURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs()
}
