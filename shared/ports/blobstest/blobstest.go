// Package blobstest is the conformance suite for ports.Blobs: every adapter
// runs Run against each backend available on the machine, so the local
// stand-ins are held to the production semantics.
package blobstest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// Run runs the suite. open returns a fresh, empty store for one subtest; Run
// closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) ports.Blobs) {
	t.Helper()
	fresh := func(t *testing.T) (context.Context, ports.Blobs) {
		t.Helper()
		b := open(t)
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return ctx, b
	}

	t.Run("RoundTrip", func(t *testing.T) {
		ctx, b := fresh(t)
		cases := []struct {
			name string
			data []byte
		}{
			{"rt/empty", []byte{}},
			{"rt/zeros", make([]byte, 1024)},
			{"rt/all-bytes", allBytes()},
			{"rt/one-mib", pattern(1 << 20)},
			{"rt/deep/path/with-dash_and.dot", []byte("x")},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if err := b.Put(ctx, c.name, c.data, ports.PutOptions{ContentType: "application/octet-stream"}); err != nil {
					t.Fatalf("Put: %v", err)
				}
				got, err := b.Get(ctx, c.name)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if !bytes.Equal(got, c.data) {
					t.Fatalf("Get returned %d bytes, want %d identical bytes", len(got), len(c.data))
				}
			})
		}
	})

	t.Run("PutDoesNotKeepCallerBuffer", func(t *testing.T) {
		ctx, b := fresh(t)
		data := []byte("original")
		if err := b.Put(ctx, "buf", data, ports.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		copy(data, "CHANGED!")
		got, err := b.Get(ctx, "buf")
		if err != nil || string(got) != "original" {
			t.Fatalf("Get = %q, %v; want %q", got, err, "original")
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		ctx, b := fresh(t)
		_, err := b.Get(ctx, "missing/object")
		if !errs.Is(errs.NotFound, err) {
			t.Fatalf("Get missing: err = %v (kind %v), want NotFound", err, errs.KindOf(err))
		}
	})

	t.Run("IfAbsent", func(t *testing.T) {
		ctx, b := fresh(t)
		if err := b.Put(ctx, "once", []byte("first"), ports.PutOptions{IfAbsent: true}); err != nil {
			t.Fatalf("first IfAbsent Put: %v", err)
		}
		err := b.Put(ctx, "once", []byte("second"), ports.PutOptions{IfAbsent: true})
		if !errs.Is(errs.Exists, err) {
			t.Fatalf("second IfAbsent Put: err = %v (kind %v), want Exists", err, errs.KindOf(err))
		}
		got, err := b.Get(ctx, "once")
		if err != nil || string(got) != "first" {
			t.Fatalf("after refused Put, Get = %q, %v; want %q", got, err, "first")
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		ctx, b := fresh(t)
		for _, v := range []string{"v1", "version two, longer", "3"} {
			if err := b.Put(ctx, "over", []byte(v), ports.PutOptions{}); err != nil {
				t.Fatalf("Put %q: %v", v, err)
			}
			got, err := b.Get(ctx, "over")
			if err != nil || string(got) != v {
				t.Fatalf("Get = %q, %v; want %q", got, err, v)
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		ctx, b := fresh(t)
		if err := b.Put(ctx, "del/me", []byte("x"), ports.PutOptions{}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if err := b.Delete(ctx, "del/me"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := b.Get(ctx, "del/me"); !errs.Is(errs.NotFound, err) {
			t.Fatalf("Get after Delete: err = %v, want NotFound", err)
		}
		if err := b.Delete(ctx, "del/me"); err != nil {
			t.Fatalf("Delete of absent object: %v, want nil", err)
		}
		if err := b.Delete(ctx, "never/existed"); err != nil {
			t.Fatalf("Delete of never-existing object: %v, want nil", err)
		}
		// A deleted name is free again for IfAbsent.
		if err := b.Put(ctx, "del/me", []byte("y"), ports.PutOptions{IfAbsent: true}); err != nil {
			t.Fatalf("IfAbsent Put after Delete: %v", err)
		}
	})

	t.Run("List", func(t *testing.T) {
		ctx, b := fresh(t)
		names := []string{"scans/b/2", "scans/a/1", "designs/x", "scans/a/0", "scansextra", "scans/c"}
		for _, n := range names {
			if err := b.Put(ctx, n, []byte(n), ports.PutOptions{}); err != nil {
				t.Fatalf("Put %s: %v", n, err)
			}
		}
		cases := []struct {
			prefix string
			want   []string
		}{
			{"scans/", []string{"scans/a/0", "scans/a/1", "scans/b/2", "scans/c"}},
			{"scans/a/", []string{"scans/a/0", "scans/a/1"}},
			{"scans", []string{"scans/a/0", "scans/a/1", "scans/b/2", "scans/c", "scansextra"}},
			{"", []string{"designs/x", "scans/a/0", "scans/a/1", "scans/b/2", "scans/c", "scansextra"}},
			{"nothing/", []string{}},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("prefix=%q", c.prefix), func(t *testing.T) {
				got, err := b.List(ctx, c.prefix)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if len(got) == 0 && len(c.want) == 0 {
					return
				}
				if !slices.Equal(got, c.want) {
					t.Fatalf("List(%q) = %q, want %q", c.prefix, got, c.want)
				}
			})
		}
		if err := b.Delete(ctx, "scans/a/1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		got, err := b.List(ctx, "scans/a/")
		if err != nil || !slices.Equal(got, []string{"scans/a/0"}) {
			t.Fatalf("List after Delete = %q, %v; want [scans/a/0]", got, err)
		}
	})

	t.Run("ConcurrentIfAbsent", func(t *testing.T) {
		ctx, b := fresh(t)
		const n = 8
		var wg sync.WaitGroup
		results := make([]error, n)
		for i := range n {
			wg.Go(func() {
				results[i] = b.Put(ctx, "race/one", []byte(fmt.Sprintf("writer-%d", i)), ports.PutOptions{IfAbsent: true})
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range results {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("writers %d and %d both won", winner, i)
				}
				winner = i
			case !errs.Is(errs.Exists, err):
				t.Fatalf("writer %d: err = %v (kind %v), want nil or Exists", i, err, errs.KindOf(err))
			}
		}
		if winner < 0 {
			t.Fatal("no writer won")
		}
		got, err := b.Get(ctx, "race/one")
		if want := fmt.Sprintf("writer-%d", winner); err != nil || string(got) != want {
			t.Fatalf("Get = %q, %v; want the winner's %q", got, err, want)
		}
	})

	t.Run("InvalidNames", func(t *testing.T) {
		ctx, b := fresh(t)
		// Names Cloud Storage refuses, and names that would escape a directory
		// in a filesystem-backed adapter.
		for _, name := range []string{"", ".", "..", "nl\nname", "cr\rname", "../escape", "a/../b"} {
			t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
				if err := b.Put(ctx, name, []byte("x"), ports.PutOptions{}); !errs.Is(errs.Invalid, err) {
					t.Fatalf("Put: err = %v (kind %v), want Invalid", err, errs.KindOf(err))
				}
				if _, err := b.Get(ctx, name); !errs.Is(errs.Invalid, err) {
					t.Fatalf("Get: err = %v (kind %v), want Invalid", err, errs.KindOf(err))
				}
			})
		}
	})
}

// allBytes returns every byte value, zero included, several times over.
func allBytes() []byte {
	b := make([]byte, 0, 256*4)
	for range 4 {
		for i := range 256 {
			b = append(b, byte(i))
		}
	}
	return b
}

// pattern returns n bytes of a deterministic pseudo-random pattern with runs
// of zeros, so truncation, reordering and NUL handling all show.
func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if i%4096 < 64 {
			continue // leave a run of zeros
		}
		b[i] = byte(x)
	}
	return b
}
