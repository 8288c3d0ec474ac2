package scans

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A bundle splits into the parts it was made of, and a damaged one is
// refused saying how, never read past its end.
func TestBundleRoundTripAndDamage(t *testing.T) {
	surface, file := []byte("LFSURF binary form"), []byte("x,y,z\n0,0,0\n")
	encode := func(dst []byte) ([]byte, error) { return append(dst, surface...), nil }
	b, err := appendBundle([]byte("kept"), encode, file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("kept")) {
		t.Fatal("appendBundle overwrote what it appends to")
	}
	s, f, err := splitBundle(b[len("kept"):])
	if err != nil || !bytes.Equal(s, surface) || !bytes.Equal(f, file) {
		t.Fatalf("split %q %q %v", s, f, err)
	}
	if _, err := appendBundle(nil, func([]byte) ([]byte, error) { return nil, errors.New("boom") }, file); err == nil {
		t.Fatal("an encoding failure was not returned")
	}
	whole := b[len("kept"):]
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":           {nil, "no LFSCAN magic"},
		"another magic":   {append([]byte("LFSURF"), whole[6:]...), "no LFSCAN magic"},
		"no version":      {whole[:6], "unknown version"},
		"another version": {append([]byte("LFSCAN\x02"), whole[7:]...), "unknown version"},
		"no length":       {whole[:9], "truncated"},
		"length past end": {append([]byte("LFSCAN\x01\xff\xff\x00\x00"), whole[11:]...), "length is damaged"},
		"surface cut off": {whole[:11+len(surface)-1], "length is damaged"},
	} {
		if _, _, err := splitBundle(tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// No file at all is a bundle still (the surface alone).
	if s, f, err := splitBundle(whole[:11+len(surface)]); err != nil || !bytes.Equal(s, surface) || len(f) != 0 {
		t.Fatalf("bundle without a file: %q %q %v", s, f, err)
	}
}
