package pvlock

import (
	"context"
	"fmt"
)

// Getting the patcher ready (installing the SIGTRAP handler, registering
// for membarrier SYNC_CORE, proving a text writer, registering the sites)
// costs milliseconds: on a recent kernel the membarrier registration alone
// waits for an RCU grace period, 8-20 ms measured on a 2-vCPU KVM guest.
// A program that starts in the mode its sites were built with writes
// nothing at start, so it need not wait: setup opens the gate at once and
// the patcher is made ready in the background. Until it is, the sites run
// as built, which is the published mode, and nothing reads the patcher's
// state: Switch, ReadStatus and Sites wait for it first (awaitPatcher). If
// it cannot be made ready, the process moves to the dispatch fallback
// (useDispatch), which the sites as built are correct for.

// patcherReady is closed once the background preparation has finished,
// either way; nil when setup prepared the patcher itself (or not at all).
// Set only by setup, before any other goroutine can read it.
var patcherReady chan struct{}

// preparePatcherAsync runs init in the background; a failure moves the
// process to the dispatch fallback and is logged.
func preparePatcherAsync(init func() error, logf func(string, ...any)) {
	patcherReady = make(chan struct{})
	go func() {
		defer close(patcherReady)
		if err := init(); err != nil {
			useDispatch(err, logf)
		}
	}()
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
