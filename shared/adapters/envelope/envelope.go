// Package envelope implements ports.Sealer as a Tink envelope AEAD: every
// message is encrypted with a fresh AES256-GCM data key, and the data key is
// wrapped by a key-encryption key (KEK) chosen by URI:
//
//	gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K
//	    a Cloud KMS symmetric key (production);
//	file:///abs/path/kek.json, file://relative/path/kek.json
//	    a local Tink AES256-GCM keyset stored as cleartext JSON, created on
//	    first use (mode 0600) and reused afterwards.
//
// The local keyset file is unprotected key material: it is for the local
// stack and tests only and must never hold a key that protects real data.
// One code path (tink's KMS envelope AEAD) serves both, so local runs
// exercise the production format. Key material is never logged or put in
// errors.
package envelope

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tink-crypto/tink-go-gcpkms/v2/integration/gcpkms"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/errs/kinds"
	"github.com/lensflow/lensflow/shared/ports"
)

const (
	schemeGCPKMS = "gcp-kms://"
	schemeFile   = "file://"
)

// kmsKeyName is the resource name of a Cloud KMS crypto key (not a version:
// encryption always uses the primary version, decryption finds the right one).
var kmsKeyName = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

// Open returns the envelope Sealer over the KEK named by kekURI.
// An unsupported scheme or malformed URI is errs.Invalid.
func Open(ctx context.Context, kekURI string) (ports.Sealer, error) {
	const op = "envelope.Open"
	k, err := parseURI(kekURI)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	var kek tink.AEAD
	switch k.scheme {
	case schemeGCPKMS:
		kek, err = openKMS(ctx, kekURI)
	case schemeFile:
		kek, err = openKeysetFile(k.path)
	}
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	return &sealer{env: aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), kek)}, nil
}

// kekRef is a parsed KEK URI.
type kekRef struct {
	scheme string // schemeGCPKMS or schemeFile
	path   string // file path for schemeFile; key name for schemeGCPKMS
}

// parseURI validates kekURI. Its errors name the scheme, never the key.
func parseURI(kekURI string) (kekRef, error) {
	switch {
	case strings.HasPrefix(kekURI, schemeGCPKMS):
		name := strings.TrimPrefix(kekURI, schemeGCPKMS)
		if !kmsKeyName.MatchString(name) {
			return kekRef{}, errors.New("gcp-kms key URI must be gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K")
		}
		return kekRef{scheme: schemeGCPKMS, path: name}, nil
	case strings.HasPrefix(kekURI, schemeFile):
		p := strings.TrimPrefix(kekURI, schemeFile)
		if p == "" || strings.ContainsAny(p, "?#\x00") {
			return kekRef{}, errors.New("file key URI must be file:///abs/path or file://relative/path")
		}
		if strings.HasSuffix(p, "/") {
			return kekRef{}, errors.New("file key URI names a directory, not a keyset file")
		}
		return kekRef{scheme: schemeFile, path: filepath.Clean(p)}, nil
	}
	scheme, _, ok := strings.Cut(kekURI, "://")
	if !ok {
		scheme = "(none)"
	}
	return kekRef{}, fmt.Errorf("unsupported key URI scheme %q (want gcp-kms:// or file://)", scheme)
}

// openKMS returns the Cloud KMS AEAD for keyURI, using Application Default
// Credentials over gRPC.
func openKMS(ctx context.Context, keyURI string) (tink.AEAD, error) {
	client, err := gcpkms.NewClient(ctx, keyURI)
	if err != nil {
		return nil, errs.E("envelope.openKMS", errs.Unavailable, fmt.Errorf("cloud kms client: %w", err))
	}
	a, err := client.GetAEAD(keyURI)
	if err != nil {
		client.Close()
		return nil, errs.E("envelope.openKMS", errs.Other, err)
	}
	return a, nil
}

// sealer is the envelope AEAD with errors classified.
type sealer struct {
	env tink.AEAD
}

// Encrypt seals plaintext bound to associatedData under a fresh data key.
func (s *sealer) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	ct, err := s.env.Encrypt(plaintext, associatedData)
	if err != nil {
		return nil, errs.E("envelope.Encrypt", kekKind(err), err)
	}
	return ct, nil
}

// Decrypt opens ciphertext; it fails if the ciphertext or associatedData
// changed. Such a failure is errs.Other wrapping ports.ErrNotAuthentic (an
// undecryptable stored object is corruption or tampering, not bad input);
// a failure of the key service keeps its own kind (an outage is
// errs.Unavailable), so no caller takes it for a damaged object.
func (s *sealer) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	pt, err := s.env.Decrypt(ciphertext, associatedData)
	if err != nil {
		if k, fromKMS := kinds.Classify(err); !fromKMS || k == errs.Invalid {
			// Tink refused the ciphertext, or Cloud KMS refused the
			// wrapped data key in it as invalid (the one input of ours
			// it sees on this call): what is stored is not what was
			// sealed. Tink's messages say nothing useful and nothing
			// secret, but the text stays fixed so that no byte of input
			// ever reaches logs.
			return nil, errs.E("envelope.Decrypt", errs.Other, ports.ErrNotAuthentic)
		}
		return nil, errs.E("envelope.Decrypt", kekKind(err), err)
	}
	return pt, nil
}

// kekKind classifies a failure of the key service (Cloud KMS) by lensflow's
// one table (package kinds), but for what a refusal means here: the service
// only ever sees data keys, which lensflow makes itself, and the key named
// by the deployment, so an answer that the request is invalid or the key
// missing is a fault of the deployment (errs.Other), never the caller's
// 400 or 404. Outages keep the table's kind (errs.Unavailable).
func kekKind(err error) errs.Kind {
	switch k := kinds.Of(err); k {
	case errs.Invalid, errs.NotFound:
		return errs.Other
	default:
		return k
	}
}

// openKeysetFile loads the local AES256-GCM keyset at path, creating it if
// missing, and returns its AEAD primitive.
func openKeysetFile(path string) (tink.AEAD, error) {
	const op = "envelope.openKeysetFile"
	h, err := readKeyset(path)
	if errors.Is(err, os.ErrNotExist) {
		h, err = createKeyset(path)
	}
	if err != nil {
		return nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, errs.Ef(op, errs.Invalid, "keyset file %s does not hold an AEAD key", path)
	}
	return a, nil
}

// readKeyset reads a cleartext JSON keyset. It refuses files that group or
// others can read. Parse errors are reported without their text, which
// could quote key material.
func readKeyset(path string) (*keyset.Handle, error) {
	const op = "envelope.readKeyset"
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, errs.E(op, errs.Other, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errs.Ef(op, errs.Invalid, "keyset %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, errs.Ef(op, errs.Permission, "keyset file %s is readable by group or others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(f))
	if err != nil {
		return nil, errs.Ef(op, errs.Invalid, "keyset file %s is not a valid Tink JSON keyset", path)
	}
	return h, nil
}

// createKeyset generates a new AES256-GCM keyset and stores it at path
// atomically: written and synced under a temporary name in the same
// directory, then linked to path, which fails if another process created
// path meanwhile (a rename would silently replace that process's key and
// orphan its ciphertexts); the loser reads the winner's keyset.
func createKeyset(path string) (*keyset.Handle, error) {
	const op = "envelope.createKeyset"
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return nil, errs.Ef(op, errs.Other, "encode keyset")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	tmp, err := os.CreateTemp(dir, ".kek-*.tmp") // mode 0600
	if err != nil {
		return nil, errs.E(op, errs.Other, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(buf.Bytes())
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, errs.E(op, errs.Other, werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readKeyset(path) // lost a race: use the winner's key
		}
		return nil, errs.E(op, errs.Other, err)
	}
	if d, err := os.Open(dir); err == nil { // make the new name durable
		_ = d.Sync()
		d.Close()
	}
	return h, nil
}
