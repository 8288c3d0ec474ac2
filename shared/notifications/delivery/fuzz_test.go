package delivery_test

import (
	"errors"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
)

// FuzzVerify throws arbitrary header values and bodies at Verify: it must
// never panic, must classify every rejection, and must accept only when the
// signature is genuinely right (checked by re-signing).
func FuzzVerify(f *testing.F) {
	f.Add(specID, "1614265330", specSig, []byte(specBody))
	f.Add(specID, "1614265330", "v1,"+specSig+" v1a,xx v1,", []byte(specBody))
	f.Add("", "", "", []byte(nil))
	f.Add("id", "99999999999999999999", "v1,====", []byte("{}"))
	f.Add("a.b", "-1", ",,, v1, ,v1", []byte("x"))
	now := time.Unix(specUnix, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(delivery.HeaderID, id)
		h.Set(delivery.HeaderTimestamp, ts)
		h.Set(delivery.HeaderSignature, sig)
		err := delivery.Verify(specSecret, h, body, now, 0)
		if err == nil {
			// Accepted: the timestamp must be a plain unix time within five
			// minutes and one entry must be the genuine signature.
			n, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil || ts[0] == '+' || n < specUnix-300 || n > specUnix+300 {
				t.Fatalf("accepted timestamp %q", ts)
			}
			want, serr := delivery.Sign(specSecret, id, time.Unix(n, 0), body)
			if serr != nil || !slices.Contains(strings.Fields(sig), want) {
				t.Fatalf("accepted signature %q for id %q, want %q (%v)", sig, id, want, serr)
			}
			return
		}
		if !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("unclassified rejection: %v", err)
		}
		for _, sentinel := range []error{delivery.ErrMissingHeader, delivery.ErrInvalidHeader, delivery.ErrTimestampTooOld,
			delivery.ErrTimestampTooNew, delivery.ErrNoMatchingSignature} {
			if errors.Is(err, sentinel) {
				return
			}
		}
		t.Fatalf("rejection without a sentinel: %v", err)
	})
}

// FuzzValidateEndpoint checks that whatever a clinic registers, an accepted
// URL is https with a public host, and validation never panics.
func FuzzValidateEndpoint(f *testing.F) {
	for _, s := range []string{"https://hooks.clinic.example/x", "https://[::ffff:127.0.0.1]/", "https://0x7f.1/",
		"https://a@b.example", "http://x.example", "https://x.example:99999", "https://%31%32%37.0.0.1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := delivery.ValidateEndpoint(raw)
		if err != nil {
			if !errs.Is(errs.Invalid, err) || errs.FieldOf(err) != "webhookUrl" {
				t.Fatalf("unclassified: %v", err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || u.Scheme != "https" || u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q", raw)
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			a = a.Unmap()
			if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
				t.Fatalf("accepted internal address %q", raw)
			}
		}
	})
}

// FuzzValidateEmail checks that whatever a clinic gives, an accepted
// address is one plain address within the RFC 5321 lengths at a dotted
// name (never an address literal or localhost), and a refusal is
// errs.Invalid that does not repeat the address.
func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{"frontdesk@north-clinic.com", "user@[127.0.0.1]", "user@[IPv6:::1]", "user@localhost",
		"user@intranet", "user@lab.local", `"a b"@clinic.com`, "a@b.c.d.e.com", "Desk <d@clinic.com>", "a@clinic.com."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		err := delivery.ValidateEmail(addr)
		if err != nil {
			if !errs.Is(errs.Invalid, err) || errs.Message(err) == "" {
				t.Fatalf("unclassified: %v", err)
			}
			if len(addr) > 8 && strings.Contains(err.Error(), addr) {
				t.Fatalf("error repeats the address: %v", err)
			}
			return
		}
		a, perr := mail.ParseAddress(addr)
		at := strings.LastIndexByte(addr, '@')
		if perr != nil || a.Address != addr || len(addr) > delivery.MaxEmailLen || at < 0 || at > delivery.MaxEmailLocalLen {
			t.Fatalf("accepted %q", addr)
		}
		domain := strings.ToLower(addr[at+1:])
		if !strings.Contains(domain, ".") || strings.ContainsAny(domain, "[]:") || strings.HasSuffix(domain, "localhost") ||
			strings.HasSuffix(domain, ".local") || strings.HasSuffix(domain, ".internal") {
			t.Fatalf("accepted internal domain %q", addr)
		}
	})
}
