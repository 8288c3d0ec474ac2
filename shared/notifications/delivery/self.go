package delivery

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// selfAddr is one address at which the service itself answers, so that a
// webhook sent there would be a request from the service to itself (to its
// API, or locally to the developer routes and embedded emulators).
type selfAddr struct {
	name     string     // a lower-case DNS name without a trailing dot; "" for an IP address
	addr     netip.Addr // an IP address (unmapped); the zero Addr for a name
	port     int        // the port, explicit or the scheme's default; 0: unknown
	loopback bool       // reached at any loopback address (or "localhost") at port
}

// selfAddrs are the service's own addresses (SenderOptions.Self).
type selfAddrs []selfAddr

// parseSelf reads SenderOptions.Self: absolute URLs ("https://api.example.com",
// "http://127.0.0.1:8080/dev-issuer") or host:port addresses
// ("127.0.0.1:2525"). Entries that are neither are skipped (wire checks its
// configuration before building a Sender). A host that is unspecified
// (0.0.0.0, ::: listening on every interface) stands for every loopback
// address and every address of this machine's interfaces at its port.
func parseSelf(entries []string) selfAddrs {
	var out selfAddrs
	for _, e := range entries {
		e = strings.TrimSpace(e)
		var host, port string
		if strings.Contains(e, "://") {
			u, err := url.Parse(e)
			if err != nil || u.Host == "" {
				continue
			}
			host, port = u.Hostname(), u.Port()
			if port == "" {
				port = defaultPort(u.Scheme)
			}
		} else {
			var err error
			if host, port, err = net.SplitHostPort(e); err != nil {
				continue
			}
		}
		n, _ := strconv.Atoi(port)
		if n < 0 || n > 65535 {
			continue
		}
		host = normalHost(host)
		if host == "" {
			continue
		}
		a, err := netip.ParseAddr(host)
		switch {
		case err != nil:
			out = append(out, selfAddr{name: host, port: n, loopback: localhostName(host)})
		case a.Unmap().IsUnspecified():
			out = append(out, selfAddr{addr: a.Unmap(), port: n, loopback: true})
			if ifaddrs, err := net.InterfaceAddrs(); err == nil {
				for _, ia := range ifaddrs {
					if p, err := netip.ParsePrefix(ia.String()); err == nil {
						out = append(out, selfAddr{addr: p.Addr().Unmap().WithZone(""), port: n})
					}
				}
			}
		default:
			a = a.Unmap().WithZone("")
			out = append(out, selfAddr{addr: a, port: n, loopback: a.IsLoopback()})
		}
	}
	return out
}

// names reports whether u names one of the service's own addresses: the
// same DNS name (in any case, with or without the trailing dot, at any
// port), the same IP address at the same port (IPv4-mapped IPv6 spellings
// included, the scheme's default port when none is written), or, for an
// address reached on loopback, any loopback address or localhost name at
// that port.
func (s selfAddrs) names(u *url.URL) bool {
	if len(s) == 0 {
		return false
	}
	host := normalHost(u.Hostname())
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		n = -1
	}
	a, aerr := netip.ParseAddr(host)
	if aerr == nil {
		a = a.Unmap().WithZone("")
	}
	loopback := localhostName(host) || aerr == nil && (a.IsLoopback() || a.IsUnspecified())
	for _, x := range s {
		switch {
		case x.name != "" && !x.loopback && x.name == host:
			return true // a name of ours: nothing of a clinic's lives there, on any port
		case x.port != n:
		case x.loopback && loopback:
			return true
		case aerr == nil && x.addr.IsValid() && x.addr == a:
			return true
		}
	}
	return false
}

// hasAddr reports whether a connection to a at port would reach the
// service itself. Names are not resolved here: a name of the service's
// (its public URL's host) resolves to a shared front end that routes by
// the name the request carries, which names() has already checked.
func (s selfAddrs) hasAddr(a netip.Addr, port uint16) bool {
	a = a.Unmap().WithZone("")
	for _, x := range s {
		if x.port != int(port) {
			continue
		}
		if x.loopback && (a.IsLoopback() || a.IsUnspecified()) || x.addr.IsValid() && x.addr == a {
			return true
		}
	}
	return false
}

// normalHost lower-cases a host and drops a trailing dot and IPv6
// brackets, so that spellings of one host compare equal.
func normalHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// localhostName reports whether h (normalised) is localhost or a name
// under it, which resolvers answer with a loopback address (RFC 6761).
func localhostName(h string) bool {
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// defaultPort is the port a URL of scheme means when it names none.
func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}
