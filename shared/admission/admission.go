// Package admission decides how much work one instance takes on at once,
// and how it is shared between callers: a Pool is a capacity (requests in
// flight, bytes of working memory) of which each key (a clinic, or a
// subject for callers without one) may hold at most a share, so that one
// clinic can fill its share but never the instance.
//
// It also finds the memory an instance has (MemoryLimit): the container's
// cgroup limit, or the configured value, from which the memory budget for
// request bodies and designs is derived.
//
// Hand-written because no maintained Go library combines a weighted
// semaphore with per-key shares (golang.org/x/sync/semaphore has the
// weights, not the keys); the whole of it is one mutex and two counters.
package admission

import (
	"context"
	"sync"
)

// Refusal says why TryAcquire did not admit.
type Refusal int

const (
	// Admitted: nothing refused.
	Admitted Refusal = iota
	// KeyShare: the key already holds its share of the pool.
	KeyShare
	// Full: the pool as a whole is in use.
	Full
)

// Pool is a capacity shared by keys. The zero Pool admits everything.
type Pool struct {
	// Capacity is the units that may be held at once in all (0 or less:
	// unlimited).
	Capacity int64
	// PerKey is the units one key may hold at once (0 or less: Capacity).
	PerKey int64

	mu      sync.Mutex
	used    int64
	held    map[string]int64
	changed chan struct{} // closed and replaced when units are released
}

// limits returns the pool's effective capacity and per-key share.
func (p *Pool) limits() (capacity, perKey int64) {
	capacity, perKey = p.Capacity, p.PerKey
	if perKey <= 0 || (capacity > 0 && perKey > capacity) {
		perKey = capacity
	}
	return capacity, perKey
}

// Clamp is n bounded by what one key may ever hold, so that a request
// larger than a share is still admitted when its key holds nothing.
func (p *Pool) Clamp(n int64) int64 {
	if _, perKey := p.limits(); perKey > 0 && n > perKey {
		return perKey
	}
	return max(n, 0)
}

// TryAcquire takes n units (after Clamp) for key if both the pool and the
// key's share have room, and returns the function that gives them back
// (call it exactly once). Otherwise it takes nothing and says why.
func (p *Pool) TryAcquire(key string, n int64) (release func(), why Refusal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tryLocked(key, n)
}

func (p *Pool) tryLocked(key string, n int64) (func(), Refusal) {
	capacity, perKey := p.limits()
	if capacity <= 0 {
		return func() {}, Admitted
	}
	n = p.Clamp(n)
	switch {
	case p.held[key]+n > perKey:
		return nil, KeyShare
	case p.used+n > capacity:
		return nil, Full
	}
	if p.held == nil {
		p.held = map[string]int64{}
	}
	p.held[key] += n
	p.used += n
	var once sync.Once
	return func() { once.Do(func() { p.release(key, n) }) }, Admitted
}

func (p *Pool) release(key string, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used -= n
	if p.held[key] -= n; p.held[key] <= 0 {
		delete(p.held, key)
	}
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// Acquire is TryAcquire that waits for room instead of refusing, until ctx
// is done (its error is returned, and nothing is held). For work that can
// wait, such as an event delivery, rather than a client that can retry.
func (p *Pool) Acquire(ctx context.Context, key string, n int64) (release func(), err error) {
	for {
		p.mu.Lock()
		rel, why := p.tryLocked(key, n)
		if why == Admitted {
			p.mu.Unlock()
			return rel, nil
		}
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// InUse is the units held now, in all and by key.
func (p *Pool) InUse(key string) (all, byKey int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used, p.held[key]
}

// Share is the per-key share of capacity for a fraction of it: at least one
// unit, at most the capacity.
func Share(capacity int64, fraction float64) int64 {
	if capacity <= 0 {
		return 0
	}
	s := int64(float64(capacity) * fraction)
	return min(max(s, 1), capacity)
}
