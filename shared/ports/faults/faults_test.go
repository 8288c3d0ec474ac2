package faults_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/adapters/boltdocs"
	"github.com/lensflow/lensflow/shared/adapters/fileblobs"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/blobstest"
	"github.com/lensflow/lensflow/shared/ports/docstest"
	"github.com/lensflow/lensflow/shared/ports/faults"
)

func openDocs(t *testing.T) ports.Documents {
	t.Helper()
	s, err := boltdocs.Open(filepath.Join(t.TempDir(), "docs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openBlobs(t *testing.T) ports.Blobs {
	t.Helper()
	b, err := fileblobs.Open(t.TempDir(), "faults-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// With injection off, the wrappers are transparent: they pass the ports'
// conformance suites.
func TestWrappersConform(t *testing.T) {
	in := faults.New(faults.Spec{Rate: 1})
	in.SetEnabled(false)
	t.Run("documents", func(t *testing.T) {
		docstest.Run(t, func(t *testing.T) ports.Documents { return in.Documents(openDocs(t)) })
	})
	t.Run("blobs", func(t *testing.T) {
		blobstest.Run(t, func(t *testing.T) ports.Blobs { return in.Blobs(openBlobs(t)) })
	})
	if in.Total().Calls == 0 || in.Total().Injected() != 0 {
		t.Fatalf("disabled injector: %+v", in.Total())
	}
}

type doc struct {
	N int `json:"n"`
}

// At rate 1 every operation fails as Unavailable and has no effect, the
// commit of a transaction included.
func TestFailuresHaveNoEffect(t *testing.T) {
	ctx := context.Background()
	raw, rawBlobs := openDocs(t), openBlobs(t)
	in := faults.New(faults.Spec{Rate: 1, TimeoutShare: 0.5, Timeout: time.Millisecond, Seed: 1})
	d, b := in.Documents(raw), in.Blobs(rawBlobs)
	ran := 0
	for i := 0; i < 50; i++ {
		err := d.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
			ran++
			return tx.Set("c", "x", doc{N: i})
		})
		if !errs.Is(errs.Unavailable, err) || !errors.Is(err, faults.ErrInjected) {
			t.Fatalf("transaction: %v", err)
		}
		if err := b.Put(ctx, "o", []byte("x"), ports.PutOptions{}); !errs.Is(errs.Unavailable, err) {
			t.Fatalf("put: %v", err)
		}
	}
	if err := raw.Get(ctx, "c", "x", &doc{}); !errs.Is(errs.NotFound, err) {
		t.Fatalf("a refused transaction wrote: %v", err)
	}
	if _, err := rawBlobs.Get(ctx, "o"); !errs.Is(errs.NotFound, err) {
		t.Fatalf("a refused put wrote: %v", err)
	}
	st := in.Stats()
	if st["docs.begin"].Timeouts == 0 || st["docs.begin"].Errors == 0 {
		t.Fatalf("want both errors and timeouts: %+v", st["docs.begin"])
	}
	if ran != 0 {
		t.Fatalf("transaction function ran %d times though begin always fails", ran)
	}
}

// A commit refused after the function ran leaves nothing written.
func TestRefusedCommit(t *testing.T) {
	ctx := context.Background()
	raw := openDocs(t)
	in := faults.New(faults.Spec{Rate: 0.5, TimeoutShare: 0.01, Seed: 7})
	d := in.Documents(raw)
	committed := 0
	for i := 0; i < 400; i++ {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26))
		err := d.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error { return tx.Create("c", id, doc{N: i}) })
		gotErr := raw.Get(ctx, "c", id, &doc{})
		switch {
		case err == nil && gotErr != nil:
			t.Fatalf("%s: committed but not stored: %v", id, gotErr)
		case err != nil && !errs.Is(errs.NotFound, gotErr):
			t.Fatalf("%s: refused (%v) but stored", id, err)
		case err == nil:
			committed++
		}
	}
	if st := in.Stats()["docs.commit"]; st.Injected() == 0 {
		t.Fatalf("no commit was refused: %+v", st)
	}
	if committed < 50 || committed > 200 {
		t.Fatalf("%d of 400 committed at a 50%% rate on begin and commit", committed)
	}
}

type recordingPublisher struct{ n int }

func (p *recordingPublisher) Publish(context.Context, string, ports.Event) error { p.n++; return nil }
func (p *recordingPublisher) Close() error                                       { return nil }

// A lost acknowledgement publishes and still reports failure; the rate is
// close to the one asked for.
func TestPublisherLostAcksAndRate(t *testing.T) {
	rp := &recordingPublisher{}
	in := faults.New(faults.Spec{Rate: 0.1, TimeoutShare: 0.0001, LostAckShare: 0.5, Seed: 3})
	p := in.Publisher(rp)
	failed := 0
	for i := 0; i < 2000; i++ {
		if err := p.Publish(context.Background(), "t", ports.Event{ID: "e"}); err != nil {
			failed++
		}
	}
	c := in.Stats()["events.publish"]
	if c.Calls != 2000 || int64(failed) != c.Injected() {
		t.Fatalf("counts %+v, failed %d", c, failed)
	}
	if failed < 140 || failed > 260 {
		t.Fatalf("%d of 2000 failed at a 10%% rate", failed)
	}
	if c.LostAcks == 0 || int64(rp.n) != 2000-c.Errors-c.Timeouts {
		t.Fatalf("published %d with %+v: lost acks must publish, other failures must not", rp.n, c)
	}
}

func TestParseSpec(t *testing.T) {
	s, err := faults.ParseSpec("rate=5%, timeouts=0.2,timeout=50ms,lostack=0.3,latency=2ms,seed=9")
	if err != nil {
		t.Fatal(err)
	}
	want := faults.Spec{Rate: 0.05, TimeoutShare: 0.2, Timeout: 50 * time.Millisecond, LostAckShare: 0.3, Latency: 2 * time.Millisecond, Seed: 9}
	if s != want {
		t.Fatalf("got %+v", s)
	}
	if s, err := faults.ParseSpec("0.1"); err != nil || s.Rate != 0.1 {
		t.Fatalf("bare rate: %+v %v", s, err)
	}
	for _, bad := range []string{"rate=2", "rate=x", "colour=red", "timeout=soon", "rate=-0.1"} {
		if _, err := faults.ParseSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
