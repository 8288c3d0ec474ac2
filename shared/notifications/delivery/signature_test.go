package delivery_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/notifications/delivery"
)

// The test vector published with the Standard Webhooks reference
// libraries: it proves interoperability (delimiters, key decoding, base64
// alphabet), which a round trip through our own Verify cannot.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specUnix   = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignSpecVector(t *testing.T) {
	got, err := delivery.Sign(specSecret, specID, time.Unix(specUnix, 999_000_000), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSig {
		t.Fatalf("Sign = %q, want %q", got, specSig)
	}
}

// A vector computed by hand (openssl) with a different key length, so the
// test does not depend on one published example:
//
//	printf 'msg_1.1700000000.{}' | openssl dgst -sha256 -hmac "$(printf '%032d' 0)" -binary | base64
func TestSignHandVector(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("0", 32)))
	got, err := delivery.Sign(secret, "msg_1", time.Unix(1700000000, 0), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,9DY6+WdH9pdf4TOuH8p/6He6iTUAg0yiM5huvGJWsUY="; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func specHeader(sig string) http.Header {
	h := http.Header{}
	h.Set(delivery.HeaderID, specID)
	h.Set(delivery.HeaderTimestamp, fmt.Sprint(specUnix))
	h.Set(delivery.HeaderSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	now := time.Unix(specUnix, 0)
	other, _ := delivery.NewSecret()
	otherSig, _ := delivery.Sign(other, specID, now, []byte(specBody))
	tests := []struct {
		name    string
		secret  string
		header  http.Header
		body    string
		now     time.Time
		tol     time.Duration
		wantErr error // nil: accepted
		field   string
	}{
		{"spec vector", specSecret, specHeader(specSig), specBody, now, 0, nil, ""},
		{"rotation: second signature matches", specSecret, specHeader(otherSig + " " + specSig), specBody, now, 0, nil, ""},
		{"rotation: unknown versions ignored", specSecret, specHeader("v1a,AAAA v2,xyz " + specSig), specBody, now, 0, nil, ""},
		{"4m59s old within default tolerance", specSecret, specHeader(specSig), specBody, now.Add(299 * time.Second), 0, nil, ""},
		{"5m1s old", specSecret, specHeader(specSig), specBody, now.Add(301 * time.Second), 0, delivery.ErrTimestampTooOld, delivery.HeaderTimestamp},
		{"5m1s in the future", specSecret, specHeader(specSig), specBody, now.Add(-301 * time.Second), 0, delivery.ErrTimestampTooNew, delivery.HeaderTimestamp},
		{"custom tolerance", specSecret, specHeader(specSig), specBody, now.Add(11 * time.Second), 10 * time.Second, delivery.ErrTimestampTooOld, delivery.HeaderTimestamp},
		{"tampered body", specSecret, specHeader(specSig), `{"test": 2432232315}`, now, 0, delivery.ErrNoMatchingSignature, delivery.HeaderSignature},
		{"wrong secret", other, specHeader(specSig), specBody, now, 0, delivery.ErrNoMatchingSignature, delivery.HeaderSignature},
		{"signature without version", specSecret, specHeader(strings.TrimPrefix(specSig, "v1,")), specBody, now, 0, delivery.ErrNoMatchingSignature, delivery.HeaderSignature},
		{"wrong version", specSecret, specHeader("v2," + strings.TrimPrefix(specSig, "v1,")), specBody, now, 0, delivery.ErrNoMatchingSignature, delivery.HeaderSignature},
		{"truncated signature", specSecret, specHeader(specSig[:20]), specBody, now, 0, delivery.ErrNoMatchingSignature, delivery.HeaderSignature},
		{"missing id", specSecret, func() http.Header { h := specHeader(specSig); h.Del(delivery.HeaderID); return h }(), specBody, now, 0, delivery.ErrMissingHeader, delivery.HeaderID},
		{"missing timestamp", specSecret, func() http.Header { h := specHeader(specSig); h.Del(delivery.HeaderTimestamp); return h }(), specBody, now, 0, delivery.ErrMissingHeader, delivery.HeaderTimestamp},
		{"missing signature", specSecret, specHeader(""), specBody, now, 0, delivery.ErrMissingHeader, delivery.HeaderSignature},
		{"blank signature", specSecret, specHeader("   "), specBody, now, 0, delivery.ErrMissingHeader, delivery.HeaderSignature},
		{"timestamp in milliseconds", specSecret, func() http.Header {
			h := specHeader(specSig)
			h.Set(delivery.HeaderTimestamp, "1614265330000")
			return h
		}(), specBody, now, 0, delivery.ErrInvalidHeader, delivery.HeaderTimestamp},
		{"signed timestamp", specSecret, func() http.Header { h := specHeader(specSig); h.Set(delivery.HeaderTimestamp, "+1614265330"); return h }(), specBody, now, 0, delivery.ErrInvalidHeader, delivery.HeaderTimestamp},
		{"fractional timestamp", specSecret, func() http.Header {
			h := specHeader(specSig)
			h.Set(delivery.HeaderTimestamp, "1614265330.5")
			return h
		}(), specBody, now, 0, delivery.ErrInvalidHeader, delivery.HeaderTimestamp},
		{"id with space", specSecret, func() http.Header { h := specHeader(specSig); h.Set(delivery.HeaderID, "a b"); return h }(), specBody, now, 0, delivery.ErrInvalidHeader, delivery.HeaderID},
		{"too many signatures", specSecret, specHeader(strings.Repeat("v1,AAAA ", 16) + specSig), specBody, now, 0, delivery.ErrInvalidHeader, delivery.HeaderSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := delivery.Verify(tt.secret, tt.header, []byte(tt.body), tt.now, tt.tol)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if !errs.Is(errs.Unauthenticated, err) {
				t.Errorf("kind %v, want unauthenticated", errs.KindOf(err))
			}
			if got := errs.FieldOf(err); got != tt.field {
				t.Errorf("field %q, want %q", got, tt.field)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	s1, err := delivery.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := delivery.NewSecret()
	if s1 == s2 {
		t.Fatal("NewSecret repeated itself")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s1, "whsec_"))
	if !strings.HasPrefix(s1, "whsec_") || err != nil || len(key) != 32 {
		t.Fatalf("secret %q: want whsec_ + base64 of 32 bytes", s1)
	}

	bad := map[string]string{
		"no prefix":  strings.TrimPrefix(specSecret, "whsec_"),
		"not base64": "whsec_!!!!",
		"too short":  "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)),
		"too long":   "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)),
		"empty":      "",
		"url base64": "whsec_" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xff", 30))),
	}
	for name, secret := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := delivery.Sign(secret, "msg", time.Now(), nil); errs.FieldOf(err) != "secret" || !errs.Is(errs.Invalid, err) {
				t.Errorf("Sign: %v, want invalid secret", err)
			}
			if err := delivery.Verify(secret, specHeader(specSig), []byte(specBody), time.Unix(specUnix, 0), 0); errs.FieldOf(err) != "secret" {
				t.Errorf("Verify: %v, want invalid secret", err)
			}
			if secret != "" && strings.Contains(fmt.Sprint(delivery.Verify(secret, nil, nil, time.Now(), 0)), secret) {
				t.Error("error message repeats the secret")
			}
		})
	}
	for _, id := range []string{"", "a b", "a\nb", strings.Repeat("x", 257), "é"} {
		if _, err := delivery.Sign(specSecret, id, time.Now(), nil); errs.FieldOf(err) != "id" {
			t.Errorf("Sign(id %q): %v, want invalid id", id, err)
		}
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	secret, _ := delivery.NewSecret()
	now := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	for _, body := range []string{"", "{}", `{"type":"order.status_changed"}`, "\x00\xff binary"} {
		sig, err := delivery.Sign(secret, "evt_1", now, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(delivery.HeaderID, "evt_1")
		h.Set(delivery.HeaderTimestamp, fmt.Sprint(now.Unix()))
		h.Add(delivery.HeaderSignature, "v1,bm9wZQ==") // a second header line is also considered
		h.Add(delivery.HeaderSignature, sig)
		if err := delivery.Verify(secret, h, []byte(body), now, 0); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
	}
}

// ExampleVerify is how a clinic's receiver checks a lensflow webhook: read
// the raw body, verify it against the headers with the secret shown when
// the webhook was registered, and only then decode the JSON.
func ExampleVerify() {
	secret := specSecret // the clinic's "whsec_..." secret
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, r.ContentLength) // in real code: io.ReadAll(http.MaxBytesReader(...))
		_, _ = r.Body.Read(body)
		if err := delivery.Verify(secret, r.Header, body, time.Now(), delivery.DefaultTolerance); err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		// Deduplicate on r.Header.Get("webhook-id"), then handle the event.
		w.WriteHeader(http.StatusNoContent)
	})
	_ = handler

	// The check itself, with the Standard Webhooks test vector:
	h := http.Header{}
	h.Set("webhook-id", specID)
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", specSig)
	err := delivery.Verify(secret, h, []byte(specBody), time.Unix(1614265330, 0), delivery.DefaultTolerance)
	fmt.Println("valid:", err == nil)
	err = delivery.Verify(secret, h, []byte(specBody), time.Unix(1614265330, 0).Add(time.Hour), 0)
	fmt.Println("an hour later:", errors.Is(err, delivery.ErrTimestampTooOld))
	// Output:
	// valid: true
	// an hour later: true
}

func ExampleSign() {
	sig, err := delivery.Sign(specSecret, specID, time.Unix(1614265330, 0), []byte(specBody))
	fmt.Println(sig, err)
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= <nil>
}
