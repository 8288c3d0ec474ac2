// Package embeddedtest opens the local stack's embedded adapters for a
// service test: documents in bbolt, blobs in plain files, envelope
// encryption under a file key-encryption key,
// all in the test's temporary folder and closed when it ends. They are the
// real adapters the local stack runs, not mocks. When the test ends, every
// event the service wrote to the outbox is checked against its type's
// committed schema (shared/eventschema): one that does not match fails it.
package embeddedtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/adapters/envelope"
	"github.com/lensflow/lensflow/shared/adapters/fileblobs"
	"github.com/lensflow/lensflow/shared/eventschema/contract"
	"github.com/lensflow/lensflow/shared/ports"
)

// Open returns fresh embedded documents, blobs (bucket "scans") and a
// sealer.
func Open(t testing.TB) (ports.Documents, ports.Blobs, ports.Sealer) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	docs, err := boltdocs.Open(filepath.Join(dir, "docs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docs.Close() })
	// Registered after Close, so run before it.
	t.Cleanup(func() {
		for _, err := range contract.Outbox(context.Background(), docs) {
			t.Errorf("an event the test's service wrote does not match its schema: %v", err)
		}
	})
	blobs, err := fileblobs.Open(filepath.Join(dir, "blobs"), "scans")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	sealer, err := envelope.Open(ctx, "file://"+filepath.Join(dir, "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	return docs, blobs, sealer
}
