package notifications_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/mail"
	"reflect"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/notifications"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/ports"
)

// errPassed is what passDocs answers: the service got past validation and
// went on to store the settings.
var errPassed = errors.New("passed validation")

// passDocs answers a transaction with errPassed; anything else it is asked
// panics (the embedded nil interface), which the fuzzer reports.
type passDocs struct{ ports.Documents }

func (passDocs) RunTransaction(context.Context, func(context.Context, ports.Tx) error) error {
	return errPassed
}

// FuzzSettingsInput decodes the notification-settings body as the route
// does and runs PutSettings up to its transaction: nothing panics; a
// refused body is errs.Invalid naming webhookUrl or emails (or the JSON
// problem); an accepted one has a public https webhook (or none) and at
// most MaxEmails addresses passing delivery.ValidateEmail, and round-trips.
func FuzzSettingsInput(f *testing.F) {
	for _, s := range []string{
		`{"webhookUrl":"https://hooks.clinic.example/lensflow","emails":["frontdesk@north.example.com"],"rotateSecret":true}`,
		`{"webhookUrl":"","emails":[]}`, `{"emails":null}`, `{"webhookUrl":" https://hooks.clinic.example/x "}`,
		`{"webhookUrl":"http://127.0.0.1:9999/hook"}`, `{"webhookUrl":"https://169.254.169.254/latest"}`,
		`{"webhookUrl":"https://[::1]/"}`, `{"webhookUrl":"javascript:alert(1)"}`, `{"webhookUrl":"https://a@b.example/"}`,
		`{"emails":["Front Desk <fd@north.example>"]}`, `{"emails":["a@b.example","c@d.example","e@f.example","g@h.example","i@j.example","k@l.example"]}`,
		`{"emails":["not an address"]}`, `{"emails":["a@b.example\r\nBcc: x@y.example"]}`, `{"emails":[1]}`, `{"emails":"a@b.example"}`,
		`{"emails":["user@[127.0.0.1]"]}`, `{"emails":["user@[IPv6:::1]"]}`, `{"emails":["user@intranet"]}`, `{"emails":["user@lab.local"]}`,
		`{"rotateSecret":"yes"}`, `{"webhookUrl":"https://x.example","webhookurl":"https://y.example"}`, `{"secret":"whsec_x"}`,
		`{} {}`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	svc := &notifications.Service{Docs: passDocs{}, Webhooks: delivery.NewSender(delivery.SenderOptions{})}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in notifications.SettingsInput
		if err := httpkit.UnmarshalStrict(body, &in); err != nil {
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) == "" {
				t.Fatalf("decode refusal without a field: %v", err)
			}
			return
		}
		_, err := svc.PutSettings(context.Background(), north, in)
		if !errors.Is(err, errPassed) {
			if f := errs.FieldOf(err); !errs.Is(errs.Invalid, err) || (f != "webhookUrl" && f != "emails") || errs.Message(err) == "" {
				t.Fatalf("refusal of kind %v, field %q: %v", errs.KindOf(err), f, err)
			}
			return
		}
		if u := strings.TrimSpace(in.WebhookURL); u != "" && delivery.ValidateEndpoint(u) != nil {
			t.Fatalf("accepted webhook %q", u)
		}
		if len(in.Emails) > notifications.MaxEmails {
			t.Fatalf("accepted %d emails", len(in.Emails))
		}
		for _, e := range in.Emails {
			if a, err := mail.ParseAddress(e); err != nil || a.Address != e || strings.ContainsAny(e, "\r\n") || delivery.ValidateEmail(e) != nil {
				t.Fatalf("accepted email %q", e)
			}
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var back notifications.SettingsInput
		if err := httpkit.UnmarshalStrict(b, &back); err != nil || !reflect.DeepEqual(back, in) {
			t.Fatalf("round trip of %s: %+v %v", b, back, err)
		}
	})
}
