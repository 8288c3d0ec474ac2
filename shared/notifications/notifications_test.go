package notifications_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/adapters/envelope"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/notifications"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/servicekit"
)

func service(t *testing.T, now *time.Time) *notifications.Service {
	t.Helper()
	dir := t.TempDir()
	docs, err := boltdocs.Open(filepath.Join(dir, "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docs.Close() })
	sealer, err := envelope.Open(context.Background(), "file://"+filepath.Join(dir, "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &notifications.Service{Docs: docs, Sealer: sealer, Kit: servicekit.Kit{Clock: func() time.Time { return *now }},
		Webhooks: delivery.NewSender(delivery.SenderOptions{AllowHTTPLoopbackForTests: true, Now: func() time.Time { return *now }})}
}

var north = auth.Actor{Subject: "dr", Role: "practitioner", ClinicID: "demo-north"}

func note(id string) delivery.Notification {
	return delivery.Notification{ID: id, Type: delivery.TypeOrderStatusChanged, OccurredAt: time.Now(), ClinicID: "demo-north",
		OrderID: "order-1", Status: "dispatched", Link: "/v1/orders/order-1"}
}

// TestWebhookRetriedUntilDelivered: a failing endpoint is retried on the
// schedule; the message keeps its id, and a redelivered event does not
// send it again.
func TestWebhookRetriedUntilDelivered(t *testing.T) {
	now := time.Now().UTC()
	svc := service(t, &now)
	var calls atomic.Int32
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids = append(ids, r.Header.Get("webhook-id"))
		if calls.Add(1) < 3 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	ctx := context.Background()
	if _, err := svc.PutSettings(ctx, north, notifications.SettingsInput{WebhookURL: srv.URL + "/hook"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Notify(ctx, note("evt-1")); err != nil {
		t.Fatal(err)
	}
	if err := svc.Notify(ctx, note("evt-1")); err != nil { // redelivered event
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d sends after a redelivered event, want 1", calls.Load())
	}
	// Not yet due: nothing is tried.
	if rep, err := svc.Retry(ctx, now); err != nil || rep.Tried != 0 {
		t.Fatalf("retry before due: %+v %v", rep, err)
	}
	for i := 0; i < 2; i++ {
		now = now.Add(time.Hour)
		if _, err := svc.Retry(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("%d sends, want 3", calls.Load())
	}
	now = now.Add(24 * time.Hour)
	if rep, _ := svc.Retry(ctx, now); rep.Tried != 0 {
		t.Fatalf("a delivered notification was retried: %+v", rep)
	}
	for _, id := range ids {
		if id != "evt-1-webhook" {
			t.Fatalf("webhook ids %v: must be stable across retries", ids)
		}
	}
}

// TestGoneEndpointIsNotRetried: a 410 answer ends the delivery.
func TestGoneEndpointIsNotRetried(t *testing.T) {
	now := time.Now().UTC()
	svc := service(t, &now)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(410)
	}))
	defer srv.Close()
	ctx := context.Background()
	if _, err := svc.PutSettings(ctx, north, notifications.SettingsInput{WebhookURL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	_ = svc.Notify(ctx, note("evt-2"))
	now = now.Add(72 * time.Hour)
	if rep, _ := svc.Retry(ctx, now); rep.Tried != 0 || calls.Load() != 1 {
		t.Fatalf("gone endpoint retried: %+v, %d calls", rep, calls.Load())
	}
}

func TestSettingsValidation(t *testing.T) {
	now := time.Now().UTC()
	svc := service(t, &now)
	ctx := context.Background()
	for _, in := range []notifications.SettingsInput{
		{WebhookURL: "ftp://example.com/x"},
		{WebhookURL: "https://10.0.0.1/hook"},
		{Emails: []string{"Front Desk <a@b.example>"}},
		{Emails: []string{"a@b.example.com", "c@d.example.com", "e@f.example.com", "g@h.example.com", "i@j.example.com", "k@l.example.com"}},
	} {
		if _, err := svc.PutSettings(ctx, north, in); !errs.Is(errs.Invalid, err) {
			t.Errorf("%+v: %v, want invalid", in, err)
		}
	}
	v, err := svc.PutSettings(ctx, north, notifications.SettingsInput{WebhookURL: "https://hooks.example.com/x"})
	if err != nil || v.WebhookSecret == "" {
		t.Fatalf("first webhook: %+v %v", v, err)
	}
	v2, _ := svc.PutSettings(ctx, north, notifications.SettingsInput{WebhookURL: "https://hooks.example.com/x", Emails: []string{"a@b.example.com"}})
	if v2.WebhookSecret != "" {
		t.Fatal("an unchanged webhook got a new secret")
	}
	v3, _ := svc.PutSettings(ctx, north, notifications.SettingsInput{WebhookURL: "https://hooks.example.com/x", RotateSecret: true})
	if v3.WebhookSecret == "" || v3.WebhookSecret == v.WebhookSecret {
		t.Fatal("rotation did not give a new secret")
	}
}

// flakyMailer fails its first fail sends, then records the messages.
type flakyMailer struct {
	fail int
	sent []delivery.Message
}

func (m *flakyMailer) Send(_ context.Context, msg delivery.Message) error {
	if m.fail > 0 {
		m.fail--
		return errs.Ef("smtp", errs.Unavailable, "try later")
	}
	m.sent = append(m.sent, msg)
	return nil
}

// TestLabIsEmailedAndRetried: a notification for the lab (a clinic's
// comment) goes to the lab's addresses, not to the clinic's channels, is
// retried like a clinic's when the mail server refuses, and a redelivered
// event does not send it twice.
func TestLabIsEmailedAndRetried(t *testing.T) {
	now := time.Now().UTC()
	svc := service(t, &now)
	mailer := &flakyMailer{fail: 1}
	svc.Mailer, svc.From, svc.PublicURL = mailer, "lab-notices@lensflow.example", "https://api.lensflow.example"
	svc.LabEmails = []string{"lab@lensflow.example"} // configuration: not held to the rule for clinics' addresses
	ctx := context.Background()
	if _, err := svc.PutSettings(ctx, north, notifications.SettingsInput{Emails: []string{"desk@north.example.com"}}); err != nil {
		t.Fatal(err)
	}
	n := delivery.Notification{ID: "evt-9", Type: delivery.TypeCommentPosted, OccurredAt: now, ClinicID: "demo-north",
		OrderID: "order-1", Status: "posted", Link: "/v1/orders/order-1/comments"}
	for i := 0; i < 2; i++ { // the event, then its redelivery
		if err := svc.NotifyLab(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if len(mailer.sent) != 0 {
		t.Fatalf("sent %d while the server refused", len(mailer.sent))
	}
	now = now.Add(time.Hour)
	rep, err := svc.Retry(ctx, now)
	if err != nil || rep.Sent != 1 {
		t.Fatalf("retry: %+v %v", rep, err)
	}
	if len(mailer.sent) != 1 || len(mailer.sent[0].To) != 1 || mailer.sent[0].To[0] != "lab@lensflow.example" {
		t.Fatalf("lab email: %+v", mailer.sent)
	}

	// Without lab addresses the lab is not emailed.
	svc.LabEmails = nil
	if err := svc.NotifyLab(ctx, delivery.Notification{ID: "evt-10", Type: delivery.TypeCommentPosted, OccurredAt: now, ClinicID: "demo-north",
		OrderID: "order-1", Status: "posted", Link: "/v1/orders/order-1/comments"}); err != nil || len(mailer.sent) != 1 {
		t.Fatalf("no lab addresses: %v, %d sent", err, len(mailer.sent))
	}
}

// TestSettingsRefuseInternalDestinations: an email address at an address
// literal, a single label or a name for local networks, or over the RFC
// 5321 lengths, is refused naming the field and the entry; so is a
// webhook URL pointing at the service itself.
func TestSettingsRefuseInternalDestinations(t *testing.T) {
	now := time.Now().UTC()
	svc := service(t, &now)
	svc.Webhooks = delivery.NewSender(delivery.SenderOptions{AllowHTTPLoopbackForTests: true, Self: []string{"http://127.0.0.1:8080"}})
	ctx := context.Background()
	for _, bad := range []string{"user@[127.0.0.1]", "user@[IPv6:::1]", "user@localhost", "user@intranet", "user@printer.local",
		"user@metadata.google.internal", "user@nas.lan", "user@router.home.arpa", "user@mail.corp", "user@north.test",
		"user@north.example", strings.Repeat("a", 65) + "@clinic.com"} {
		_, err := svc.PutSettings(ctx, north, notifications.SettingsInput{Emails: []string{"desk@clinic.com", bad}})
		if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "emails" || !strings.HasPrefix(errs.Message(err), "emails: entry 2 ") {
			t.Errorf("%s: %v (%q), want invalid emails entry 2", bad, err, errs.Message(err))
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/dev/api/dead-letters/replay", "http://localhost:8080/x", "http://[::1]:8080/x"} {
		_, err := svc.PutSettings(ctx, north, notifications.SettingsInput{WebhookURL: u})
		if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "webhookUrl" || !strings.Contains(errs.Message(err), "this service itself") {
			t.Errorf("%s: %v, want invalid webhookUrl", u, err)
		}
	}
	if _, err := svc.PutSettings(ctx, north, notifications.SettingsInput{WebhookURL: "http://127.0.0.1:9999/hook",
		Emails: []string{"desk@clinic.com"}}); err != nil {
		t.Fatalf("a receiver on another loopback port: %v", err)
	}
}

// TestDeliveryHoldsStoredSettingsToTheRules: settings stored before a
// destination rule existed are held to it when delivering: a webhook URL
// that now names the service itself is not sent to (and fails for good),
// and email goes only to the addresses that pass.
func TestDeliveryHoldsStoredSettingsToTheRules(t *testing.T) {
	now := time.Now().UTC()
	svc := service(t, &now)
	mailer := &flakyMailer{}
	svc.Mailer, svc.From, svc.PublicURL = mailer, "notices@lensflow.example.com", "https://api.lensflow.example"
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	ctx := context.Background()
	if _, err := svc.PutSettings(ctx, north, notifications.SettingsInput{WebhookURL: srv.URL + "/hook"}); err != nil {
		t.Fatal(err)
	}
	err := svc.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		var cur notifications.Settings
		if err := tx.Get(notifications.SettingsCollection, "demo-north", &cur); err != nil {
			return err
		}
		cur.Emails = []string{"desk@clinic.com", "root@[127.0.0.1]", "ops@mail.internal"}
		return tx.Set(notifications.SettingsCollection, "demo-north", cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The server now stands for the service itself.
	svc.Webhooks = delivery.NewSender(delivery.SenderOptions{AllowHTTPLoopbackForTests: true, Self: []string{srv.URL}})
	if err := svc.Notify(ctx, note("evt-self")); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the service's own address got %d webhooks", n)
	}
	var d notifications.Delivery
	if err := svc.Docs.Get(ctx, notifications.DeliveriesCollection, "evt-self-webhook", &d); err != nil || d.Status != notifications.StatusFailed {
		t.Fatalf("webhook delivery: %+v %v, want failed", d, err)
	}
	if len(mailer.sent) != 1 || strings.Join(mailer.sent[0].To, ",") != "desk@clinic.com" {
		t.Fatalf("email went to %+v, want only desk@clinic.com", mailer.sent)
	}

	// No address left that passes: the email delivery fails for good.
	err = svc.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Set(notifications.SettingsCollection, "demo-north", notifications.Settings{ClinicID: "demo-north",
			Emails: []string{"root@[127.0.0.1]"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Notify(ctx, note("evt-none")); err != nil {
		t.Fatal(err)
	}
	if err := svc.Docs.Get(ctx, notifications.DeliveriesCollection, "evt-none-email", &d); err != nil || d.Status != notifications.StatusFailed || len(mailer.sent) != 1 {
		t.Fatalf("email delivery: %+v %v (%d sent), want failed", d, err, len(mailer.sent))
	}
}

// The PUT body replaces the settings whole: webhookUrl and emails are
// required ("" and [] for none), rotateSecret is not.
func TestSettingsBodyRequiresItsFields(t *testing.T) {
	for body, field := range map[string]string{
		`{"emails":["a@b.example"]}`:                                 "webhookUrl",
		`{"webhookUrl":"https://hooks.example.com/x"}`:               "emails",
		`{"webhookUrl":"https://hooks.example.com/x","emails":null}`: "emails",
		`{"webhookUrl":null,"emails":[]}`:                            "webhookUrl",
		`{"rotateSecret":true}`:                                      "webhookUrl",
		`{}`:                                                         "webhookUrl",
		`{"webhookUrl":"","emails":[],"secret":"x"}`:                 "secret",
		`{"webhookUrl":"","emails":[],"rotateSecret":"yes"}`:         "rotateSecret",
		`{"webhookUrl":"","emails":["a@b.example"],"emails":[]}`:     "emails",
	} {
		var in notifications.SettingsInput
		err := httpkit.UnmarshalStrict([]byte(body), &in)
		if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != field {
			t.Errorf("%s: %v (field %q), want invalid naming %s", body, err, errs.FieldOf(err), field)
		}
	}
	for body, want := range map[string]notifications.SettingsInput{
		`{"webhookUrl":"","emails":[]}`: {Emails: []string{}},
		`{"webhookUrl":"https://hooks.example.com/x","emails":["a@b.example"],"rotateSecret":true}`: {
			WebhookURL: "https://hooks.example.com/x", Emails: []string{"a@b.example"}, RotateSecret: true},
	} {
		var in notifications.SettingsInput
		if err := httpkit.UnmarshalStrict([]byte(body), &in); err != nil || !reflect.DeepEqual(in, want) {
			t.Errorf("%s: %+v %v", body, in, err)
		}
	}
}

// Empty lists are answered [], never null: before any PUT, after a PUT of
// no addresses, and for settings stored without any.
func TestSettingsAnswerEmptyLists(t *testing.T) {
	now := time.Now().UTC()
	svc := service(t, &now)
	ctx := context.Background()
	emails := func(v notifications.SettingsView) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		return string(m["emails"])
	}
	v, err := svc.GetSettings(ctx, north)
	if err != nil || emails(v) != "[]" {
		t.Fatalf("before any settings: %s %v", emails(v), err)
	}
	for _, in := range []notifications.SettingsInput{{Emails: []string{}}, {WebhookURL: "https://hooks.example.com/x"}} {
		v, err := svc.PutSettings(ctx, north, in)
		if err != nil || emails(v) != "[]" {
			t.Fatalf("PUT %+v: %s %v", in, emails(v), err)
		}
		if v, err = svc.GetSettings(ctx, north); err != nil || emails(v) != "[]" {
			t.Fatalf("GET after PUT %+v: %s %v", in, emails(v), err)
		}
	}
}

// TestRetryWalksPendingInBatches: the retry task reads pending deliveries a
// batch at a time and still attempts every due one once.
func TestRetryWalksPendingInBatches(t *testing.T) {
	old := notifications.RetryBatch
	notifications.RetryBatch = 2
	t.Cleanup(func() { notifications.RetryBatch = old })
	now := time.Now().UTC()
	svc := service(t, &now)
	mailer := &flakyMailer{fail: 5}
	svc.Mailer, svc.From, svc.PublicURL = mailer, "lab-notices@lensflow.example", "https://api.lensflow.example"
	svc.LabEmails = []string{"lab@lensflow.example"}
	ctx := context.Background()
	for i := range 5 {
		n := delivery.Notification{ID: fmt.Sprintf("evt-%d", i), Type: delivery.TypeCommentPosted, OccurredAt: now, ClinicID: "demo-north",
			OrderID: "order-1", Status: "posted", Link: "/v1/orders/order-1/comments"}
		if err := svc.NotifyLab(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if len(mailer.sent) != 0 {
		t.Fatalf("sent %d while the server refused", len(mailer.sent))
	}
	now = now.Add(time.Hour)
	rep, err := svc.Retry(ctx, now)
	if err != nil || rep.Tried != 5 || rep.Sent != 5 || len(mailer.sent) != 5 {
		t.Fatalf("retry in batches of 2: %+v %v, %d sent; want 5 tried and sent", rep, err, len(mailer.sent))
	}
	if rep, err := svc.Retry(ctx, now); err != nil || rep.Tried != 0 {
		t.Fatalf("second retry: %+v %v", rep, err)
	}
}
