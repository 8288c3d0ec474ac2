// Package sealertest is the conformance suite for ports.Sealer: every
// envelope adapter (local keyset file, Cloud KMS when reachable) must pass it.
package sealertest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lensflow/lensflow/shared/ports"
)

// Run runs the suite against s.
func Run(t *testing.T, s ports.Sealer) {
	t.Helper()
	ad := []byte("clinic/c1|patient/p1|object/o1")
	msg := []byte("PATIENT ZZCANARY scan payload \x00\x01\x02 with binary bytes and enough length to search for")

	// notAuthentic reports whether err is the failure of a ciphertext that
	// is not what was sealed, as ports.ErrNotAuthentic says it must be.
	notAuthentic := func(err error) bool { return errors.Is(err, ports.ErrNotAuthentic) }

	seal := func(t *testing.T, pt, ad []byte) []byte {
		t.Helper()
		ct, err := s.Encrypt(pt, ad)
		if err != nil {
			t.Fatalf("Encrypt: %v", err)
		}
		return ct
	}

	t.Run("RoundTrip", func(t *testing.T) {
		cases := []struct {
			name   string
			pt, ad []byte
		}{
			{"text", msg, ad},
			{"empty plaintext", []byte{}, ad},
			{"nil plaintext", nil, ad},
			{"empty associated data", msg, nil},
			{"large", bytes.Repeat([]byte{0, 1, 2, 3, 0xff}, 100_000), ad},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ct := seal(t, c.pt, c.ad)
				got, err := s.Decrypt(ct, c.ad)
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				if !bytes.Equal(got, c.pt) {
					t.Fatalf("Decrypt returned %d bytes, want the %d plaintext bytes", len(got), len(c.pt))
				}
			})
		}
	})

	t.Run("WrongAssociatedDataFails", func(t *testing.T) {
		ct := seal(t, msg, ad)
		for name, wrong := range map[string][]byte{
			"other object": []byte("clinic/c1|patient/p1|object/o2"),
			"empty":        nil,
			"prefix":       ad[:len(ad)-1],
			"extended":     append(bytes.Clone(ad), 'x'),
		} {
			t.Run(name, func(t *testing.T) {
				if _, err := s.Decrypt(ct, wrong); !notAuthentic(err) {
					t.Fatalf("Decrypt with wrong associated data: err = %v, want ErrNotAuthentic", err)
				}
			})
		}
	})

	t.Run("FlippedBitFails", func(t *testing.T) {
		ct := seal(t, msg, ad)
		// Every byte, so the wrapped data key, the nonce, the payload and the
		// tag are all covered; the bit varies with the position.
		for i := range ct {
			bad := bytes.Clone(ct)
			bad[i] ^= 1 << (i % 8)
			if _, err := s.Decrypt(bad, ad); !notAuthentic(err) {
				t.Fatalf("Decrypt with bit %d of byte %d of %d flipped: err = %v, want ErrNotAuthentic", i%8, i, len(ct), err)
			}
		}
	})

	t.Run("TruncatedFails", func(t *testing.T) {
		ct := seal(t, msg, ad)
		for _, n := range []int{0, 1, 4, 5, len(ct) / 2, len(ct) - 16, len(ct) - 1} {
			if _, err := s.Decrypt(ct[:n], ad); !notAuthentic(err) {
				t.Fatalf("Decrypt of the first %d of %d bytes: err = %v, want ErrNotAuthentic", n, len(ct), err)
			}
		}
		if _, err := s.Decrypt(append(bytes.Clone(ct), 0), ad); !notAuthentic(err) {
			t.Fatalf("Decrypt with a byte appended: err = %v, want ErrNotAuthentic", err)
		}
	})

	t.Run("FreshDataKeyPerMessage", func(t *testing.T) {
		a, b := seal(t, msg, ad), seal(t, msg, ad)
		if bytes.Equal(a, b) {
			t.Fatal("two encryptions of one plaintext are identical")
		}
		for _, ct := range [][]byte{a, b} {
			if got, err := s.Decrypt(ct, ad); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("Decrypt = %d bytes, %v; want the plaintext", len(got), err)
			}
		}
	})

	t.Run("CiphertextHidesPlaintext", func(t *testing.T) {
		ct := seal(t, msg, ad)
		for _, needle := range [][]byte{msg, []byte("ZZCANARY"), msg[8:24]} {
			if bytes.Contains(ct, needle) {
				t.Fatalf("ciphertext contains plaintext fragment %q", needle)
			}
		}
		if bytes.Contains(ct, ad) {
			t.Fatal("ciphertext contains the associated data")
		}
	})

	t.Run("SwappedCiphertextsFail", func(t *testing.T) {
		adA, adB := []byte("object/A"), []byte("object/B")
		ctA := seal(t, []byte("scan A"), adA)
		if _, err := s.Decrypt(ctA, adB); !notAuthentic(err) {
			t.Fatalf("ciphertext of object A decrypted as object B: err = %v, want ErrNotAuthentic", err)
		}
	})
}
