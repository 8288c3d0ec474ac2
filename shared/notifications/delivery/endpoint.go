package delivery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/lensflow/lensflow/shared/errs"
)

// ErrBlockedAddress is wrapped by errors for destinations that resolve to,
// or are, an address webhooks must never reach: loopback, private, link-local
// (including the cloud metadata server 169.254.169.254), shared CGNAT space,
// multicast, unspecified, reserved and documentation ranges.
var ErrBlockedAddress = errors.New("destination address not allowed")

// maxEndpointLen bounds a registered webhook URL.
const maxEndpointLen = 2048

// blockedPrefixes lists the ranges a webhook connection may not reach, in
// addition to what netip.Addr's predicates catch (loopback, private,
// link-local, multicast, unspecified). IPv4-mapped IPv6 addresses are unmapped
// before the check, so ::ffff:10.0.0.1 is treated as 10.0.0.1.
var blockedPrefixes = mustPrefixes(
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // shared address space (CGNAT), RFC 6598
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, including 255.255.255.255
	"::/128",          // unspecified
	"::1/128",         // loopback
	"64:ff9b::/96",    // NAT64: embeds an IPv4 address that may be internal
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard
	"2001::/32",       // Teredo (embeds IPv4)
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4 (embeds IPv4)
	"fc00::/7",        // unique local
	"fe80::/10",       // link-local
	"fec0::/10",       // site-local (deprecated)
	"ff00::/8",        // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// blockedAddr reports whether a webhook may not connect to a.
func blockedAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// policy decides which destinations a Sender may use. The zero value is the
// production policy: HTTPS to public addresses only.
type policy struct {
	allowHTTPLoopback bool      // tests and the local stack only
	self              selfAddrs // the service's own addresses, never a destination
}

// ValidateEndpoint checks a webhook URL a clinic registers (PUT
// /v1/clinic/notifications): an absolute https URL of at most 2048 bytes with
// a public DNS name or a public IP address as host, an optional numeric port,
// and no user info or fragment. Names that only make sense inside a network
// (single labels, localhost, *.local, *.internal, *.home.arpa, numeric
// top-level labels such as in 2130706433 or 0x7f.1) are refused.
//
// The check on the name cannot know what the name will resolve to; Sender
// checks the resolved address again on every connection. Errors are
// errs.Invalid naming the field "webhookUrl" and never echo the URL.
//
// ValidateEndpoint does not know the service's own addresses; a Sender
// built with SenderOptions.Self also refuses URLs that point at them
// (Sender.ValidateEndpoint), which is the check a service should use.
func ValidateEndpoint(rawURL string) error {
	_, err := policy{}.validate(rawURL)
	return err
}

func endpointErr(format string, args ...any) error {
	return errs.Field("notify.ValidateEndpoint", "webhookUrl", format, args...)
}

func (p policy) validate(rawURL string) (*url.URL, error) {
	if rawURL == "" {
		return nil, endpointErr("is required")
	}
	if len(rawURL) > maxEndpointLen {
		return nil, endpointErr("is longer than %d bytes", maxEndpointLen)
	}
	for i := 0; i < len(rawURL); i++ {
		if rawURL[i] <= ' ' || rawURL[i] == 0x7f {
			return nil, endpointErr("contains spaces or control characters")
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, endpointErr("is not a valid URL")
	}
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return nil, endpointErr("must be an absolute https URL")
	}
	if u.User != nil {
		return nil, endpointErr("must not contain user info")
	}
	if u.Fragment != "" || strings.Contains(rawURL, "#") {
		return nil, endpointErr("must not contain a fragment")
	}
	host := u.Hostname()
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, endpointErr("has an invalid port")
		}
	}
	if p.self.names(u) {
		return nil, endpointErr("must not point at this service itself")
	}
	if p.allowHTTPLoopback && (u.Scheme == "http" || u.Scheme == "https") {
		if a, err := netip.ParseAddr(host); err == nil && a.Unmap().IsLoopback() {
			return u, nil
		}
		if strings.EqualFold(host, "localhost") {
			return u, nil
		}
	}
	if u.Scheme != "https" {
		return nil, endpointErr("must use https")
	}
	if strings.Contains(host, "%") {
		return nil, endpointErr("must not contain an IPv6 zone")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if blockedAddr(a) {
			return nil, endpointErr("must not be a private, loopback, link-local or reserved address")
		}
		return u, nil
	}
	if strings.HasPrefix(u.Host, "[") {
		return nil, endpointErr("has an invalid IPv6 address")
	}
	if err := checkHostname(host); err != nil {
		return nil, err
	}
	return u, nil
}

// checkHostname accepts public-looking DNS names: LDH labels of 1 to 63
// bytes, at least two labels, a top-level label that starts with a letter,
// and none of the names reserved for local networks.
func checkHostname(host string) error {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" || len(h) > 253 {
		return endpointErr("has an invalid host name")
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return endpointErr("host must be a fully qualified public name")
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return endpointErr("has an invalid host name")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return endpointErr("has an invalid host name")
			}
		}
	}
	tld := labels[len(labels)-1]
	if tld[0] < 'a' || tld[0] > 'z' {
		return endpointErr("host must be a public name, not a numeric address form")
	}
	if underAny(h, internalNames) {
		return endpointErr("host must be a public name")
	}
	return nil
}

// internalNames are the DNS names that only mean something inside a
// network, each with every name under it: localhost (RFC 6761) and
// localdomain; local (multicast DNS, RFC 6762) and the top-level names
// RFC 6762 appendix G lists as in private use (intranet, internal,
// private, corp, home, lan); home.arpa (RFC 8375); internal (reserved by
// ICANN for private use in 2024).
var internalNames = []string{"localhost", "localdomain", "local", "intranet", "internal", "private", "corp", "home", "lan", "home.arpa"}

// unpublishedNames are the special-use top-level names the public DNS
// never answers, so that only a resolver's local configuration could give
// them a meaning: test, invalid and example (RFC 6761 and RFC 2606), onion
// (RFC 7686), alt (RFC 9476), and arpa, the infrastructure zone
// (in-addr.arpa and the like are not mail or web hosts). The second-level
// names example.com, example.net and example.org are not among them: the
// public DNS answers them (with a null MX, RFC 7505, for mail).
var unpublishedNames = []string{"test", "invalid", "example", "onion", "alt", "arpa"}

// underAny reports whether the lower-case name h is one of names or a name
// under one of them.
func underAny(h string, names []string) bool {
	for _, n := range names {
		if h == n || strings.HasSuffix(h, "."+n) {
			return true
		}
	}
	return false
}

// control is a net.Dialer Control function: it runs after name resolution,
// just before connect, with the literal address being dialled, and refuses
// every address the policy blocks, and the service's own addresses (even
// where loopback is allowed). Because it sees the resolved address it
// cannot be fooled by DNS rebinding or by names that point inside.
func (p policy) control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %s", ErrBlockedAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address", ErrBlockedAddress)
	}
	a := ap.Addr().Unmap()
	if p.self.hasAddr(a, ap.Port()) {
		return fmt.Errorf("%w: %s is this service's own address", ErrBlockedAddress, netip.AddrPortFrom(a, ap.Port()))
	}
	if p.allowHTTPLoopback && a.IsLoopback() {
		return nil
	}
	if blockedAddr(a) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, a)
	}
	return nil
}

// dialer returns a net.Dialer enforcing the policy at connect time.
func (p policy) dialer() *net.Dialer {
	return &net.Dialer{Control: p.control, KeepAlive: -1}
}
