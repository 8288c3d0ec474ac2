package envelope

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/sealertest"
)

func openFile(t testing.TB, path string) ports.Sealer {
	t.Helper()
	s, err := Open(context.Background(), "file://"+path)
	if err != nil {
		t.Fatalf("Open(file://%s): %v", path, err)
	}
	return s
}

func TestConformanceLocalKeyset(t *testing.T) {
	sealertest.Run(t, openFile(t, filepath.Join(t.TempDir(), "keys", "kek.json")))
}

func TestConformanceCloudKMS(t *testing.T) {
	key := os.Getenv("LENSFLOW_TEST_KMS_KEY")
	if key == "" {
		t.Skip("LENSFLOW_TEST_KMS_KEY is not set (gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K, with ADC credentials): Cloud KMS has no emulator, so the live suite is skipped")
	}
	s, err := Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	sealertest.Run(t, s)
}

func TestLocalKeysetReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "kek.json")
	first := openFile(t, path)
	ad := ports.AssociatedData("clinic-1", "patient-2", "scan-3")
	ct, err := first.Encrypt([]byte("scan bytes"), ad)
	if err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("keyset file not created: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("keyset file mode = %04o, want 0600", perm)
	}
	before, _ := os.ReadFile(path)

	again := openFile(t, path)
	pt, err := again.Decrypt(ct, ad)
	if err != nil || string(pt) != "scan bytes" {
		t.Fatalf("Decrypt after reopen = %q, %v", pt, err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("reopening rewrote the keyset file")
	}

	other := openFile(t, filepath.Join(dir, "other.json"))
	if _, err := other.Decrypt(ct, ad); err == nil {
		t.Fatal("a different keyset decrypted the ciphertext")
	}

	leftovers, _ := filepath.Glob(filepath.Join(dir, "sub", ".kek-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestLocalKeysetRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := Open(context.Background(), "file://data/kek.json")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := os.Stat(filepath.Join("data", "kek.json")); err != nil {
		t.Fatalf("relative keyset not created: %v", err)
	}
	if _, err := s.Encrypt([]byte("x"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestLocalKeysetConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.json")
	const n = 8
	sealers := make([]ports.Sealer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := Open(context.Background(), "file://"+path)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			sealers[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// All openers must end up with the one key on disk.
	final := openFile(t, path)
	for i, s := range sealers {
		ct, err := s.Encrypt([]byte("m"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := final.Decrypt(ct, nil); err != nil {
			t.Fatalf("opener %d holds a key that is not the one on disk", i)
		}
	}
}

func TestLocalKeysetRejects(t *testing.T) {
	dir := t.TempDir()
	secret := "c2VjcmV0LWtleS1ieXRlcw=="
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		kind    errs.Kind
	}{
		{"garbage", "not json " + secret, 0o600, errs.Invalid},
		{"empty", "", 0o600, errs.Invalid},
		{"json not keyset", `{"key":"` + secret + `"}`, 0o600, errs.Invalid},
		{"world readable", "{}", 0o644, errs.Permission},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".json")
			if err := os.WriteFile(p, []byte(c.content), c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, c.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), "file://"+p)
			if !errs.Is(c.kind, err) {
				t.Fatalf("err = %v (kind %v), want %v", err, errs.KindOf(err), c.kind)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatal("error text quotes the file's content")
			}
		})
	}
	t.Run("non-AEAD keyset", func(t *testing.T) {
		// A valid Tink keyset holding a MAC key is not a KEK.
		p := filepath.Join(dir, "mac.json")
		mac := `{"primaryKeyId":1,"key":[{"keyData":{"typeUrl":"type.googleapis.com/google.crypto.tink.HmacKey",` +
			`"value":"EgQIAxAgGiDZsmkTufMG/XlKlk9m7bqxustjUPT2YULEVm8mOp2mSA==","keyMaterialType":"SYMMETRIC"},` +
			`"status":"ENABLED","keyId":1,"outputPrefixType":"TINK"}]}`
		if err := os.WriteFile(p, []byte(mac), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), "file://"+p)
		if !errs.Is(errs.Invalid, err) {
			t.Fatalf("err = %v (kind %v), want Invalid", err, errs.KindOf(err))
		}
		if strings.Contains(err.Error(), "2DZsmk") {
			t.Fatal("error text quotes key material")
		}
	})
}

func TestParseURI(t *testing.T) {
	cases := []struct {
		uri    string
		scheme string
		path   string
		ok     bool
	}{
		{"gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k", schemeGCPKMS, "projects/p/locations/global/keyRings/r/cryptoKeys/k", true},
		{"gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", "", "", false},
		{"gcp-kms://projects/p/locations/l/keyRings/r", "", "", false},
		{"gcp-kms://projects//locations/l/keyRings/r/cryptoKeys/k", "", "", false},
		{"gcp-kms://", "", "", false},
		{"file:///abs/kek.json", schemeFile, "/abs/kek.json", true},
		{"file://rel/dir/kek.json", schemeFile, "rel/dir/kek.json", true},
		{"file://./kek.json", schemeFile, "kek.json", true},
		{"file://", "", "", false},
		{"file:///dir/", "", "", false},
		{"file:///k.json?x=1", "", "", false},
		{"aws-kms://arn:aws:kms:us-east-1:1:key/x", "", "", false},
		{"hcvault://x", "", "", false},
		{"/plain/path", "", "", false},
		{"", "", "", false},
		{"GCP-KMS://projects/p/locations/l/keyRings/r/cryptoKeys/k", "", "", false},
	}
	for _, c := range cases {
		t.Run(c.uri, func(t *testing.T) {
			k, err := parseURI(c.uri)
			if (err == nil) != c.ok {
				t.Fatalf("parseURI(%q) err = %v, want ok=%v", c.uri, err, c.ok)
			}
			if c.ok && (k.scheme != c.scheme || k.path != c.path) {
				t.Fatalf("parseURI(%q) = %+v, want %s %s", c.uri, k, c.scheme, c.path)
			}
			if !c.ok {
				if _, err := Open(context.Background(), c.uri); !errs.Is(errs.Invalid, err) {
					t.Fatalf("Open(%q): err = %v, want Invalid", c.uri, err)
				}
			}
		})
	}
	t.Run("unsupported scheme is named", func(t *testing.T) {
		_, err := Open(context.Background(), "aws-kms://arn:aws:kms:secret-part")
		if err == nil || !strings.Contains(err.Error(), `"aws-kms"`) || strings.Contains(err.Error(), "secret-part") {
			t.Fatalf("err = %v; want the scheme named and the rest left out", err)
		}
	})
}

func TestAssociatedData(t *testing.T) {
	distinct := [][]string{
		{"ab", "c"},
		{"a", "bc"},
		{"abc"},
		{"abc", ""},
		{"", "abc"},
		{},
		{""},
		{"", ""},
		{"a\x00\x00\x00\x01b"},
		{"a", "b"},
	}
	seen := map[string][]string{}
	for _, parts := range distinct {
		ad := string(ports.AssociatedData(parts...))
		if prev, dup := seen[ad]; dup {
			t.Fatalf("ports.AssociatedData(%q) == ports.AssociatedData(%q)", parts, prev)
		}
		seen[ad] = parts
	}
	if !bytes.Equal(ports.AssociatedData("c1", "p1", "o1"), ports.AssociatedData("c1", "p1", "o1")) {
		t.Fatal("AssociatedData is not deterministic")
	}
	want := []byte{1, 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 1, 'c'}
	if got := ports.AssociatedData("ab", "c"); !bytes.Equal(got, want) {
		t.Fatalf("ports.AssociatedData(ab, c) = %v, want %v (format is stored with every object: do not change it)", got, want)
	}
}

func TestKEKKind(t *testing.T) {
	cases := []struct {
		err  error
		want errs.Kind
	}{
		{status.Error(codes.Unavailable, "x"), errs.Unavailable},
		{status.Error(codes.DeadlineExceeded, "x"), errs.Unavailable},
		{status.Error(codes.ResourceExhausted, "x"), errs.Unavailable},
		// The key service refusing lensflow's own service account is a
		// deployment fault (package kinds), not the caller's 403 or 401.
		{status.Error(codes.PermissionDenied, "x"), errs.Other},
		{status.Error(codes.Unauthenticated, "x"), errs.Other},
		{status.Error(codes.FailedPrecondition, "key disabled"), errs.Other},
		// Nothing of the caller's reaches the key service: invalid or
		// missing means the deployment's key, never a 400 or 404.
		{status.Error(codes.InvalidArgument, "x"), errs.Other},
		{status.Error(codes.NotFound, "no such key"), errs.Other},
		// Cloud KMS through tink is a JSON API: googleapi errors.
		{&googleapi.Error{Code: 503}, errs.Unavailable},
		{&googleapi.Error{Code: 429}, errs.Unavailable},
		{&googleapi.Error{Code: 403}, errs.Other},
		{&googleapi.Error{Code: 400, Body: `{"error":{"code":400,"status":"FAILED_PRECONDITION"}}`}, errs.Other},
		{&url.Error{Op: "Post", URL: "https://cloudkms.googleapis.com/v1/x:decrypt", Err: errors.New("connection reset")}, errs.Unavailable},
		{&url.Error{Op: "Post", URL: "https://cloudkms.googleapis.com/v1/x:decrypt", Err: context.DeadlineExceeded}, errs.Unavailable},
		{errors.New("decryption failed"), errs.Other},
	}
	for _, c := range cases {
		t.Run(c.err.Error(), func(t *testing.T) {
			if got := kekKind(c.err); got != c.want {
				t.Fatalf("kekKind = %v, want %v", got, c.want)
			}
		})
	}
}

// failingKEK is a KEK that fails with err, as Cloud KMS does.
type failingKEK struct{ err error }

func (k failingKEK) Encrypt(_, _ []byte) ([]byte, error) { return nil, k.err }
func (k failingKEK) Decrypt(_, _ []byte) ([]byte, error) { return nil, k.err }

func TestKMSOutageIsUnavailable(t *testing.T) {
	for _, outage := range []error{
		status.Error(codes.Unavailable, "kms down"),
		&googleapi.Error{Code: 503, Message: "kms down"},
		&url.Error{Op: "Post", URL: "https://cloudkms.googleapis.com/v1/x:decrypt", Err: errors.New("connection refused")},
	} {
		t.Run(outage.Error(), func(t *testing.T) {
			s := &sealer{env: failingKEK{outage}}
			if _, err := s.Encrypt([]byte("x"), nil); !errs.Is(errs.Unavailable, err) {
				t.Fatalf("Encrypt: err = %v, want Unavailable", err)
			}
			_, err := s.Decrypt([]byte("x"), nil)
			if !errs.Is(errs.Unavailable, err) || errors.Is(err, ports.ErrNotAuthentic) {
				t.Fatalf("Decrypt: err = %v, want Unavailable, not ErrNotAuthentic", err)
			}
		})
	}
}

// A ciphertext Cloud KMS refuses is not authentic; a refusal of lensflow's
// credentials is not a damaged object, whatever its kind.
func TestDecryptTellsTamperingFromRefusal(t *testing.T) {
	cases := []struct {
		name         string
		err          error
		notAuthentic bool
		wantKind     errs.Kind
	}{
		{"kms invalid ciphertext", &googleapi.Error{Code: 400, Message: "Decryption failed: the ciphertext is invalid."}, true, errs.Other},
		{"grpc invalid ciphertext", status.Error(codes.InvalidArgument, "Decryption failed"), true, errs.Other},
		{"tink", errors.New("aead: decryption failed"), true, errs.Other},
		{"kms permission", &googleapi.Error{Code: 403, Message: "Permission denied"}, false, errs.Other},
		{"kms key disabled", &googleapi.Error{Code: 400, Body: `{"error":{"code":400,"status":"FAILED_PRECONDITION"}}`}, false, errs.Other},
		{"kms key missing", &googleapi.Error{Code: 404}, false, errs.Other},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &sealer{env: failingKEK{c.err}}
			_, err := s.Decrypt([]byte("x"), nil)
			if got := errors.Is(err, ports.ErrNotAuthentic); got != c.notAuthentic {
				t.Fatalf("Decrypt: err = %v, ErrNotAuthentic %v, want %v", err, got, c.notAuthentic)
			}
			if got := errs.KindOf(err); got != c.wantKind {
				t.Fatalf("Decrypt: kind %v, want %v", got, c.wantKind)
			}
		})
	}
}

// BenchmarkSeal450KB measures Encrypt+Decrypt of a 450 KB scan with a local
// KEK (the size of a typical corneal topography export).
func BenchmarkSeal450KB(b *testing.B) { benchSeal(b, 450*1024) }

// BenchmarkSeal1KB is the same for 1 KB: what an envelope costs whatever
// its size (a new data key, wrapped by the KEK).
func BenchmarkSeal1KB(b *testing.B) { benchSeal(b, 1024) }

func benchSeal(b *testing.B, size int) {
	s := openFile(b, filepath.Join(b.TempDir(), "kek.json"))
	pt := make([]byte, size)
	if _, err := rand.Read(pt); err != nil {
		b.Fatal(err)
	}
	ad := ports.AssociatedData("clinic", "patient", "scan")
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		ct, err := s.Encrypt(pt, ad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Decrypt(ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}
