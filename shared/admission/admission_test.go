package admission

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestShareLeavesRoomForOthers: one key fills its share and no more; the
// rest of the pool still admits another key, until the pool is full.
func TestShareLeavesRoomForOthers(t *testing.T) {
	p := &Pool{Capacity: 10, PerKey: 4}
	var held []func()
	for i := 0; i < 4; i++ {
		rel, why := p.TryAcquire("clinic:a", 1)
		if why != Admitted {
			t.Fatalf("a's unit %d refused: %v", i, why)
		}
		held = append(held, rel)
	}
	if _, why := p.TryAcquire("clinic:a", 1); why != KeyShare {
		t.Fatalf("a beyond its share: %v, want KeyShare", why)
	}
	for i := 0; i < 4; i++ {
		rel, why := p.TryAcquire("clinic:b", 1)
		if why != Admitted {
			t.Fatalf("b's unit %d refused while a is at its share: %v", i, why)
		}
		held = append(held, rel)
	}
	rel, why := p.TryAcquire("clinic:c", 2)
	if why != Admitted {
		t.Fatalf("c: %v", why)
	}
	if _, why := p.TryAcquire("clinic:d", 1); why != Full {
		t.Fatalf("d with the pool full: %v, want Full", why)
	}
	rel()
	rel() // a second call gives nothing back twice
	if all, c := p.InUse("clinic:c"); all != 8 || c != 0 {
		t.Fatalf("in use after c released: %d (c %d), want 8 (0)", all, c)
	}
	for _, r := range held {
		r()
	}
	if all, _ := p.InUse(""); all != 0 {
		t.Fatalf("in use after every release: %d", all)
	}
}

// TestLargeRequestIsClampedToAShare: a request larger than a share is
// admitted when its key holds nothing (it would otherwise never run), and
// then holds the whole share.
func TestLargeRequestIsClampedToAShare(t *testing.T) {
	p := &Pool{Capacity: 100, PerKey: 25}
	rel, why := p.TryAcquire("k", 1000)
	if why != Admitted {
		t.Fatalf("oversized request on an idle key: %v", why)
	}
	if _, why := p.TryAcquire("k", 1); why != KeyShare {
		t.Fatalf("next request of the same key: %v, want KeyShare", why)
	}
	rel()
	if z := (&Pool{}); z.Clamp(5) != 5 {
		t.Fatal("the zero pool clamps")
	}
	if rel, why := (&Pool{}).TryAcquire("k", 1<<40); why != Admitted {
		t.Fatal("the zero pool refused")
	} else {
		rel()
	}
}

// TestAcquireWaitsForRoom: Acquire blocks until units are released, and
// gives up (holding nothing) when its context ends.
func TestAcquireWaitsForRoom(t *testing.T) {
	p := &Pool{Capacity: 2}
	rel, _ := p.TryAcquire("a", 2)
	var got atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r, err := p.Acquire(context.Background(), "b", 1)
		if err != nil {
			t.Error(err)
			return
		}
		got.Store(true)
		r()
	}()
	time.Sleep(50 * time.Millisecond)
	if got.Load() {
		t.Fatal("Acquire returned while the pool was full")
	}
	rel()
	wg.Wait()
	if !got.Load() {
		t.Fatal("Acquire did not return after the release")
	}
	rel, _ = p.TryAcquire("a", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx, "b", 1); err == nil {
		t.Fatal("Acquire on a full pool returned without its context ending")
	}
	rel()
	if all, _ := p.InUse(""); all != 0 {
		t.Fatalf("a cancelled Acquire holds %d", all)
	}
}

func TestShare(t *testing.T) {
	for _, c := range []struct {
		capacity int64
		f        float64
		want     int64
	}{{256, 0.25, 64}, {3, 0.25, 1}, {10, 1, 10}, {0, 0.5, 0}, {512 << 20, 0.25, 128 << 20}} {
		if got := Share(c.capacity, c.f); got != c.want {
			t.Errorf("Share(%d, %g) = %d, want %d", c.capacity, c.f, got, c.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"536870912": 536870912, "512Mi": 512 << 20, "1Gi": 1 << 30, "1GiB": 1 << 30,
		"2G": 2e9, " 768 MiB ": 768 << 20, "1.5Gi": 3 << 29} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1Gi", "1Ti", "NaN", "1e30"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	container, inContainer := cgroupLimit()
	if n, src, err := MemoryLimit("768Mi"); err != nil || !(n == 768<<20 && src == "LENSFLOW_MEMORY_LIMIT" || inContainer && n == container && container < 768<<20) {
		t.Fatalf("configured: %d %s %v", n, src, err)
	}
	if _, _, err := MemoryLimit("1Mi"); err == nil {
		t.Fatal("a limit below what an instance needs was accepted")
	}
	if _, _, err := MemoryLimit("plenty"); err == nil {
		t.Fatal("a malformed limit was accepted")
	}
	n, src, err := MemoryLimit("")
	if err != nil || n <= 0 {
		t.Fatalf("unset: %d %s %v", n, src, err)
	}
	t.Logf("this machine: %d MiB (%s)", n>>20, src)
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", "memory.max")); err != nil && src == "container" {
		t.Fatal("container limit reported without a cgroup file")
	}
}
