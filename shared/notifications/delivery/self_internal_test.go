package delivery

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

// TestValidateEndpointRefusesSelf: a sender told its own addresses (a
// public name, the local stack's listen address, an emulator's host:port)
// refuses webhook URLs naming them by any spelling, with or without
// loopback allowed, and still accepts other loopback ports locally and
// other public names.
func TestValidateEndpointRefusesSelf(t *testing.T) {
	self := []string{"https://api.lensflow.example", "http://127.0.0.1:8080/dev-issuer", "127.0.0.1:2525",
		"https://lensflow-notifications-123.europe-west1.run.app", "not a url", ""}
	refused := []string{
		"https://api.lensflow.example/v1/clinic/notifications",
		"https://API.LensFlow.Example/x",
		"https://api.lensflow.example./x",
		"https://api.lensflow.example:443/x",
		"https://api.lensflow.example:8443/x",
		"https://lensflow-notifications-123.europe-west1.run.app/",
	}
	refusedLocally := []string{
		"http://127.0.0.1:8080/dev/api/dead-letters/replay",
		"https://127.0.0.1:8080/dev/api/dead-letters/replay",
		"http://localhost:8080/x",
		"http://LocalHost:8080/x",
		"http://[::1]:8080/x",
		"http://[0:0:0:0:0:0:0:1]:8080/x",
		"http://[::ffff:127.0.0.1]:8080/x",
		"http://127.0.0.2:8080/x",
		"http://127.0.0.1:08080/x",
		"http://localhost.:8080/x",
		"http://127.0.0.1:2525/",
	}
	acceptedLocally := []string{"http://127.0.0.1:9999/hook", "http://localhost:9999/hook", "http://[::1]:8081/x",
		"https://hooks.clinic.example/x", "https://lensflow.example/x", "https://hooks.api.lensflow.example/x"}

	for _, local := range []bool{false, true} {
		s := NewSender(SenderOptions{AllowHTTPLoopbackForTests: local, Self: self})
		want := refused
		if local {
			want = append(append([]string(nil), refused...), refusedLocally...)
		}
		for _, u := range want {
			err := s.ValidateEndpoint(u)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "webhookUrl" || errs.Message(err) != "webhookUrl: must not point at this service itself" {
				t.Errorf("local=%v %s: %v, want refused as this service", local, u, err)
			}
		}
		if local {
			for _, u := range acceptedLocally {
				if err := s.ValidateEndpoint(u); err != nil {
					t.Errorf("%s: %v", u, err)
				}
			}
		}
	}
	// Without Self, the same URLs stand or fall by the other rules alone.
	if err := NewSender(SenderOptions{AllowHTTPLoopbackForTests: true}).ValidateEndpoint("http://127.0.0.1:8080/dev/api/dead-letters/replay"); err != nil {
		t.Fatalf("control case: %v", err)
	}
}

// TestControlRefusesSelf: the connection-time check refuses the service's
// own addresses even where loopback is allowed; an unspecified listen
// address stands for every loopback address at its port.
func TestControlRefusesSelf(t *testing.T) {
	p := policy{allowHTTPLoopback: true, self: parseSelf([]string{"http://127.0.0.1:8080", "http://[::]:9000"})}
	for _, tc := range []struct {
		addr    string
		blocked bool
	}{
		{"127.0.0.1:8080", true}, {"127.0.0.9:8080", true}, {"[::1]:8080", true}, {"[::ffff:127.0.0.1]:8080", true},
		{"127.0.0.1:9000", true}, {"[::1]:9000", true},
		{"127.0.0.1:8081", false}, {"[::1]:9999", false},
	} {
		err := p.control("tcp", tc.addr, nil)
		if got := errors.Is(err, ErrBlockedAddress); got != tc.blocked {
			t.Errorf("control(%s) = %v, want blocked %v", tc.addr, err, tc.blocked)
		}
	}
}

// TestSendRefusesSelfAfterResolution: a public-looking name that resolves
// to the service's own address passes the URL check but is refused at
// connect time, and the service never sees the request. The same sender
// without Self reaches it, so the refusal is not vacuous.
func TestSendRefusesSelfAfterResolution(t *testing.T) {
	h := &counter{status: http.StatusNoContent}
	srv := httptest.NewTLSServer(h) // stands for the service itself; its certificate is valid for example.com
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	endpoint := "https://example.com:" + port + "/hook"
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig
	sender := func(self ...string) *Sender {
		return NewSender(SenderOptions{TLSConfig: tlsConfig, Timeout: 2 * time.Second, AllowHTTPLoopbackForTests: true, Self: self,
			lookup: func(context.Context, string) ([]netip.Addr, error) {
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			}})
	}
	if status, err := sender().Send(context.Background(), endpoint, testSecret, "evt_1", []byte("{}")); err != nil || status != 204 {
		t.Fatalf("control case: %d %v", status, err)
	}
	h.hits.Store(0)
	for _, self := range []string{srv.URL, "http://localhost:" + port, "http://0.0.0.0:" + port} {
		s := sender(self)
		if err := s.ValidateEndpoint(endpoint); err != nil {
			t.Fatalf("the name alone should pass: %v", err)
		}
		status, err := s.Send(context.Background(), endpoint, testSecret, "evt_1", []byte("{}"))
		if !errors.Is(err, ErrBlockedAddress) || !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "webhookUrl" || status != 0 {
			t.Errorf("self %s: Send = %d, %v; want a permanent blocked-address error", self, status, err)
		}
	}
	if n := h.hits.Load(); n != 0 {
		t.Fatalf("the service got %d requests from its own webhooks", n)
	}
}

// TestSendSetsOnlyFixedHeaders: a delivery carries the Standard Webhooks
// headers, Content-Type and User-Agent and what net/http adds, nothing a
// clinic chooses; the URL's path and query cannot add a header. (The local
// stack's developer routes rely on this: they need a header no webhook
// sends.)
func TestSendSetsOnlyFixedHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := NewSender(SenderOptions{AllowHTTPLoopbackForTests: true})
	u := srv.URL + "/hook%0d%0aX-Lensflow-Dev:%201?X-Lensflow-Dev=1&h=X-Lensflow-Dev%3A+1%0d%0a"
	if status, err := s.Send(context.Background(), u, testSecret, "ntf_1", []byte("{}")); err != nil || status != 204 {
		t.Fatalf("Send = %d, %v", status, err)
	}
	allowed := map[string]bool{"Content-Type": true, "User-Agent": true, "Webhook-Id": true, "Webhook-Timestamp": true,
		"Webhook-Signature": true, "Accept-Encoding": true, "Content-Length": true}
	for k := range got {
		if !allowed[k] {
			t.Errorf("unexpected header %s: %q", k, got[k])
		}
	}
	if len(got) < 5 {
		t.Fatalf("headers %v", got)
	}
}
