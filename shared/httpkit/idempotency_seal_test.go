package httpkit_test

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/adapters/envelope"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/ports"
)

// TestIdempotencySealsRememberedAnswers: with a Sealer, the remembered
// answer (which may hold PHI, such as an order's notes) is stored only
// encrypted, a replay answers the original bytes, and a record that no
// longer decrypts is a 500, never a wrong answer.
func TestIdempotencySealsRememberedAnswers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	docs, err := boltdocs.Open(filepath.Join(dir, "docs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer docs.Close()
	sealer, err := envelope.Open(ctx, "file://"+filepath.Join(dir, "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "ZZCANARY asked about night wear"
	i := &httpkit.Idempotency{Docs: docs, MaxBody: 1 << 20, Sealer: sealer}
	wrapped := i.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpkit.JSON(w, http.StatusCreated, map[string]string{"notes": secret})
	}))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Subject: "s", ClinicID: "north", Role: auth.RolePractitioner}))
		wrapped.ServeHTTP(w, r)
	})

	first := do(h, "north", "k1", `{"a":1}`)
	if first.Code != 201 || !bytes.Contains(first.Body.Bytes(), []byte(secret)) {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	stored, err := docs.Query(ctx, ports.Query{Collection: httpkit.IdempotencyCollection})
	if err != nil || len(stored) != 1 {
		t.Fatalf("records: %d %v", len(stored), err)
	}
	var rec struct{ Body []byte }
	if err := stored[0].Decode(&rec); err != nil || len(rec.Body) == 0 || bytes.Contains(rec.Body, []byte("ZZCANARY")) {
		t.Fatalf("remembered answer stored in the clear (or not at all): %q %v", rec.Body, err)
	}
	if replay := do(h, "north", "k1", `{"a":1}`); replay.Code != 201 || replay.Body.String() != first.Body.String() ||
		replay.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", replay.Code, replay.Body)
	}

	// A record moved under another key no longer decrypts.
	var raw map[string]any
	_ = stored[0].Decode(&raw)
	other := do(h, "north", "k2", `{"a":2}`)
	if other.Code != 201 {
		t.Fatal(other.Code)
	}
	all, _ := docs.Query(ctx, ports.Query{Collection: httpkit.IdempotencyCollection})
	for _, d := range all {
		if d.ID != stored[0].ID {
			if err := docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error { return tx.Set(httpkit.IdempotencyCollection, d.ID, raw) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	if swapped := do(h, "north", "k2", `{"a":1}`); swapped.Code != 500 || bytes.Contains(swapped.Body.Bytes(), []byte("ZZCANARY")) {
		t.Fatalf("a swapped record answered %d %s, want 500", swapped.Code, swapped.Body)
	}
}
