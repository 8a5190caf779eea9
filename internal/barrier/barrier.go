package barrier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pvswitch/pvswitch/internal/fault"
	"github.com/pvswitch/pvswitch/internal/shard"
)

// Gate values.
const (
	open   = 0
	closed = 1
)

// Token is what Enter returns and Exit takes back: the shard the op counted
// itself on.
type Token struct{ shard int }

// Bits returns t as a number, for a caller that must keep a token in an
// atomic word (pvlock's sleeper registry, read by a switch while its owner
// may be reusing it). TokenFromBits turns it back.
func (t Token) Bits() uint32 { return uint32(t.shard) }

// TokenFromBits returns the token whose Bits are v.
func TokenFromBits(v uint32) Token { return Token{shard: int(v)} }

// ErrBusy is returned (wrapped) by Drain when the count did not reach zero
// within the bound or before the context ended.
var ErrBusy = errors.New("barrier: slow-path operations did not drain")

// Barrier is one counting barrier. The zero value is an open barrier with
// state 0. A Barrier must not be copied after first use.
type Barrier struct {
	count shard.Counter // active ops, per shard
	gate  atomic.Uint32 // open or closed; closed only with an XCHG
	state atomic.Uint32 // the published state (the mode); changed only while closed

	// opened is closed by Open to wake the goroutines waiting at the gate;
	// Close installs a fresh one. Guarded by mu for writers; read atomically.
	mu     sync.Mutex
	opened atomic.Pointer[chan struct{}]

	waiting atomic.Int32 // goroutines in Wait, for tests and status

	// drained carries a hint from Exit to Drain: an op left while the gate
	// was closed and every shard read zero after it. A buffer of one, sent
	// without blocking; Drain trusts only its own reading of the count.
	drained atomic.Pointer[chan struct{}]
}

// Enter counts an op of variant want. It returns ok = false, having
// un-counted, when the gate is closed or the published state is not want:
// the caller must then Wait and re-run its site from the top.
func (b *Barrier) Enter(want uint32) (t Token, ok bool) {
	Stall(StallBeforeCount)
	t.shard = b.count.Add(1) // LOCK XADD: a full fence before the loads below
	Stall(StallBeforeCheck)
	if fault.Active(fault.NoValidate) || b.gate.Load() == open && b.state.Load() == want {
		return t, true
	}
	b.Exit(t)
	return Token{}, false
}

// Exit un-counts the op that Enter counted, on the shard Enter used,
// wherever the goroutine now runs.
func (b *Barrier) Exit(t Token) {
	i := t.shard
	if fault.Active(fault.WrongShard) {
		i = (i + 1) % shard.Shards()
	}
	b.count.AddAt(i, -1) // LOCK XADD: ordered before the gate load
	if b.gate.Load() != open {
		b.wakeDrainer()
	}
}

// wakeDrainer readies a Drain waiting for the count to reach zero, if it
// now has: the op that leaves last hands the switcher its P's next slot
// (a goroutine readied by a channel send runs next on the sender's P), so
// a drain that ends while every P is busy does not wait for a timer and
// then for a P. Only a hint: a send that finds the buffer full, a drain
// that is not waiting yet, or a stale hint from an earlier switch all end
// in Drain reading the count again.
func (b *Barrier) wakeDrainer() {
	if ch := b.drained.Load(); ch != nil && b.count.AllZero() {
		select {
		case *ch <- struct{}{}:
		default:
		}
	}
}

// Recount counts again, on its shard, an op whose Exit someone else made on
// its behalf while the gate was closed (pvlock's eviction of a sleeper by a
// switch that then did not commit): the op is counted as if it had never
// left, and must Exit itself later. The gate must still be closed.
func (b *Barrier) Recount(t Token) {
	b.count.AddAt(t.shard, 1)
}

// State returns the published state.
func (b *Barrier) State() uint32 { return b.state.Load() }

// IsOpen reports whether the gate is open.
func (b *Barrier) IsOpen() bool { return b.gate.Load() == open }

// Wait blocks the calling goroutine, uncounted, while the gate is closed.
// After retryEvery it calls retry (the caller's variant-neutral fast path,
// such as one compare-and-swap on the lock word) and returns true at once if
// retry succeeds; each failed retry doubles the interval, up to
// maxRetryEvery. It returns false when the gate opens (after a commit or an
// abort), at once whatever the interval; the caller then re-runs its site.
//
// Why the backoff: every waiter at the gate wakes to retry, and with
// hundreds of threads waiting (one per locked goroutine) a fixed 100 us
// turned into a storm of wake-ups that took the CPUs from the switcher and
// the holder, the two the gate is closed for. Measured with 256 locked
// threads on 2 CPUs (BenchmarkSwitchUnderLoad, GOMAXPROCS 64, 3 runs each):
// switch median 21-47 ms and p99 241-322 ms with a fixed interval, 11-13
// ms and 63-71 ms with the backoff. A switch of a few hundred microseconds
// still sees its waiters retry every 100-400 us.
func (b *Barrier) Wait(retryEvery time.Duration, retry func() bool) bool {
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for b.gate.Load() != open {
		ch := b.opened.Load()
		if ch == nil || b.gate.Load() == open {
			break
		}
		if t == nil {
			t = time.NewTimer(retryEvery)
		} else {
			t.Reset(retryEvery)
		}
		select {
		case <-*ch:
		case <-t.C:
			if retry() {
				return true
			}
			retryEvery = nextRetry(retryEvery)
		}
	}
	return false
}

// maxRetryEvery caps Wait's retry interval.
const maxRetryEvery = 2 * time.Millisecond

// nextRetry is Wait's interval after a failed retry at interval d.
func nextRetry(d time.Duration) time.Duration { return max(min(2*d, maxRetryEvery), d) }

// Close closes the gate with a fencing store (XCHG), after which every op
// that Enters backs off. Only the switcher calls Close, and only one switch
// runs at a time.
func (b *Barrier) Close() {
	b.mu.Lock()
	ch := make(chan struct{})
	b.opened.Store(&ch)
	if b.drained.Load() == nil {
		d := make(chan struct{}, 1)
		b.drained.Store(&d)
	}
	b.mu.Unlock()
	closeGate(&b.gate) // XCHG (gate.go)
}

// Drained reports whether every shard of the count is zero. Exact after
// Close: see the package doc.
func (b *Barrier) Drained() bool {
	return b.count.AllZero()
}

// Drain waits, sleeping with backoff and never pinned, until Drained. The
// gate must be closed. First it calls kick (unless nil): kick must make
// every counted op that waits for something other than the lock word leave
// (pvlock wakes its sleepers, which then see the closed gate and back out),
// since the drain could otherwise last as long as they sleep.
//
// The bound is strict: Drain succeeds only if it saw every shard at zero
// before bound had passed since it was called. If the deadline passes
// first, or ctx ends, it returns an error matching ErrBusy (and ctx.Err()
// if the context ended), even if the count has reached zero meanwhile: a
// switcher the OS ran late does not quietly stretch the bound.
func (b *Barrier) Drain(ctx context.Context, bound time.Duration, kick func()) error {
	return b.DrainOverlap(ctx, bound, kick, nil)
}

// DrainOverlap is Drain that runs work (unless nil) after kick, while the
// woken ops leave. The time work takes is not counted against bound: it is
// the caller's own work (pvlock: the commit's checks), not the ops'.
func (b *Barrier) DrainOverlap(ctx context.Context, bound time.Duration, kick, work func()) error {
	if fault.Active(fault.NoDrain) {
		return nil
	}
	deadline := time.Now().Add(bound)
	var hint chan struct{} // nil (never ready) if Close was not called
	if p := b.drained.Load(); p != nil {
		hint = *p
	}
	select {
	case <-hint: // a hint left over from an earlier switch
	default:
	}
	if kick != nil && !fault.Active(fault.NoWake) {
		kick()
	}
	if work != nil {
		t0 := time.Now()
		work()
		deadline = deadline.Add(time.Since(t0))
	}
	sleep := 5 * time.Microsecond
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
		drained := b.Drained()
		if late := time.Since(deadline); late > 0 {
			return fmt.Errorf("%w within %v (%d still active, checked %v after the deadline)", ErrBusy, bound, b.count.Sum(), late.Round(time.Microsecond))
		}
		if drained {
			return nil
		}
		t := time.NewTimer(min(sleep, time.Until(deadline)+time.Microsecond))
		select {
		case <-ctx.Done():
		case <-hint:
		case <-t.C:
		}
		t.Stop()
		sleep = min(2*sleep, time.Millisecond)
	}
}

// Open publishes state (the same state to abort, a new one to commit) and
// opens the gate, waking every goroutine waiting in Wait.
func (b *Barrier) Open(state uint32) {
	b.state.Store(state)
	b.gate.Store(open)
	b.mu.Lock()
	if ch := b.opened.Load(); ch != nil {
		close(*ch)
		b.opened.Store(nil)
	}
	b.mu.Unlock()
}

// Waiting returns the number of goroutines waiting at the gate.
func (b *Barrier) Waiting() int { return int(b.waiting.Load()) }

// Active returns the number of counted ops, summed over shards.
func (b *Barrier) Active() int64 { return b.count.Sum() }
