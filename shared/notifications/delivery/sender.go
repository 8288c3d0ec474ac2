package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

// ErrEndpointGone is wrapped by Send's error when the endpoint answered
// 410 Gone: the clinic has retired it, so stop retrying and disable the
// endpoint until the clinic registers a new one.
var ErrEndpointGone = errors.New("webhook endpoint is gone")

// ErrRejected is wrapped by Send's error when the endpoint refused the
// message for good (a 3xx, or a 4xx other than 408, 410 and 429): retrying
// the same message will not help.
var ErrRejected = errors.New("webhook rejected by endpoint")

// retryDelays is the nominal wait before each retry: retryDelays[i] is the
// wait after attempt i+1 failed. Attempt 1 is immediate; the last of the 13
// attempts comes about 77.6 hours (3.2 days) after the first, before jitter.
var retryDelays = []time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// MaxAttempts is the number of delivery attempts NextAttempt allows for one
// message: the first and twelve retries (len(retryDelays)+1).
const MaxAttempts = 13

// jitterFraction spreads each retry uniformly over ±20% of its nominal
// delay, so endpoints that come back after an outage are not hit by every
// queued message at once.
const jitterFraction = 0.2

// NextAttempt says when to make the next delivery attempt of a message that
// has already been attempted `attempt` times (0: never). It returns the
// delay from now and true, or false when the message has used all
// MaxAttempts attempts and should be given up (recorded as failed).
//
// The nominal schedule (attempt number: delay after the previous failure) is
//
//	1: immediately       6: 5 h
//	2: 5 s               7 to 13: 10 h each
//	3: 5 min
//	4: 30 min
//	5: 2 h
//
// so the last attempt comes about 3.2 days after the first. Each delay after
// the first attempt is jittered uniformly within ±20%.
func NextAttempt(attempt int) (time.Duration, bool) {
	if attempt <= 0 {
		return 0, true
	}
	if attempt > len(retryDelays) {
		return 0, false
	}
	d := retryDelays[attempt-1]
	spread := float64(d) * jitterFraction
	return d + time.Duration((rand.Float64()*2-1)*spread), true
}

// SenderOptions configures a Sender. The zero value is the production
// configuration.
type SenderOptions struct {
	// Timeout bounds one attempt: connect, TLS, request and response
	// headers. Default 15 s.
	Timeout time.Duration
	// UserAgent is sent with every request. Default "lensflow-webhooks/1".
	UserAgent string
	// Now is the clock for webhook-timestamp. Default time.Now.
	Now func() time.Time
	// TLSConfig overrides the TLS client configuration (for a test server's
	// certificate pool). Default: system roots, TLS 1.2 minimum.
	TLSConfig *tls.Config
	// AllowHTTPLoopbackForTests additionally allows http:// and https://
	// URLs whose host is a loopback address or "localhost", and connections
	// to loopback addresses. It exists for tests and the local stack, whose
	// webhook receivers run on 127.0.0.1; never set it in a deployed
	// service. Private, link-local and other blocked addresses stay blocked.
	AllowHTTPLoopbackForTests bool
	// Self lists where this service itself answers, as absolute URLs or
	// host:port addresses: its public URL, the URL its OIDC tokens name,
	// and locally the address the stack listens on and those of its
	// embedded emulators. A webhook URL naming one of them is refused
	// however its host is spelled (case, a trailing dot, an explicit
	// default port, an IPv4-mapped address; for a loopback address any
	// loopback address or localhost at that port), and so is a connection
	// to one of their addresses whatever name resolved to it. Loopback
	// allowed for tests does not lift this.
	Self []string

	// lookup resolves a host name; tests inject one to map names to
	// blocked addresses. Default net.DefaultResolver.LookupNetIP.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Sender delivers webhooks to clinic endpoints: one signed POST per Send,
// no redirects followed, no proxy, destinations checked for SSRF when the
// URL is parsed and again on every connection. It is safe for concurrent
// use.
type Sender struct {
	client    *http.Client
	policy    policy
	userAgent string
	now       func() time.Time
	lookup    func(ctx context.Context, host string) ([]netip.Addr, error)
}

// NewSender returns a Sender configured by opts.
func NewSender(opts SenderOptions) *Sender {
	s := &Sender{
		policy:    policy{allowHTTPLoopback: opts.AllowHTTPLoopbackForTests, self: parseSelf(opts.Self)},
		userAgent: opts.UserAgent,
		now:       opts.Now,
		lookup:    opts.lookup,
	}
	if s.userAgent == "" {
		s.userAgent = "lensflow-webhooks/1"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.lookup == nil {
		s.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	tlsConfig := opts.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would connect on our behalf, past the address check
		DialContext:           s.dial,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	s.client = &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return s
}

// dial resolves the host itself and connects to each address in turn with a
// dialer whose Control refuses blocked addresses at connect time.
func (s *Sender) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = s.lookup(ctx, host); err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	d := s.policy.dialer()
	var first error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		if first == nil || errors.Is(err, ErrBlockedAddress) && !errors.Is(first, ErrBlockedAddress) {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// Send makes one delivery attempt: it POSTs payload (JSON) to endpoint with
// the Standard Webhooks headers for message msgID, signed with the clinic's
// secret at the current time. Use the notification id as msgID, so it is the
// same on every retry and the clinic can deduplicate.
//
// It returns the HTTP status (0 if no response) and an error classified for
// the caller:
//   - 2xx: nil.
//   - 410 Gone: errs.NotFound wrapping ErrEndpointGone; disable the endpoint.
//   - other 3xx and 4xx except 408 and 429: errs.Invalid wrapping ErrRejected;
//     permanent, do not retry this message.
//   - 408, 429, 5xx, timeouts and network errors: errs.Unavailable; retry
//     when NextAttempt says.
//   - an endpoint that fails validation or resolves to a blocked address, a
//     bad secret or msgID: errs.Invalid (blocked addresses wrap
//     ErrBlockedAddress); permanent.
//
// So errs.Retryable(err) tells the caller whether to schedule another
// attempt. Errors never contain the URL's path or query, nor the response
// body.
func (s *Sender) Send(ctx context.Context, endpoint, secret, msgID string, payload []byte) (int, error) {
	const op = "notify.Send"
	u, err := s.policy.validate(endpoint)
	if err != nil {
		return 0, err
	}
	now := s.now()
	sig, err := Sign(secret, msgID, now, payload)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return 0, errs.Field(op, "webhookUrl", "cannot build a request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set(HeaderID, msgID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(HeaderSignature, sig)

	resp, err := s.client.Do(req)
	if err != nil {
		return 0, classifyTransportError(op, u, err)
	}
	// Read a little of the body so the connection can be reused; its
	// content is never used or logged.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()

	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return code, nil
	case code == http.StatusGone:
		return code, errs.E(op, errs.NotFound, fmt.Errorf("%w: %s answered %d", ErrEndpointGone, u.Host, code))
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return code, errs.Ef(op, errs.Unavailable, "%s answered %d", u.Host, code)
	default:
		return code, errs.E(op, errs.Invalid, fmt.Errorf("%w: %s answered %d", ErrRejected, u.Host, code))
	}
}

// classifyTransportError turns a failed round trip into an errs error
// without the URL (which *url.Error would print, query and all).
func classifyTransportError(op string, u *url.URL, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, ErrBlockedAddress) {
		return &errs.Error{Op: op, Kind: errs.Invalid, Field: "webhookUrl",
			Err: fmt.Errorf("%s: %w", u.Host, ErrBlockedAddress)}
	}
	return errs.Ef(op, errs.Unavailable, "%s: %w", u.Host, err)
}

// ValidateEndpoint checks a webhook URL against this sender's policy: what
// the package-level ValidateEndpoint allows, plus loopback http URLs when
// the sender was built with AllowHTTPLoopbackForTests (the local stack),
// minus URLs that point at the service itself (SenderOptions.Self).
func (s *Sender) ValidateEndpoint(rawURL string) error {
	_, err := s.policy.validate(rawURL)
	return err
}
