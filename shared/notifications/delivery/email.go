package delivery

import (
	"net/mail"
	"strings"

	"github.com/lensflow/lensflow/shared/errs"
)

// Email address lengths (RFC 5321 section 4.5.3.1): a local part of at most
// 64 octets, and a path of at most 256 octets including its angle brackets,
// which leaves 254 for the address.
const (
	MaxEmailLocalLen = 64
	MaxEmailLen      = 254
)

// ValidateEmail checks an address a clinic gives for its notifications: one
// bare address (no display name or comment, no line break) of at most
// MaxEmailLen bytes, whose local part is at most MaxEmailLocalLen bytes,
// at a public domain name: two or more labels of ASCII letters, digits and
// hyphens (an internationalised name in its xn-- form), the last starting
// with a letter. Address literals (user@[127.0.0.1], user@[IPv6:::1]),
// numeric forms (user@127.0.0.1), single labels (user@intranet), names
// for local networks (localhost, *.local, *.internal, *.lan, *.home.arpa,
// *.corp, ...) and special-use names the public DNS never answers (*.test,
// *.invalid, *.example, ...) are refused.
//
// The domain is checked by name only: the mail relay resolves it and
// connects, out of our sight, so a name that could only mean something to
// a resolver's local configuration must not get that far. That is why this
// refuses more names than ValidateEndpoint, whose connections are checked
// against the addresses the name resolved to.
//
// The error is errs.Invalid without a field, and never repeats the
// address: the caller names the field the address came from.
func ValidateEmail(addr string) error {
	const op = "notify.ValidateEmail"
	bad := func(format string, args ...any) error { return errs.Ef(op, errs.Invalid, format, args...) }
	if hasLineBreak(addr) {
		return bad("is not a plain email address")
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr {
		return bad("is not a plain email address")
	}
	if len(addr) > MaxEmailLen {
		return bad("is longer than %d bytes", MaxEmailLen)
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if len(local) > MaxEmailLocalLen {
		return bad("has a local part longer than %d bytes", MaxEmailLocalLen)
	}
	if strings.HasPrefix(domain, "[") {
		return bad("must have a domain name, not an address literal")
	}
	h := strings.ToLower(strings.TrimSuffix(domain, "."))
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return bad("must have a fully qualified public domain")
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return bad("has an invalid domain name")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad("has an invalid domain name (write an international name in its xn-- form)")
			}
		}
	}
	if tld := labels[len(labels)-1]; tld[0] < 'a' || tld[0] > 'z' {
		return bad("must have a domain name, not a numeric address")
	}
	if underAny(h, internalNames) || underAny(h, unpublishedNames) {
		return bad("has a domain for local networks or one the public DNS does not answer")
	}
	return nil
}
