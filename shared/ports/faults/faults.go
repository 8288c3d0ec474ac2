// Package faults wraps the ports with fault injection, for proving that
// nothing is lost when storage, the document store or Pub/Sub misbehave.
// A wrapped operation may, at a configured rate, fail at once, hang until a
// timeout and then fail, or run late; a failed operation has no effect
// (a document transaction's function runs but its commit is refused), except
// for the Publisher's "lost acknowledgement" failures, which publish and then
// report an error, as a Pub/Sub client may after a network failure.
//
// The local stack applies an Injector when LENSFLOW_FAULTS is set (see
// ParseSpec); the soak test uses it to run thousands of uploads through
// 5-10% failures and a crash.
package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
)

// ErrInjected is the cause of every injected failure.
var ErrInjected = errors.New("injected fault")

// Spec configures an Injector.
type Spec struct {
	// Rate is the fraction of operations that fail, in [0, 1].
	Rate float64
	// TimeoutShare is the fraction of failures that are timeouts: the
	// operation hangs for Timeout (or until its context ends) and then
	// fails with context.DeadlineExceeded. Default 0.25.
	TimeoutShare float64
	// Timeout is how long a timing-out operation hangs. Default 100 ms.
	Timeout time.Duration
	// LostAckShare is the fraction of Publisher failures in which the event
	// was published but the caller is told it failed. Default 0.5.
	LostAckShare float64
	// Latency adds a uniformly random delay in [0, Latency) to every
	// operation. Default 0.
	Latency time.Duration
	// Seed seeds the random choices (0: a random seed).
	Seed uint64
}

// ParseSpec reads a spec written as comma-separated key=value pairs:
// rate (fraction or percentage, "0.05" or "5%"), timeouts (share of
// failures), timeout (duration), lostack (share), latency (duration), seed.
// A bare number is the rate: "0.05" is the same as "rate=0.05".
func ParseSpec(s string) (Spec, error) {
	var sp Spec
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			k, v = "rate", part
		}
		var err error
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "rate":
			sp.Rate, err = fraction(v)
		case "timeouts":
			sp.TimeoutShare, err = fraction(v)
		case "lostack":
			sp.LostAckShare, err = fraction(v)
		case "timeout":
			sp.Timeout, err = time.ParseDuration(v)
		case "latency":
			sp.Latency, err = time.ParseDuration(v)
		case "seed":
			sp.Seed, err = strconv.ParseUint(v, 10, 64)
		default:
			return Spec{}, fmt.Errorf("faults: unknown setting %q (want rate, timeouts, timeout, lostack, latency or seed)", k)
		}
		if err != nil {
			return Spec{}, fmt.Errorf("faults: %s=%q: %w", k, v, err)
		}
	}
	return sp, nil
}

func fraction(v string) (float64, error) {
	v = strings.TrimSpace(v)
	div := 1.0
	if p, ok := strings.CutSuffix(v, "%"); ok {
		v, div = p, 100
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	f /= div
	if !(f >= 0 && f <= 1) {
		return 0, fmt.Errorf("not a fraction in [0, 1]")
	}
	return f, nil
}

// Counts are what happened to one kind of operation.
type Counts struct {
	Calls, Errors, Timeouts, LostAcks int64
}

// Injected is the number of injected failures.
func (c Counts) Injected() int64 { return c.Errors + c.Timeouts + c.LostAcks }

// Injector decides which operations fail and counts them.
type Injector struct {
	spec    Spec
	enabled atomic.Bool
	mu      sync.Mutex
	rng     *rand.Rand
	stats   map[string]*Counts
}

// New returns an enabled Injector.
func New(s Spec) *Injector {
	if s.TimeoutShare == 0 {
		s.TimeoutShare = 0.25
	}
	if s.Timeout == 0 {
		s.Timeout = 100 * time.Millisecond
	}
	if s.LostAckShare == 0 {
		s.LostAckShare = 0.5
	}
	seed := s.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	in := &Injector{spec: s, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), stats: map[string]*Counts{}}
	in.enabled.Store(true)
	return in
}

// Spec returns the injector's configuration with defaults applied.
func (in *Injector) Spec() Spec { return in.spec }

// SetEnabled turns injection on or off (operations are still counted).
func (in *Injector) SetEnabled(on bool) { in.enabled.Store(on) }

// Stats returns the counts per operation ("docs.get", "blobs.put", ...).
func (in *Injector) Stats() map[string]Counts {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]Counts, len(in.stats))
	for k, v := range in.stats {
		out[k] = *v
	}
	return out
}

// Total sums Stats.
func (in *Injector) Total() Counts {
	var t Counts
	for _, c := range in.Stats() {
		t.Calls += c.Calls
		t.Errors += c.Errors
		t.Timeouts += c.Timeouts
		t.LostAcks += c.LostAcks
	}
	return t
}

// String summarises Stats, one operation per line.
func (in *Injector) String() string {
	st := in.Stats()
	ops := make([]string, 0, len(st))
	for k := range st {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	var b strings.Builder
	for _, op := range ops {
		c := st[op]
		fmt.Fprintf(&b, "%-16s calls %6d  errors %4d  timeouts %4d  lost acks %4d\n", op, c.Calls, c.Errors, c.Timeouts, c.LostAcks)
	}
	return b.String()
}

type outcome int

const (
	pass outcome = iota
	fail
	timeout
	lostAck
)

// decide picks the outcome of one call of op and sleeps for its latency.
func (in *Injector) decide(ctx context.Context, op string, ambiguous bool) outcome {
	in.mu.Lock()
	c := in.stats[op]
	if c == nil {
		c = &Counts{}
		in.stats[op] = c
	}
	c.Calls++
	o, delay := pass, time.Duration(0)
	if in.enabled.Load() {
		if in.spec.Latency > 0 {
			delay = time.Duration(in.rng.Int64N(int64(in.spec.Latency)))
		}
		if in.rng.Float64() < in.spec.Rate {
			switch r := in.rng.Float64(); {
			case r < in.spec.TimeoutShare:
				o = timeout
				c.Timeouts++
			case ambiguous && in.rng.Float64() < in.spec.LostAckShare:
				o = lostAck
				c.LostAcks++
			default:
				o = fail
				c.Errors++
			}
		}
	}
	in.mu.Unlock()
	if o == timeout {
		delay += in.spec.Timeout
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return o
}

// before runs the injection for an operation that has not happened yet: a
// non-nil error means the operation must not run.
func (in *Injector) before(ctx context.Context, op string) error {
	switch in.decide(ctx, op, false) {
	case fail:
		return errs.E(op, errs.Unavailable, ErrInjected)
	case timeout:
		return errs.E(op, errs.Unavailable, fmt.Errorf("%w: %w", ErrInjected, context.DeadlineExceeded))
	}
	return nil
}

// Documents wraps d. RunTransaction may be refused before its function
// runs or at commit (the function runs, nothing is written).
func (in *Injector) Documents(d ports.Documents) ports.Documents { return &docs{d, in} }

type docs struct {
	ports.Documents
	in *Injector
}

func (d *docs) Get(ctx context.Context, collection, id string, dst any) error {
	if err := d.in.before(ctx, "docs.get"); err != nil {
		return err
	}
	return d.Documents.Get(ctx, collection, id, dst)
}

func (d *docs) Query(ctx context.Context, q ports.Query) ([]ports.Doc, error) {
	if err := d.in.before(ctx, "docs.query"); err != nil {
		return nil, err
	}
	return d.Documents.Query(ctx, q)
}

func (d *docs) RunTransaction(ctx context.Context, fn func(ctx context.Context, tx ports.Tx) error) error {
	if err := d.in.before(ctx, "docs.begin"); err != nil {
		return err
	}
	return d.Documents.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		// Refusing here aborts the transaction: the commit fails cleanly.
		return d.in.before(ctx, "docs.commit")
	})
}

// Blobs wraps b.
func (in *Injector) Blobs(b ports.Blobs) ports.Blobs { return &blobs{b, in} }

type blobs struct {
	ports.Blobs
	in *Injector
}

func (b *blobs) Put(ctx context.Context, name string, data []byte, opts ports.PutOptions) error {
	if err := b.in.before(ctx, "blobs.put"); err != nil {
		return err
	}
	return b.Blobs.Put(ctx, name, data, opts)
}

func (b *blobs) Get(ctx context.Context, name string) ([]byte, error) {
	if err := b.in.before(ctx, "blobs.get"); err != nil {
		return nil, err
	}
	return b.Blobs.Get(ctx, name)
}

func (b *blobs) Delete(ctx context.Context, name string) error {
	if err := b.in.before(ctx, "blobs.delete"); err != nil {
		return err
	}
	return b.Blobs.Delete(ctx, name)
}

func (b *blobs) List(ctx context.Context, prefix string) ([]string, error) {
	if err := b.in.before(ctx, "blobs.list"); err != nil {
		return nil, err
	}
	return b.Blobs.List(ctx, prefix)
}

// Publisher wraps p. Besides clean failures, a share of failures publish
// the event and then report an error (the acknowledgement was lost), so
// the caller retries and the event is delivered twice.
func (in *Injector) Publisher(p ports.Publisher) ports.Publisher { return &publisher{p, in} }

type publisher struct {
	ports.Publisher
	in *Injector
}

func (p *publisher) Publish(ctx context.Context, topic string, e ports.Event) error {
	const op = "events.publish"
	switch p.in.decide(ctx, op, true) {
	case fail:
		return errs.E(op, errs.Unavailable, ErrInjected)
	case timeout:
		return errs.E(op, errs.Unavailable, fmt.Errorf("%w: %w", ErrInjected, context.DeadlineExceeded))
	case lostAck:
		if err := p.Publisher.Publish(ctx, topic, e); err != nil {
			return err
		}
		return errs.E(op, errs.Unavailable, fmt.Errorf("%w: acknowledgement lost", ErrInjected))
	}
	return p.Publisher.Publish(ctx, topic, e)
}
