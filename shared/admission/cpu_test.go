package admission_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/admission"
)

// queued waits until the gate has i interactive and b background pieces
// waiting.
func queued(t *testing.T, g *admission.CPU, i, b int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if gi, gb := g.Waiting(); gi == i && gb == b {
			return
		}
	}
	gi, gb := g.Waiting()
	t.Fatalf("waiting %d interactive, %d background; want %d, %d", gi, gb, i, b)
}

// The gate runs as many pieces as it has slots; the rest wait, and a slot
// given back admits the next.
func TestCPUAdmitsAsManyAsItsSlots(t *testing.T) {
	g := &admission.CPU{Slots: 2}
	ctx := context.Background()
	r1, _ := g.Acquire(ctx, admission.Interactive)
	r2, _ := g.Acquire(ctx, admission.Background)
	got := make(chan func(), 1)
	go func() {
		r, _ := g.Acquire(ctx, admission.Interactive)
		got <- r
	}()
	queued(t, g, 1, 0)
	select {
	case <-got:
		t.Fatal("a third piece ran on two slots")
	case <-time.After(20 * time.Millisecond):
	}
	r1()
	r1() // a second call gives back nothing more
	r3 := <-got
	if i, b := g.Waiting(); i != 0 || b != 0 {
		t.Fatalf("waiting %d, %d", i, b)
	}
	// Two are held (r2, r3): a fourth waits still.
	go func() {
		r, _ := g.Acquire(ctx, admission.Background)
		got <- r
	}()
	queued(t, g, 0, 1)
	r2()
	(<-got)()
	r3()
	// All slots free: admitted at once.
	r, err := g.Acquire(ctx, admission.Background)
	if err != nil {
		t.Fatal(err)
	}
	r()
}

// Waiting work is admitted first come, first served within its class,
// interactive before background, except that background work goes after
// every BackgroundTurn interactive admissions, so it is never starved.
func TestCPUOrder(t *testing.T) {
	g := &admission.CPU{Slots: 1}
	ctx := context.Background()
	hold, _ := g.Acquire(ctx, admission.Interactive)
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	enqueue := func(name string, c admission.Class, i, b int) {
		wg.Go(func() {
			r, err := g.Acquire(ctx, c)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			r()
		})
		queued(t, g, i, b)
	}
	enqueue("b1", admission.Background, 0, 1)
	enqueue("b2", admission.Background, 0, 2)
	for k, name := range []string{"i1", "i2", "i3", "i4", "i5", "i6"} {
		enqueue(name, admission.Interactive, k+1, 2)
	}
	hold()
	wg.Wait()
	want := []string{"i1", "i2", "i3", "i4", "b1", "i5", "i6", "b2"}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for k := range want {
		if order[k] != want[k] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}

// A piece whose context ends while it waits leaves the queue holding
// nothing, and the slot goes to the next.
func TestCPUCancelledWaiterHoldsNothing(t *testing.T) {
	g := &admission.CPU{Slots: 1}
	hold, _ := g.Acquire(context.Background(), admission.Interactive)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := g.Acquire(ctx, admission.Interactive)
		errc <- err
	}()
	queued(t, g, 1, 0)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	queued(t, g, 0, 0)
	hold()
	r, err := g.Acquire(context.Background(), admission.Background)
	if err != nil {
		t.Fatal(err)
	}
	r()
	// Many waiters cancelled while slots change hands: every slot comes
	// back (run with -race).
	var wg sync.WaitGroup
	for k := range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(k%5)*100*time.Microsecond)
			defer cancel()
			if r, err := g.Acquire(ctx, admission.Class(k%2)); err == nil {
				r()
			}
		})
	}
	wg.Wait()
	// The one slot is free (a lost one would block here), and only one.
	r, err = g.Acquire(context.Background(), admission.Interactive)
	if err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer stop()
	if _, err := g.Acquire(short, admission.Interactive); err == nil {
		t.Fatal("two pieces ran on one slot")
	}
	r()
}

// Without slots (or without a gate) everything runs at once.
func TestCPUUnlimited(t *testing.T) {
	for _, g := range []*admission.CPU{nil, {}} {
		for range 100 {
			if _, err := g.Acquire(context.Background(), admission.Background); err != nil {
				t.Fatal(err)
			}
		}
	}
}
