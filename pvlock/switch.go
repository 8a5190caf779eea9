package pvlock

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/pvswitch/pvswitch/internal/barrier"
)

// ErrBusy is returned (wrapped) by Switch when the slow-path waiters of the
// old variant did not drain within the bound or before the context ended.
// Nothing was written and the mode is unchanged: retry later.
var ErrBusy = errors.New("pvlock: switch busy: lock waiters did not drain in time; mode unchanged, retry later")

// ErrMode is returned (wrapped) by Switch for a Mode that is neither Native
// nor Paravirt.
var ErrMode = errors.New("pvlock: invalid mode")

// DefaultDrainBound is how long Switch waits for the old variant's waiters
// to drain, unless SetDrainBound or the context says otherwise.
const DefaultDrainBound = 50 * time.Millisecond

// gateRetry is how soon a goroutine held at the closed gate first retries
// the variant-neutral fast path (one CMPXCHG 0 -> 1), so it still gets a
// lock that becomes free while a switch drains; later retries back off
// (barrier.Wait says why).
const gateRetry = 100 * time.Microsecond

// sw is the process-wide switch state.
var sw struct {
	// b counts the slow-path ops, holds the gate, and publishes the mode
	// (its state is the Mode as a uint32).
	b barrier.Barrier

	// dispatch is set when the sites cannot be patched: at init, or by a
	// switch that found code writes refused (gate closed and drained,
	// sites.go: writesRefused) while the release held the paravirt
	// variant. The slow-path entry then dispatches on the published mode,
	// and Unlock keeps the compiled-in paravirt release, correct in both
	// modes. Atomic: lockSlowMode reads it without the switch's lock. why
	// is stored before dispatch.
	dispatch atomic.Bool
	why      atomic.Pointer[error] // why dispatch is in use

	// turn serializes Switch: a buffered channel of one, so that a caller
	// waiting for another switch to finish can give up when its context
	// ends. Never held while taking a SpinLock.
	turn chan struct{}

	switches, aborts, failures atomic.Int64
	last, worst                atomic.Int64 // nanoseconds
	drainBound                 atomic.Int64 // nanoseconds
}

// CurrentMode returns the mode SpinLock's methods run now.
func CurrentMode() Mode { return Mode(sw.b.State()) }

// SetDrainBound sets how long Switch waits for the old variant's waiters to
// drain before it gives up with ErrBusy (default DefaultDrainBound). A
// context deadline shorter than the bound wins. It returns the previous
// bound; d must be positive.
func SetDrainBound(d time.Duration) (time.Duration, error) {
	if d <= 0 {
		return 0, fmt.Errorf("pvlock: drain bound %v: must be positive", d)
	}
	return time.Duration(sw.drainBound.Swap(int64(d))), nil
}

// Switch changes the mode of every SpinLock in the process, while they are
// in use, without stopping the world:
//
//  1. close the gate: slow-path waiters that reach it wait there, asleep
//     (they still take a lock that becomes free);
//  2. drain: to native, take the paravirt waiters that sleep out of the
//     count without waiting for them to run (they are evicted: woken once
//     the switch commits, they re-run the lock as native waiters; put back
//     as sleepers if it gives up), then wait, sleeping, until no paravirt
//     waiter that has marked a lock word is left running (native waiters
//     only ever write 0 -> 1 and are never waited for); at most the drain bound
//     (SetDrainBound) or until ctx ends. Meanwhile the switcher runs the
//     commit's checks (a tracer, a thread blocking SIGTRAP, the sites'
//     bytes; their time does not count against the bound, and a refusal
//     ends the drain and is returned as such), and the last waiter to
//     leave wakes it;
//  3. commit: rewrite the lock-op sites in one short window (package patch),
//     or, in the dispatch fallback, only publish the new mode;
//  4. open the gate.
//
// If the drain does not finish within its bound, or ctx ends first, Switch
// opens the gate, writes nothing and returns an error matching ErrBusy;
// the process keeps running in the old mode. The bound is strict: a drain
// seen complete only after it (the switcher ran late) gives up too. A ctx
// that is already done when Switch is called returns its error and changes
// nothing. Concurrent calls are serialized, and a call waiting for another
// switch to finish returns when its ctx ends (an error matching ErrBusy
// and ctx.Err()). Switching to the current mode returns nil at once.
// See package internal/barrier for why this is safe.
//
// The bound covers the drain only. The gate stays closed for the drain plus
// the patch window, which takes tens of microseconds on an idle machine but
// whose pinned thread the OS can preempt under heavy oversubscription;
// waiters at the gate keep taking locks that become free meanwhile.
// ReadStatus reports each switch's latency as its caller saw it, from the
// call to the return.
func Switch(ctx context.Context, to Mode) error {
	start := time.Now()
	autoOverride(ctx) // a switch not made by the auto policy takes control from it (auto.go)
	if to != Native && to != Paravirt {
		return fmt.Errorf("%w %v: want Native or Paravirt", ErrMode, to)
	}
	if flagDispatch {
		return errFlagBuild
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pvlock: switch to %v not started: %w", to, err)
	}
	select {
	case sw.turn <- struct{}{}:
	case <-ctx.Done():
		sw.aborts.Add(1)
		return fmt.Errorf("%w: switch to %v: gave up waiting for another switch: %w", ErrBusy, to, ctx.Err())
	}
	defer func() { <-sw.turn }()
	if err := awaitPatcher(ctx); err != nil {
		sw.aborts.Add(1)
		return fmt.Errorf("%w: switch to %v: %w", ErrBusy, to, err)
	}
	from := CurrentMode()
	if to == from {
		return nil
	}
	sw.b.Close()
	// The commit's checks (tracer, signal masks, site bytes) run while
	// the counted waiters leave, not after the drain; their time is not
	// the drain's (DrainOverlap), and a refusal ends the drain at once.
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	var pend pendingCommit
	prepared := false
	prepare := func() {
		pend, prepared = prepareCommit(to), true
		if pend.refused() != nil {
			stop()
		}
	}
	// Sleepers a drain to native evicts get their token if the switch
	// commits, and are put back if it does not, before the gate opens
	// (evict.go).
	open := func(m Mode) {
		settleEvicted(&sw.b, m)
		sw.b.Open(uint32(m))
	}
	kick := func() { wakeSleepers() }
	if to == Native {
		kick = func() { evictSleepers(&sw.b) }
	}
	if err := sw.b.DrainOverlap(dctx, time.Duration(sw.drainBound.Load()), kick, prepare); err != nil {
		if prepared {
			pend.cancel()
			if rerr := pend.refused(); rerr != nil {
				open(from) // nothing was written
				sw.failures.Add(1)
				_, rerr = pend.commit() // the refusal, worded as commit words it
				return rerr
			}
		}
		open(from) // abort: nothing was written
		sw.aborts.Add(1)
		return fmt.Errorf("%w: switch %v -> %v: %w", ErrBusy, from, to, err)
	}
	if !prepared { // the drain ran no kick (only under an injected fault)
		prepare()
	}
	now, err := pend.commit()
	open(now)
	if err != nil {
		sw.failures.Add(1)
		return err
	}
	d := time.Since(start)
	sw.switches.Add(1)
	sw.last.Store(int64(d))
	for w := sw.worst.Load(); int64(d) > w && !sw.worst.CompareAndSwap(w, int64(d)); w = sw.worst.Load() {
	}
	observeSwitch(to, d) // observe.go
	return nil
}

// pendingCommit is a commit whose checks have run: prepareCommit, then
// exactly one of commit or cancel.
type pendingCommit struct {
	to      Mode
	patched *pendingSwitch // nil under dispatch
}

// prepareCommit runs the checks of a commit to mode to (nothing to check
// under dispatch). The gate is closed; the drain may still be running.
func prepareCommit(to Mode) pendingCommit {
	c := pendingCommit{to: to}
	if !sw.dispatch.Load() {
		p := lockOps.prepare(to)
		c.patched = &p
	}
	return c
}

// refused returns the checks' refusal, if they refused (nothing is held then).
func (c pendingCommit) refused() error {
	if c.patched != nil {
		return c.patched.err
	}
	return nil
}

// cancel ends a pending commit without writing anything (the drain failed).
func (c pendingCommit) cancel() {
	if c.patched != nil {
		c.patched.cancel()
	}
}

// commit makes the sites run mode c.to, with the gate closed and the old
// variant drained, and returns the mode now in effect (the published mode
// must always equal what the sites do).
func (c pendingCommit) commit() (Mode, error) {
	to := c.to
	if c.patched == nil {
		return to, nil
	}
	now, err := c.patched.commit()
	switch {
	case err == nil:
		return now, nil
	case now == to:
		// Committed: the sites run the new variant (some through the
		// trap handler until a later switch finishes them).
		log.Printf("pvlock: switch to %v committed but not finished: %v", to, err)
		return now, fmt.Errorf("pvlock: switch to %v: %w", to, err)
	default:
		return now, fmt.Errorf("pvlock: switch to %v refused, mode unchanged: %w", to, err)
	}
}
