package scans

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// A scan is stored as one object, its bundle: the surface parsed at
// upload (topo's binary form) and the file as the clinic sent it, sealed
// together under one envelope. One object instead of a file and a surface
// of their own halves what an upload costs the key service (one data key
// wrapped, not two) and the store (one object written and made durable),
// for a design that reads the file's bytes as well as the surface's when
// it opens the bundle (a few hundred microseconds of decryption for a
// typical scan, against a second object written on every upload).
//
// The layout, little-endian:
//
//	magic "LFSCAN" | format version (1 byte) | surface length (uint32) | surface | file
//
// The surface carries its own version and checksum (topo.Surface's binary
// form); the bundle's associated data names the scan and that version, so
// a bundle opens only as its own scan's, and the record says where the
// surface is (StoredSurface.WithFile).
const (
	bundleMagic   = "LFSCAN"
	bundleVersion = 1
	// bundleHeader is the length of the header before the surface.
	bundleHeader = len(bundleMagic) + 1 + 4
)

// appendBundle appends to dst the bundle of a surface's binary form,
// written by encode (which appends it to the slice it is given), and of
// its file.
func appendBundle(dst []byte, encode func([]byte) ([]byte, error), file []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, bundleMagic...)
	dst = append(dst, bundleVersion, 0, 0, 0, 0)
	dst, err := encode(dst)
	if err != nil {
		return dst, err
	}
	n := len(dst) - start - bundleHeader
	if n > math.MaxUint32 {
		return dst, errors.New("a surface too large for a scan bundle")
	}
	binary.LittleEndian.PutUint32(dst[start+bundleHeader-4:], uint32(n))
	return append(dst, file...), nil
}

// splitBundle returns the surface's binary form and the file of an opened
// bundle, both aliasing b.
func splitBundle(b []byte) (surface, file []byte, err error) {
	rest, ok := bytes.CutPrefix(b, []byte(bundleMagic))
	if !ok {
		return nil, nil, errors.New("not a scan bundle (no LFSCAN magic)")
	}
	if len(rest) == 0 || rest[0] != bundleVersion {
		return nil, nil, errors.New("a scan bundle of an unknown version")
	}
	if len(rest) < 5 {
		return nil, nil, errors.New("a truncated scan bundle")
	}
	n := uint64(binary.LittleEndian.Uint32(rest[1:]))
	rest = rest[5:]
	if n > uint64(len(rest)) {
		return nil, nil, errors.New("a scan bundle whose surface length is damaged")
	}
	return rest[:n:n], rest[n:], nil
}

// AssociatedDataForBundle is the associated data a scan's bundle is sealed
// with: its clinic, patient and scan, and the version of the surface's
// binary form. It differs from the file's and the surface's of the older
// layout (AssociatedDataForScan, AssociatedDataForSurface), so no object
// of one layout opens as the other.
func AssociatedDataForBundle(sc Scan) []byte {
	v := 0
	if sc.Surface != nil {
		v = sc.Surface.Version
	}
	return ports.AssociatedData("scan-bundle", sc.ClinicID, sc.PatientID, sc.ID, strconv.Itoa(v))
}

// openBundle reads and opens sc's bundle and returns its two parts. A
// bundle that opens but does not split wraps errIntegrity.
func (s *Service) openBundle(ctx context.Context, sc Scan) (surface, file []byte, err error) {
	plain, err := s.open(ctx, sc.Object, AssociatedDataForBundle(sc))
	if err != nil {
		return nil, nil, err
	}
	if surface, file, err = splitBundle(plain); err != nil {
		return nil, nil, errs.E("scans.surface: bundle", errs.Other, fmt.Errorf("%w: %v", errIntegrity, err))
	}
	return surface, file, nil
}
