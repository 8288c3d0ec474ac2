package ports_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

type owned struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
}

func TestPrior(t *testing.T) {
	docs, err := boltdocs.Open(filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer docs.Close()
	ctx := context.Background()
	if err := docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Create("things", "t-1", owned{ID: "t-1", Owner: "north"})
	}); err != nil {
		t.Fatal(err)
	}
	mine := func(owner string) func(owned) bool { return func(o owned) bool { return o.Owner == owner } }

	got, found, err := ports.Prior(ctx, docs, "things", "t-1", mine("north"))
	if err != nil || !found || got.ID != "t-1" {
		t.Fatalf("the caller's earlier work: %+v %v %v", got, found, err)
	}
	if got, found, err := ports.Prior(ctx, docs, "things", "t-2", mine("north")); err != nil || found || got != (owned{}) {
		t.Fatalf("nothing earlier: %+v %v %v", got, found, err)
	}
	if got, found, err := ports.Prior(ctx, docs, "things", "t-1", mine("south")); !errs.Is(errs.Other, err) || found || got != (owned{}) {
		t.Fatalf("another caller's document was answered: %+v %v %v", got, found, err)
	}
	if _, _, err := ports.Prior(ctx, docs, "things", "", mine("north")); !errs.Is(errs.Other, err) {
		t.Fatalf("empty id: %v", err)
	}
}
