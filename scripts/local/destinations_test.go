package main

// Destinations: where a clinic may have lensflow send things. A webhook
// URL may not point at the service itself (its API, the local stack's
// developer routes, its embedded emulators) by any spelling of its host,
// at registration or at delivery; the local stack's state-changing
// developer routes need a header a webhook delivery never sends; and an
// email address must be a plain one at a public domain name.

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/localstack"
	"github.com/lensflow/lensflow/shared/notifications"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
	"github.com/lensflow/lensflow/shared/ports"
)

// TestDestinations runs the destination rules against a running stack
// through its HTTP API.
func TestDestinations(t *testing.T) {
	st := start(t, "127.0.0.1:0", t.TempDir())
	defer st.Shutdown()
	c := client{base: st.URL, t: t}
	north := st.Tokens["demo-north"]
	hooks := newHookSink()
	defer hooks.Close()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(st.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}

	// put sends demo-north's notification settings and answers the status
	// and, for a refusal, the problem.
	// put replaces the settings; a field the case leaves out is sent as
	// "none" (the PUT body names both).
	put := func(body map[string]any) (int, httpkit.Problem, []byte) {
		t.Helper()
		if _, ok := body["webhookUrl"]; !ok {
			body["webhookUrl"] = ""
		}
		if _, ok := body["emails"]; !ok {
			body["emails"] = []string{}
		}
		b, _ := json.Marshal(body)
		s, rb, h := c.do("PUT", "/v1/clinic/notifications", north, b, "Content-Type", "application/json")
		var p httpkit.Problem
		if s >= 400 {
			if ct := h.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(rb, &p) != nil || p.Status != s {
				t.Fatalf("refusal is not problem+json: %d %s %s", s, ct, rb)
			}
		}
		return s, p, rb
	}

	t.Run("webhook to the service itself", func(t *testing.T) {
		own := []string{
			st.URL + "/dev/api/dead-letters/replay",
			st.URL + "/v1/tasks/notifications",
			"http://localhost:" + port + "/dev/api/dead-letters/replay",
			"http://LOCALHOST:" + port + "/dev/api/dead-letters/replay",
			"http://[::1]:" + port + "/dev/api/dead-letters/replay",
			"http://[::ffff:127.0.0.1]:" + port + "/dev/api/dead-letters/replay",
			"http://127.0.0.2:" + port + "/dev/api/dead-letters/replay",
			"http://127.0.0.1:0" + port + "/dev/api/dead-letters/replay",
			"https://127.0.0.1:" + port + "/dev/api/dead-letters/replay",
		}
		// A blob store served over HTTP by this process (a storage
		// emulator) is this service too: a POST there would write into
		// the scan bucket. The local stack's file store listens nowhere.
		if b, ok := st.App.Blobs.(interface{ URL() string }); ok {
			own = append(own, b.URL()+"/upload/storage/v1/b/lensflow-scans/o?uploadType=media&name=x")
		}
		for _, u := range own {
			s, p, b := put(map[string]any{"webhookUrl": u})
			if s != 400 || p.Field != "webhookUrl" || p.Detail != "webhookUrl: must not point at this service itself" {
				t.Errorf("%s: %d %s, want 400 naming webhookUrl", u, s, b)
			}
		}
		// A receiver on another loopback port is a developer's, and fine.
		if s, _, b := put(map[string]any{"webhookUrl": hooks.URL + "/lensflow"}); s != 200 {
			t.Fatalf("the clinic's own receiver: %d %s", s, b)
		}
	})

	t.Run("webhook to the service itself at delivery", func(t *testing.T) {
		// A setting stored before the rule existed: the URL is rewritten
		// in the store (the API no longer takes it), keeping the secret
		// the API made.
		ctx := context.Background()
		if s, _, b := put(map[string]any{"webhookUrl": hooks.URL + "/lensflow"}); s != 200 {
			t.Fatalf("settings: %d %s", s, b)
		}
		target := "http://localhost:" + port + "/dev/api/dead-letters/replay"
		err := st.App.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
			var cur notifications.Settings
			if err := tx.Get(notifications.SettingsCollection, "demo-north", &cur); err != nil {
				return err
			}
			cur.WebhookURL = target
			return tx.Set(notifications.SettingsCollection, "demo-north", cur)
		})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		d := notifications.Delivery{ID: "ntf-destinations-webhook", ClinicID: "demo-north", Channel: notifications.ChannelWebhook,
			Notification: delivery.Notification{ID: "ntf-destinations", Type: delivery.TypeOrderStatusChanged, OccurredAt: now,
				ClinicID: "demo-north", OrderID: "order-destinations", Status: "dispatched", Link: "/v1/orders/order-destinations"},
			Status: notifications.StatusPending, NextAttempt: now, Created: now, Updated: now}
		if err := st.App.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
			return tx.Create(notifications.DeliveriesCollection, d.ID, d)
		}); err != nil {
			t.Fatal(err)
		}
		if s, b, _ := c.do("POST", "/v1/tasks/notifications?asOf="+now.Add(time.Minute).Format(time.RFC3339), st.ServiceToken, nil); s != 200 {
			t.Fatalf("notification task: %d %s", s, b)
		}
		var got notifications.Delivery
		if err := st.App.Docs.Get(ctx, notifications.DeliveriesCollection, d.ID, &got); err != nil {
			t.Fatal(err)
		}
		// Failed for good, and no answer: the request never reached the stack.
		if got.Status != notifications.StatusFailed || got.Attempts != 1 || got.LastStatus != 0 || got.LastError != errs.Invalid.String() {
			t.Fatalf("delivery to the service itself: %+v", got)
		}
	})

	t.Run("developer routes refuse what a webhook can send", func(t *testing.T) {
		// A real delivery, by a sender that does not know the stack's
		// address (so only the developer route's own check stands).
		sender := delivery.NewSender(delivery.SenderOptions{AllowHTTPLoopbackForTests: true, Timeout: 10 * time.Second})
		secret, err := delivery.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		status, err := sender.Send(context.Background(), st.URL+"/dev/api/dead-letters/replay", secret, "ntf-replay", []byte(`{"type":"order.status_changed"}`))
		if status != http.StatusForbidden || !errs.Is(errs.Invalid, err) {
			t.Fatalf("a webhook delivery to the replay route: %d %v, want 403", status, err)
		}
		for _, m := range []string{"POST", "PUT", "DELETE"} {
			s, b, h := c.do(m, "/dev/api/dead-letters/replay", "", []byte(`{}`), "Content-Type", "application/json")
			if m != "POST" && (s == http.StatusMethodNotAllowed || s == http.StatusNotFound) {
				continue // no such route: nothing to change
			}
			var p httpkit.Problem
			if s != 403 || h.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil ||
				!strings.Contains(p.Detail, localstack.DevHeader+": 1") {
				t.Errorf("%s without the header: %d %s, want 403 naming %s", m, s, b, localstack.DevHeader)
			}
		}
		s, b, _ := c.do("POST", "/dev/api/dead-letters/replay", "", nil, localstack.DevHeader, "1", "Origin", st.URL, "Sec-Fetch-Site", "same-origin")
		var replayed struct{ Replayed *int }
		if s != 200 || json.Unmarshal(b, &replayed) != nil || replayed.Replayed == nil {
			t.Fatalf("the dashboard's replay: %d %s", s, b)
		}
	})

	t.Run("email addresses", func(t *testing.T) {
		for _, tc := range []struct{ addr, detail string }{
			{"user@[127.0.0.1]", "address literal"},
			{"user@[IPv6:::1]", "address literal"},
			{"user@127.0.0.1", "numeric"},
			{"user@localhost", "fully qualified"},
			{"user@intranet", "fully qualified"},
			{"user@app.localhost", "local networks"},
			{"user@printer.local", "local networks"},
			{"user@metadata.google.internal", "local networks"},
			{"user@nas.lan", "local networks"},
			{"user@router.home.arpa", "local networks"},
			{"user@mail.corp", "local networks"},
			{"user@north.test", "public DNS"},
			{"user@north.invalid", "public DNS"},
			{"user@north.example", "public DNS"},
			{strings.Repeat("a", 65) + "@clinic.com", "local part longer than 64"},
			{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 60) + ".com", "longer than 254"},
		} {
			s, p, b := put(map[string]any{"emails": []string{"frontdesk@north.example.com", tc.addr}})
			if s != 400 || p.Field != "emails" || !strings.HasPrefix(p.Detail, "emails: entry 2 ") || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("%s: %d %s, want 400 naming emails entry 2 (%s)", tc.addr, s, b, tc.detail)
			}
			if s >= 400 && strings.Contains(string(b), tc.addr) {
				t.Errorf("the refusal repeats the address: %s", b)
			}
		}
		ok := []string{"frontdesk@north.example.com", strings.Repeat("a", 64) + "@clinic.com",
			strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57) + ".com"} // 254 bytes
		if len(ok[2]) != 254 {
			t.Fatalf("fixture is %d bytes", len(ok[2]))
		}
		if s, _, b := put(map[string]any{"emails": ok}); s != 200 {
			t.Fatalf("plain public addresses: %d %s", s, b)
		}
	})
}
