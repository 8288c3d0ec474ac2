package delivery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
)

// Standard Webhooks header names (https://www.standardwebhooks.com).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every webhook secret; the rest is standard base64.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a webhook-timestamp may be from the receiver's
// clock, in either direction, before Verify rejects the message as a replay
// (or as coming from a badly skewed clock).
const DefaultTolerance = 5 * time.Minute

// Secret key sizes in bytes allowed by Standard Webhooks; NewSecret uses 32.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
	newSecretBytes = 32
)

// Limits on header contents, so hostile headers cost bounded work.
const (
	maxIDLen         = 256
	maxSignatureHdr  = 4096
	maxSignatureList = 16
)

// Errors that Verify wraps, for receivers that want to tell them apart with
// errors.Is. All are classified errs.Unauthenticated.
var (
	ErrMissingHeader       = errors.New("missing webhook header")
	ErrInvalidHeader       = errors.New("malformed webhook header")
	ErrTimestampTooOld     = errors.New("webhook timestamp too old")
	ErrTimestampTooNew     = errors.New("webhook timestamp too far in the future")
	ErrNoMatchingSignature = errors.New("no matching webhook signature")
)

// NewSecret returns a fresh webhook signing secret, "whsec_" followed by the
// standard base64 encoding of 32 random bytes. Show it to the clinic once and
// store it only encrypted.
func NewSecret() (string, error) {
	b := make([]byte, newSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", errs.E("notify.NewSecret", errs.Other, err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// secretKey decodes a "whsec_" secret to its HMAC key.
func secretKey(op, secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errs.Field(op, "secret", "must start with %q", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, errs.Field(op, "secret", "is not valid base64")
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, errs.Field(op, "secret", "must encode %d to %d bytes", minSecretBytes, maxSecretBytes)
	}
	return key, nil
}

// validMessageID reports whether id can be a webhook-id: 1 to 256 printable
// ASCII characters without spaces.
func validMessageID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the webhook-signature header value "v1,<base64 HMAC-SHA256>"
// for message id sent at ts (truncated to unix seconds) with the given raw
// body. The secret must be a "whsec_" secret of 24 to 64 bytes and the id 1
// to 256 printable ASCII characters without spaces; otherwise Sign returns an
// errs.Invalid error naming "secret" or "id".
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	const op = "notify.Sign"
	key, err := secretKey(op, secret)
	if err != nil {
		return "", err
	}
	if !validMessageID(id) {
		return "", errs.Field(op, "id", "must be 1 to %d printable characters without spaces", maxIDLen)
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)), nil
}

func unauthenticated(field string, err error) error {
	return &errs.Error{Op: "notify.Verify", Kind: errs.Unauthenticated, Field: field, Err: err}
}

// Verify checks a received webhook: the webhook-id, webhook-timestamp and
// webhook-signature headers in header against the raw body bytes (exactly as
// received, before any JSON decoding) and the clinic's secret.
//
// The timestamp must be within tolerance of now in either direction
// (tolerance <= 0 means DefaultTolerance). The signature header is a
// space-separated list of "version,signature" entries; entries of other
// versions are ignored, and the message is accepted if any v1 entry matches.
// Signatures are compared in constant time.
//
// A bad secret is errs.Invalid (field "secret"); every problem with the
// message is errs.Unauthenticated, naming the header, and wraps one of
// ErrMissingHeader, ErrInvalidHeader, ErrTimestampTooOld,
// ErrTimestampTooNew or ErrNoMatchingSignature.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := secretKey("notify.Verify", secret)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id := header.Get(HeaderID)
	tsText := header.Get(HeaderTimestamp)
	sigs := strings.Join(header.Values(HeaderSignature), " ")
	switch {
	case id == "":
		return unauthenticated(HeaderID, ErrMissingHeader)
	case tsText == "":
		return unauthenticated(HeaderTimestamp, ErrMissingHeader)
	case strings.TrimSpace(sigs) == "":
		return unauthenticated(HeaderSignature, ErrMissingHeader)
	}
	if !validMessageID(id) {
		return unauthenticated(HeaderID, ErrInvalidHeader)
	}
	unix, ok := parseUnix(tsText)
	if !ok {
		return unauthenticated(HeaderTimestamp, ErrInvalidHeader)
	}
	ts := time.Unix(unix, 0)
	if now.Sub(ts) > tolerance {
		return unauthenticated(HeaderTimestamp, ErrTimestampTooOld)
	}
	if ts.Sub(now) > tolerance {
		return unauthenticated(HeaderTimestamp, ErrTimestampTooNew)
	}
	if len(sigs) > maxSignatureHdr {
		return unauthenticated(HeaderSignature, ErrInvalidHeader)
	}
	want := mac(key, id, unix, body)
	entries := strings.Fields(sigs)
	if len(entries) > maxSignatureList {
		return unauthenticated(HeaderSignature, ErrInvalidHeader)
	}
	matched := false
	for _, entry := range entries {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		// Check every entry without stopping early, so the time taken does not
		// depend on which entry matched.
		if hmac.Equal(got, want) {
			matched = true
		}
	}
	if !matched {
		return unauthenticated(HeaderSignature, ErrNoMatchingSignature)
	}
	return nil
}

// parseUnix parses a webhook-timestamp: 1 to 12 ASCII digits (no sign, no
// fraction), which covers every date until the year 33658.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 12 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
