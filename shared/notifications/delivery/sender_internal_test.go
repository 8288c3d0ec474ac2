package delivery

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestBlockedAddr(t *testing.T) {
	tests := []struct {
		addr    string
		blocked bool
	}{
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"34.120.0.1", false}, {"100.63.255.255", false},
		{"100.128.0.0", false}, {"172.15.255.255", false}, {"172.32.0.0", false}, {"169.253.255.255", false},
		{"2606:4700:4700::1111", false}, {"2a00:1450:4001::200e", false}, {"::ffff:8.8.8.8", false},

		{"0.0.0.0", true}, {"0.1.2.3", true}, {"127.0.0.1", true}, {"127.255.255.254", true},
		{"10.0.0.0", true}, {"10.255.255.255", true}, {"172.16.0.1", true}, {"172.31.255.255", true},
		{"192.168.0.1", true}, {"192.168.255.255", true}, {"169.254.169.254", true}, {"169.254.0.1", true},
		{"100.64.0.1", true}, {"100.127.255.255", true}, {"224.0.0.251", true}, {"239.255.255.250", true},
		{"255.255.255.255", true}, {"240.0.0.1", true}, {"192.0.0.8", true}, {"192.0.2.1", true},
		{"198.18.0.1", true}, {"198.51.100.1", true}, {"203.0.113.1", true},
		{"::", true}, {"::1", true}, {"fe80::1", true}, {"febf::1", true}, {"fc00::1", true},
		{"fd12:3456:789a::1", true}, {"ff02::1", true}, {"ff05::2", true}, {"fec0::1", true},
		{"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true}, {"::ffff:169.254.169.254", true},
		{"64:ff9b::a9fe:a9fe", true}, {"2001:db8::1", true}, {"2002:7f00:1::1", true}, {"2001::1", true},
		{"100::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			if got := blockedAddr(a); got != tt.blocked {
				t.Fatalf("blockedAddr = %v, want %v", got, tt.blocked)
			}
			err := policy{}.control("tcp", netip.AddrPortFrom(a, 443).String(), nil)
			if got := errors.Is(err, ErrBlockedAddress); got != tt.blocked {
				t.Fatalf("control = %v, want blocked %v", err, tt.blocked)
			}
		})
	}
	for _, bad := range []struct{ network, address string }{
		{"udp", "8.8.8.8:53"}, {"tcp", "example.com:443"}, {"tcp", "garbage"}, {"tcp", "[fe80::1%eth0]:443"},
	} {
		if err := (policy{}).control(bad.network, bad.address, nil); !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("control(%s, %s) = %v, want blocked", bad.network, bad.address, err)
		}
	}
	test := policy{allowHTTPLoopback: true}
	if err := test.control("tcp", "127.0.0.1:80", nil); err != nil {
		t.Errorf("test policy refused loopback: %v", err)
	}
	if err := test.control("tcp", "10.0.0.1:80", nil); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("test policy allowed a private address: %v", err)
	}
}

// counter is an httptest handler that counts requests.
type counter struct {
	hits   atomic.Int64
	status int
}

func (c *counter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	c.hits.Add(1)
	w.WriteHeader(c.status)
}

// TestSSRFResolvedAddresses proves the connection-time check: a public
// looking name that resolves to a blocked address is refused even though
// the URL passes ValidateEndpoint, and a server really listening on
// 127.0.0.1 at that port never sees the request. The same set-up with
// loopback allowed reaches the server, so the refusals are not vacuous.
func TestSSRFResolvedAddresses(t *testing.T) {
	h := &counter{status: http.StatusNoContent}
	srv := httptest.NewTLSServer(h) // its certificate is valid for example.com
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	endpoint := "https://example.com:" + port + "/hook"
	if err := ValidateEndpoint(endpoint); err != nil {
		t.Fatalf("endpoint should pass validation: %v", err)
	}
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig

	sender := func(allowLoopback bool, addrs ...string) *Sender {
		return NewSender(SenderOptions{
			TLSConfig:                 tlsConfig,
			Timeout:                   2 * time.Second,
			AllowHTTPLoopbackForTests: allowLoopback,
			lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
				if host != "example.com" {
					return nil, &net.DNSError{Err: "unexpected host", Name: host, IsNotFound: true}
				}
				var out []netip.Addr
				for _, a := range addrs {
					out = append(out, netip.MustParseAddr(a))
				}
				return out, nil
			},
		})
	}

	if status, err := sender(true, "127.0.0.1").Send(context.Background(), endpoint, testSecret, "evt_1", []byte("{}")); err != nil || status != 204 {
		t.Fatalf("control case with loopback allowed: %d %v", status, err)
	}
	if h.hits.Load() != 1 {
		t.Fatalf("control case: %d hits", h.hits.Load())
	}
	h.hits.Store(0)

	for _, addrs := range [][]string{
		{"127.0.0.1"}, {"127.0.0.2"}, {"::1"}, {"::ffff:127.0.0.1"}, {"0.0.0.0"}, {"::"},
		{"10.0.0.1"}, {"172.16.5.4"}, {"192.168.1.1"}, {"169.254.169.254"}, {"169.254.10.10"},
		{"100.64.0.1"}, {"fc00::1"}, {"fd00:ec2::254"}, {"fe80::1"}, {"224.0.0.1"}, {"ff02::1"},
		{"255.255.255.255"}, {"64:ff9b::7f00:1"},
		{"10.0.0.1", "127.0.0.1", "169.254.169.254"}, // every answer blocked
	} {
		t.Run(strings.Join(addrs, ","), func(t *testing.T) {
			status, err := sender(false, addrs...).Send(context.Background(), endpoint, testSecret, "evt_1", []byte("{}"))
			if !errors.Is(err, ErrBlockedAddress) {
				t.Fatalf("Send = %d, %v; want ErrBlockedAddress", status, err)
			}
			if !errs.Is(errs.Invalid, err) || errs.Retryable(err) {
				t.Errorf("blocked destination should be permanent, got kind %v", errs.KindOf(err))
			}
			if status != 0 {
				t.Errorf("status %d", status)
			}
		})
	}
	if n := h.hits.Load(); n != 0 {
		t.Fatalf("loopback server got %d requests through blocked resolutions", n)
	}

	// Loopback allowed for tests still refuses private and link-local.
	if _, err := sender(true, "169.254.169.254").Send(context.Background(), endpoint, testSecret, "evt_1", []byte("{}")); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("test mode reached link-local: %v", err)
	}
	// A public answer next to a blocked one: the blocked one is skipped.
	// (198.51.100.0/24 is blocked too, so use the loopback server in test
	// mode after a private answer.)
	if status, err := sender(true, "10.9.9.9", "127.0.0.1").Send(context.Background(), endpoint, testSecret, "evt_1", []byte("{}")); err != nil || status != 204 {
		t.Fatalf("mixed answers: %d %v", status, err)
	}
}

func TestSendRefusesLiteralAndHTTPEndpointsInProduction(t *testing.T) {
	h := &counter{status: http.StatusOK}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(h)
	defer tlsSrv.Close()
	s := NewSender(SenderOptions{})
	for _, u := range []string{srv.URL, strings.Replace(tlsSrv.URL, "https://127.0.0.1", "https://[::ffff:127.0.0.1]", 1), tlsSrv.URL,
		"http://localhost:1/x"} {
		if _, err := s.Send(context.Background(), u, testSecret, "evt_1", nil); !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "webhookUrl" {
			t.Errorf("Send(%s) = %v, want invalid webhookUrl", u, err)
		}
	}
	if h.hits.Load() != 0 {
		t.Fatal("a request went out")
	}
}

func testSender(t *testing.T) *Sender {
	t.Helper()
	return NewSender(SenderOptions{AllowHTTPLoopbackForTests: true, Timeout: 500 * time.Millisecond})
}

func TestSendClassification(t *testing.T) {
	tests := []struct {
		status    int
		kind      errs.Kind // errs.Other: success
		sentinel  error
		retryable bool
	}{
		{200, errs.Other, nil, false},
		{201, errs.Other, nil, false},
		{204, errs.Other, nil, false},
		{299, errs.Other, nil, false},
		{301, errs.Invalid, ErrRejected, false},
		{302, errs.Invalid, ErrRejected, false},
		{307, errs.Invalid, ErrRejected, false},
		{400, errs.Invalid, ErrRejected, false},
		{401, errs.Invalid, ErrRejected, false},
		{403, errs.Invalid, ErrRejected, false},
		{404, errs.Invalid, ErrRejected, false},
		{413, errs.Invalid, ErrRejected, false},
		{410, errs.NotFound, ErrEndpointGone, false},
		{408, errs.Unavailable, nil, true},
		{429, errs.Unavailable, nil, true},
		{500, errs.Unavailable, nil, true},
		{502, errs.Unavailable, nil, true},
		{503, errs.Unavailable, nil, true},
		{504, errs.Unavailable, nil, true},
	}
	var redirected atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { redirected.Add(1) }))
	defer target.Close()
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status >= 300 && tt.status < 400 {
					w.Header().Set("Location", target.URL)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, "ZZCANARY response body")
			}))
			defer srv.Close()
			status, err := testSender(t).Send(context.Background(), srv.URL+"/hook?token=QUERYSECRET", testSecret, "evt_1", []byte("{}"))
			if status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			if tt.kind == errs.Other {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errs.KindOf(err); got != tt.kind {
				t.Errorf("kind %v, want %v (%v)", got, tt.kind, err)
			}
			if errs.Retryable(err) != tt.retryable {
				t.Errorf("retryable %v, want %v", errs.Retryable(err), tt.retryable)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tt.sentinel)
			}
			if msg := err.Error(); strings.Contains(msg, "QUERYSECRET") || strings.Contains(msg, "ZZCANARY") || strings.Contains(msg, "/hook") {
				t.Errorf("error leaks the URL or body: %s", msg)
			}
		})
	}
	if redirected.Load() != 0 {
		t.Fatalf("a redirect was followed %d times", redirected.Load())
	}
}

func TestSendNetworkFailuresAreRetryable(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release) // runs before slow.Close
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
	}))
	defer hangup.Close()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for name, c := range map[string]struct {
		ctx context.Context
		url string
	}{
		"timeout":            {context.Background(), slow.URL},
		"connection refused": {context.Background(), closedURL + "/x?token=QUERYSECRET"},
		"hang-up":            {context.Background(), hangup.URL},
		"cancelled context":  {cancelled, slow.URL},
	} {
		t.Run(name, func(t *testing.T) {
			status, err := testSender(t).Send(c.ctx, c.url, testSecret, "evt_1", []byte("{}"))
			if status != 0 || !errs.Is(errs.Unavailable, err) || !errs.Retryable(err) {
				t.Fatalf("Send = %d, %v (kind %v); want retryable unavailable", status, err, errs.KindOf(err))
			}
			if strings.Contains(err.Error(), "QUERYSECRET") {
				t.Errorf("error leaks the query: %v", err)
			}
		})
	}
}

func TestSendHeadersAndSignature(t *testing.T) {
	var mu sync.Mutex
	var got []http.Header
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Clone())
		bodies = append(bodies, body)
		mu.Unlock()
		if err := Verify(testSecret, r.Header, body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	clock := time.Now().Add(-30 * time.Second)
	s := NewSender(SenderOptions{AllowHTTPLoopbackForTests: true, Now: func() time.Time { clock = clock.Add(10 * time.Second); return clock }})
	payload := []byte(`{"type":"order.status_changed"}`)
	for range 2 { // a retry of the same message
		if status, err := s.Send(context.Background(), srv.URL, testSecret, "ntf_42", payload); err != nil || status != 202 {
			t.Fatalf("Send = %d, %v", status, err)
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d requests", len(got))
	}
	if got[0].Get(HeaderID) != "ntf_42" || got[1].Get(HeaderID) != "ntf_42" {
		t.Errorf("webhook-id not stable: %q %q", got[0].Get(HeaderID), got[1].Get(HeaderID))
	}
	if got[0].Get(HeaderTimestamp) == got[1].Get(HeaderTimestamp) {
		t.Error("a retry should carry a fresh timestamp")
	}
	if string(bodies[0]) != string(payload) {
		t.Errorf("body %q", bodies[0])
	}
	if ua := got[0].Get("User-Agent"); ua != "lensflow-webhooks/1" {
		t.Errorf("User-Agent %q", ua)
	}

	// A receiver holding another secret refuses the message.
	other, _ := NewSecret()
	if status, err := s.Send(context.Background(), srv.URL, other, "ntf_42", payload); status != 401 || !errs.Is(errs.Invalid, err) {
		t.Errorf("wrong secret: %d %v", status, err)
	}
}

func TestSendInputValidation(t *testing.T) {
	h := &counter{status: 200}
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := testSender(t)
	for name, c := range map[string]struct{ url, secret, id, field string }{
		"bad secret": {srv.URL, "whsec_short", "ntf_1", "secret"},
		"empty id":   {srv.URL, testSecret, "", "id"},
		"id spaces":  {srv.URL, testSecret, "a b", "id"},
		"bad url":    {"gopher://x", testSecret, "ntf_1", "webhookUrl"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Send(context.Background(), c.url, c.secret, c.id, nil)
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != c.field {
				t.Fatalf("Send = %v, want invalid %s", err, c.field)
			}
		})
	}
	if h.hits.Load() != 0 {
		t.Fatal("a request went out")
	}
}

func TestNextAttempt(t *testing.T) {
	if d, ok := NextAttempt(0); d != 0 || !ok {
		t.Fatalf("NextAttempt(0) = %v, %v; want immediately", d, ok)
	}
	if d, ok := NextAttempt(-3); d != 0 || !ok {
		t.Fatalf("NextAttempt(-3) = %v, %v", d, ok)
	}
	nominal := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
		10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	var total time.Duration
	for i, want := range nominal {
		attempt := i + 1
		seen := map[time.Duration]bool{}
		for range 50 {
			d, ok := NextAttempt(attempt)
			if !ok {
				t.Fatalf("NextAttempt(%d) gave up", attempt)
			}
			lo, hi := want-want/5, want+want/5
			if d < lo || d > hi {
				t.Fatalf("NextAttempt(%d) = %v, want %v ±20%%", attempt, d, want)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("NextAttempt(%d) has no jitter", attempt)
		}
		total += want
	}
	if MaxAttempts != len(nominal)+1 || MaxAttempts != len(retryDelays)+1 {
		t.Errorf("MaxAttempts = %d", MaxAttempts)
	}
	if _, ok := NextAttempt(MaxAttempts); ok {
		t.Fatalf("NextAttempt(%d) should give up", MaxAttempts)
	}
	if days := total.Hours() / 24; days < 2.75 || days > 3.5 {
		t.Fatalf("schedule spans %.2f days, want about 3", days)
	}
}
