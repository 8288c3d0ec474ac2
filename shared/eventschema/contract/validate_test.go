package contract_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/eventschema"
	"github.com/lensflow/lensflow/shared/eventschema/contract"
	"github.com/lensflow/lensflow/shared/ports"
)

const followUp = "com.lensflow.followup.due.v1"

func followUpEvent(data string) ports.Event {
	return ports.Event{ID: "e1", Type: followUp, Source: "/lensflow/followups", Time: time.Now(),
		Data: json.RawMessage(data), DataSchema: eventschema.URI("http://127.0.0.1:8080", followUp)}
}

const goodFollowUp = `{"orderId":"o1","clinicId":"c1","visitKey":"week-1","due":"2026-03-04T00:00:00Z"}`

func TestDataAgainstItsSchema(t *testing.T) {
	tests := []struct {
		name, data, want string // want: "" valid, else in the error
	}{
		{"valid", goodFollowUp, ""},
		{"a field added later is taken", `{"orderId":"o1","clinicId":"c1","visitKey":"week-1","due":"2026-03-04T00:00:00Z","lab":"x"}`, ""},
		{"missing required field", `{"orderId":"o1","clinicId":"c1","due":"2026-03-04T00:00:00Z"}`, "visitKey"},
		{"wrong type", `{"orderId":1,"clinicId":"c1","visitKey":"week-1","due":"2026-03-04T00:00:00Z"}`, "/orderId"},
		{"format asserted", `{"orderId":"o1","clinicId":"c1","visitKey":"week-1","due":"tomorrow"}`, "/due"},
		{"not an object", `[]`, "object"},
		{"not JSON", `{`, "not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := contract.Data(followUp, []byte(tc.data))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Data = %v, want valid", err)
			case tc.want != "" && (!errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), followUp)):
				t.Errorf("Data = %v, want Invalid naming the type and %q", err, tc.want)
			}
		})
	}
	if err := contract.Data("com.lensflow.never.heard.v1", []byte(`{}`)); !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "has no schema") {
		t.Errorf("unknown type: %v", err)
	}
}

// Every committed schema compiles and takes an object of its required
// fields (a smoke test that the files are schemas a validator reads).
func TestEveryCommittedSchemaCompiles(t *testing.T) {
	types := eventschema.Types()
	if len(types) < 7 {
		t.Fatalf("only %d schemas: %v", len(types), types)
	}
	for _, typ := range types {
		if err := contract.Data(typ, []byte(`{}`)); err == nil || strings.Contains(err.Error(), "has no schema") {
			t.Errorf("%s: an empty object gave %v, want missing required fields", typ, err)
		}
	}
}

func TestEventNeedsItsDataSchema(t *testing.T) {
	if err := contract.Event(followUpEvent(goodFollowUp)); err != nil {
		t.Errorf("Event = %v", err)
	}
	e := followUpEvent(goodFollowUp)
	e.DataSchema = eventschema.ID(followUp)
	if err := contract.Event(e); err != nil {
		t.Errorf("Event naming the schema's $id = %v", err)
	}
	e.DataSchema = ""
	if err := contract.Event(e); !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "no dataschema") {
		t.Errorf("Event without dataschema = %v", err)
	}
	e.DataSchema = eventschema.URI("http://127.0.0.1:8080", "com.lensflow.order.placed.v1")
	if err := contract.Event(e); !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "names another schema") {
		t.Errorf("Event naming another type's schema = %v", err)
	}
}

type recorder struct {
	ports.Publisher
	got []ports.Event
}

func (r *recorder) Publish(_ context.Context, _ string, e ports.Event) error {
	r.got = append(r.got, e)
	return nil
}

func TestPublisherRefusesInvalidEvents(t *testing.T) {
	inner := &recorder{}
	var told []string
	p := contract.Publisher(inner, func(topic string, e ports.Event, err error) { told = append(told, topic+" "+e.ID) })
	ctx := context.Background()
	if err := p.Publish(ctx, "follow-up-due", followUpEvent(goodFollowUp)); err != nil {
		t.Fatalf("valid event: %v", err)
	}
	bad := followUpEvent(`{"orderId":"o1"}`)
	bad.ID = "e2"
	err := p.Publish(ctx, "follow-up-due", bad)
	if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), followUp) || !strings.Contains(err.Error(), "follow-up-due") {
		t.Errorf("invalid event: %v, want Invalid naming the type and topic", err)
	}
	if len(inner.got) != 1 || inner.got[0].ID != "e1" {
		t.Errorf("published %v, want only the valid event", inner.got)
	}
	if len(told) != 1 || told[0] != "follow-up-due e2" {
		t.Errorf("onInvalid told %v", told)
	}
}
