package boltdocs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/docstest"
)

func openTemp(t testing.TB, batch bool) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "docs.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.batch = batch
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	for _, mode := range []struct {
		name  string
		batch bool
	}{{"batch", true}, {"update", false}} {
		t.Run(mode.name, func(t *testing.T) {
			docstest.Run(t, func(t *testing.T) ports.Documents { return openTemp(t, mode.batch) })
		})
	}
}

type patient struct {
	Ref   string    `json:"ref"`
	Count int       `json:"count"`
	At    time.Time `json:"at"`
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "docs.db") // Open creates the directory
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := patient{Ref: "p-1", Count: 7, At: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	err = s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		return tx.Create("patients", "p1", want)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("file mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got patient
	if err := s.Get(ctx, "patients", "p1", &got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("after reopen got %+v, want %+v", got, want)
	}
	docs, err := s.Query(ctx, ports.Query{Collection: "patients"})
	if err != nil || len(docs) != 1 {
		t.Fatalf("Query after reopen = %d docs, %v", len(docs), err)
	}
}

// TestSurvivesKill writes from a child process that is killed right after
// its commit returns, then reads the data back: a commit is durable.
func TestSurvivesKill(t *testing.T) {
	if os.Getenv("BOLTDOCS_CRASH_CHILD") != "" {
		crashChild()
		return
	}
	path := filepath.Join(t.TempDir(), "docs.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSurvivesKill$")
	cmd.Env = append(os.Environ(), "BOLTDOCS_CRASH_CHILD="+path)
	out, _ := cmd.CombinedOutput() // the child kills itself
	if ps := cmd.ProcessState; ps == nil || ps.Success() {
		t.Fatalf("child did not die: %v\n%s", ps, out)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var c struct{ N int }
	if err := s.Get(context.Background(), "counters", "c", &c); err != nil {
		t.Fatalf("after kill: %v\n%s", err, out)
	}
	if c.N != 50 {
		t.Fatalf("after kill counter = %d, want 50", c.N)
	}
}

func crashChild() {
	s, err := Open(os.Getenv("BOLTDOCS_CRASH_CHILD"))
	if err != nil {
		fmt.Println(err)
		os.Exit(3)
	}
	for range 50 {
		err := s.RunTransaction(context.Background(), func(ctx context.Context, tx ports.Tx) error {
			var c struct{ N int }
			if err := tx.Get("counters", "c", &c); err != nil && !errs.Is(errs.NotFound, err) {
				return err
			}
			c.N++
			return tx.Set("counters", "c", c)
		})
		if err != nil {
			fmt.Println(err)
			os.Exit(3)
		}
	}
	p, _ := os.FindProcess(os.Getpid())
	_ = p.Kill() // SIGKILL: no Close, no deferred cleanup
	select {}
}

func TestSecondOpenTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := LockTimeout
	LockTimeout = 100 * time.Millisecond
	defer func() { LockTimeout = old }()
	// bbolt's flock is per open file description, so a second Open in the
	// same process contends just like another process would.
	start := time.Now()
	_, err = Open(path)
	if !errs.Is(errs.Unavailable, err) {
		t.Fatalf("second Open = %v, want Unavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %v", d)
	}
}

func TestClosedStore(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "docs.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var m map[string]any
	if err := s.Get(ctx, "c", "d", &m); !errs.Is(errs.Unavailable, err) {
		t.Fatalf("Get on closed store = %v, want Unavailable", err)
	}
	err = s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error { return nil })
	if !errs.Is(errs.Unavailable, err) {
		t.Fatalf("RunTransaction on closed store = %v, want Unavailable", err)
	}
}

func TestTxUnusableAfterFn(t *testing.T) {
	s := openTemp(t, true)
	var leaked ports.Tx
	err := s.RunTransaction(context.Background(), func(ctx context.Context, tx ports.Tx) error {
		leaked = tx
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaked.Set("c", "d", map[string]any{"a": 1}); !errs.Is(errs.Invalid, err) {
		t.Fatalf("Set after fn returned = %v, want Invalid", err)
	}
}

func TestCanceledContext(t *testing.T) {
	s := openTemp(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		called = true
		return nil
	})
	if err == nil || called {
		t.Fatalf("RunTransaction on canceled ctx = %v (fn called: %v), want an error and no call", err, called)
	}
}

// BenchmarkTransaction measures small read-modify-write transactions from 50
// concurrent clients, each on its own document, with every commit fsynced.
func BenchmarkTransaction(b *testing.B) {
	for _, mode := range []struct {
		name  string
		batch bool
	}{{"batch", true}, {"update", false}} {
		b.Run(mode.name, func(b *testing.B) {
			s := openTemp(b, mode.batch)
			var next atomic.Int64
			b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				id := fmt.Sprintf("client-%d", next.Add(1))
				for pb.Next() {
					err := s.RunTransaction(context.Background(), func(ctx context.Context, tx ports.Tx) error {
						var c struct{ N int }
						if err := tx.Get("bench", id, &c); err != nil && !errs.Is(errs.NotFound, err) {
							return err
						}
						c.N++
						return tx.Set("bench", id, c)
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTransactionSerial measures one client's transaction latency, which
// Batch's grouping delay adds to.
func BenchmarkTransactionSerial(b *testing.B) {
	for _, mode := range []struct {
		name  string
		batch bool
	}{{"batch", true}, {"update", false}} {
		b.Run(mode.name, func(b *testing.B) {
			s := openTemp(b, mode.batch)
			for b.Loop() {
				err := s.RunTransaction(context.Background(), func(ctx context.Context, tx ports.Tx) error {
					return tx.Set("bench", "one", map[string]int{"n": 1})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBatchWithFailures mixes failing and succeeding concurrent transactions:
// a failure rolls back its batch and the others run again, so each success
// must count exactly once and each failure not at all.
func TestBatchWithFailures(t *testing.T) {
	s := openTemp(t, true)
	ctx := context.Background()
	var wg sync.WaitGroup
	var okCount atomic.Int64
	for i := range 60 {
		wg.Go(func() {
			err := s.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
				var c struct{ N int }
				if err := tx.Get("counters", "c", &c); err != nil && !errs.Is(errs.NotFound, err) {
					return err
				}
				c.N++
				if err := tx.Set("counters", "c", c); err != nil {
					return err
				}
				if i%3 == 0 {
					return errs.E("test", errs.Conflict, nil)
				}
				return nil
			})
			switch {
			case err == nil:
				okCount.Add(1)
			case !errs.Is(errs.Conflict, err):
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	var c struct{ N int }
	if err := s.Get(ctx, "counters", "c", &c); err != nil {
		t.Fatal(err)
	}
	if okCount.Load() != 40 || c.N != 40 {
		t.Fatalf("successes = %d, counter = %d; want 40 and 40", okCount.Load(), c.N)
	}
}
