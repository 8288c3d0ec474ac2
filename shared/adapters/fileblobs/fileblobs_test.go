package fileblobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/blobstest"
)

const testBucket = "lensflow-test"

func TestConformance(t *testing.T) {
	blobstest.Run(t, func(t *testing.T) ports.Blobs {
		s, err := Open(t.TempDir(), testBucket)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("survives\x00restart")
	if err := s.Put(ctx, "keep/me", data, ports.PutOptions{IfAbsent: true}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, testBucket)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if got, err := s2.Get(ctx, "keep/me"); err != nil || string(got) != string(data) {
		t.Fatalf("Get after reopen = %q, %v", got, err)
	}
	if err := s2.Put(ctx, "keep/me", []byte("other"), ports.PutOptions{IfAbsent: true}); !errs.Is(errs.Exists, err) {
		t.Fatalf("IfAbsent after reopen: %v, want Exists", err)
	}
}

func TestDirIsExclusive(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := Open(dir, testBucket); !errs.Is(errs.Conflict, err) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second Open: %v, want Conflict", err)
	}
}

// TestReadsEarlierLayoutAndRecovers: a data directory written by the
// earlier fake-gcs-server backend (objects as files, ".metadata" side
// files) is served as it is, and a crash's pending temporary file is
// removed on Open and never listed.
func TestReadsEarlierLayoutAndRecovers(t *testing.T) {
	dir := t.TempDir()
	bdir := filepath.Join(dir, testBucket)
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(bdir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("scans/a1", "sealed a1")
	write("scans/a1.metadata", `{"contentType":"application/octet-stream"}`)
	write("scans/.b2.0123456789abcdef", "partial")
	s, err := Open(dir, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	names, err := s.List(ctx, "scans/")
	if err != nil || !slices.Equal(names, []string{"scans/a1"}) {
		t.Fatalf("List = %q, %v", names, err)
	}
	if got, err := s.Get(ctx, "scans/a1"); err != nil || string(got) != "sealed a1" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(bdir, "scans", ".b2.0123456789abcdef")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pending file left: %v", err)
	}
	if _, err := s.Get(ctx, "scans"); !errs.Is(errs.NotFound, err) {
		t.Fatalf("Get of a prefix: %v, want NotFound", err)
	}
}

// BenchmarkPut16MiB is the cost of storing one maximal sealed scan.
func BenchmarkPut16MiB(b *testing.B) {
	s, err := Open(b.TempDir(), testBucket)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 16<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Put(context.Background(), "scans/x", data, ports.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
