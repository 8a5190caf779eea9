package pvlock

import (
	"context"
	"fmt"
)

// Getting the patcher ready (installing the SIGTRAP handler, registering
// for membarrier SYNC_CORE, proving a text writer, registering the sites)
// costs milliseconds: on a recent kernel the membarrier registration alone
// waits for an RCU grace period, 8-20 ms measured on a 2-vCPU KVM guest.
// No program should wait for that at init, so setup opens the gate at once
// with the start mode published and the patcher is made ready in the
// background. Until it is, the sites run as built (paravirt), which is
// correct whatever the published mode:
//
//   - start mode paravirt: the built sites are the paravirt variant;
//   - start mode native: the built release is the paravirt one, correct in
//     both modes (it sees 1 and clears it); the built slow-path entry leads
//     to the paravirt waiter, whose Enter fails because the published mode
//     is native, and which then waits as a native waiter (lockSlowParavirt,
//     the path a uprobe's out-of-line copy takes too). No waiter can mark
//     a word, so once the patcher is ready the sites can be written to the
//     native variants (writeStartMode) with nothing to drain.
//
// Switch, ReadStatus and Sites wait for the background work first
// (awaitPatcher). If the patcher cannot be made ready, or the start mode
// cannot be written, the process moves to the dispatch fallback
// (useDispatch), which the built sites are correct for.

// patcherReady is closed once the background preparation has finished,
// either way; nil when setup prepared the patcher itself (or not at all).
// Set only by setup, before any other goroutine can read it.
var patcherReady chan struct{}

// preparePatcherAsync runs init in the background and then writes the
// sites to the start mode if it is not the built one; a failure moves the
// process to the dispatch fallback and is logged.
func preparePatcherAsync(init func() error, start Mode, logf func(string, ...any)) {
	patcherReady = make(chan struct{})
	go func() {
		defer close(patcherReady)
		if err := init(); err != nil {
			useDispatch(err, logf)
			return
		}
		if start != compiledMode {
			writeStartMode(start, logf)
		}
	}()
}

// writeStartMode writes the sites to start, the mode published since setup
// (see above), with the gate closed around the write like a switch's
// commit. It is not counted as a switch. If the sites cannot be written,
// the process moves to the dispatch fallback, which the built sites are
// correct for.
func writeStartMode(start Mode, logf func(string, ...any)) {
	sw.b.Close()
	// Nothing is counted that could need a drain (no waiter can Enter
	// the paravirt variant while native is published); the drain only
	// confirms it, within the default bound.
	err := sw.b.Drain(context.Background(), DefaultDrainBound, nil)
	if err == nil {
		var now Mode
		if now, err = lockOps.switchTo(start); now == start {
			err = nil // committed; a site left on INT3 runs start through the handler
		}
	}
	if err != nil {
		err = fmt.Errorf("pvlock: could not write the lock-op sites to the start mode %v: %w", start, err)
		useDispatch(err, logf)
	}
	sw.b.Open(uint32(start))
}

// awaitPatcher waits until the background preparation (if any) has
// finished, or ctx ends.
func awaitPatcher(ctx context.Context) error {
	if patcherReady == nil {
		return nil
	}
	select {
	case <-patcherReady:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pvlock: waiting for the patcher to be ready: %w", ctx.Err())
	}
}

// useDispatch moves the process to the dispatch fallback for reason err,
// with one log line saying so. Only valid while the sites hold their built
// variants (at start, or before any switch wrote them).
func useDispatch(err error, logf func(string, ...any)) {
	sw.why.Store(&err)
	sw.dispatch.Store(true)
	logf("pvlock: live patching unavailable, switching by dispatch (%s): %v", lockOps.dispatchRelease(), err)
}
