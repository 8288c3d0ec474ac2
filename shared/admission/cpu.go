package admission

import (
	"context"
	"slices"
	"sync"
)

// Class is how urgent a piece of CPU work is to the gate.
type Class int

const (
	// Interactive work has a caller waiting for the answer: an upload, a
	// map, a tear layer.
	Interactive Class = iota
	// Background work answers nobody now: the design of a scan that was
	// just accepted.
	Background
)

// BackgroundTurn is how many interactive admissions the gate makes, while
// background work also waits, before it admits one background piece: an
// interactive caller rarely waits behind background work, and background
// work always progresses.
const BackgroundTurn = 4

// CPU is a gate for CPU-bound work (parsing, fitting, sealing): it admits
// as many pieces at once as it has slots, one per core, and queues the
// rest first come, first served, interactive work before background work
// (see BackgroundTurn).
//
// Admitting only what the cores can run has two effects beside fairness:
// the work in a queue holds no working memory yet (an upload waits with
// its body read, before it parses or seals anything), so memory follows
// the cores rather than the requests in flight; and interactive callers
// are answered in order instead of all slowing down together. Hold a slot
// only around CPU work, never across a call to storage or another service.
//
// The zero CPU, and a nil one, admit everything at once. Hand-written for
// the same reason as Pool: golang.org/x/sync/semaphore queues in one
// order, with no classes.
type CPU struct {
	// Slots is how many pieces run at once (0 or less: unlimited); one per
	// core (runtime.GOMAXPROCS) is the intended value.
	Slots int

	mu     sync.Mutex
	busy   int
	queue  [2][]chan struct{} // waiting, by Class
	served int                // interactive admissions since background work last went
}

// Acquire waits for a slot for work of class c, until ctx is done (its
// error is returned, and nothing is held), and returns the function that
// gives the slot back (call it at least once; later calls do nothing).
func (g *CPU) Acquire(ctx context.Context, c Class) (release func(), err error) {
	if g == nil || g.Slots <= 0 {
		return func() {}, nil
	}
	g.mu.Lock()
	if g.busy < g.Slots && len(g.queue[Interactive]) == 0 && len(g.queue[Background]) == 0 {
		g.busy++
		g.mu.Unlock()
		return g.releaser(), nil
	}
	ready := make(chan struct{})
	g.queue[c] = append(g.queue[c], ready)
	g.mu.Unlock()
	select {
	case <-ready:
		return g.releaser(), nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-ready:
			// Admitted as ctx ended: pass the slot on.
			g.handOnLocked()
		default:
			if i := slices.Index(g.queue[c], ready); i >= 0 {
				g.queue[c] = slices.Delete(g.queue[c], i, i+1)
			}
		}
		return nil, ctx.Err()
	}
}

func (g *CPU) releaser() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.handOnLocked()
		})
	}
}

// handOnLocked gives a slot that is being released to the next waiter, or
// frees it.
func (g *CPU) handOnLocked() {
	next := Interactive
	switch {
	case len(g.queue[Interactive]) == 0 && len(g.queue[Background]) == 0:
		g.busy--
		return
	case len(g.queue[Interactive]) == 0, len(g.queue[Background]) > 0 && g.served >= BackgroundTurn:
		next = Background
	}
	if next == Interactive {
		g.served++
	} else {
		g.served = 0
	}
	ready := g.queue[next][0]
	g.queue[next] = g.queue[next][1:]
	close(ready)
}

// Waiting is the number of pieces queued, by class.
func (g *CPU) Waiting() (interactive, background int) {
	if g == nil {
		return 0, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue[Interactive]), len(g.queue[Background])
}
