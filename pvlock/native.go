package pvlock

import (
	"runtime"
	"sync/atomic"

	"github.com/pvswitch/pvswitch/internal/barrier"
)

// lockSlowNative is the native waiter: test-and-test-and-set. It spins
// read-only (the cache line stays shared while the holder works), and only
// when it has seen the word free does it try the CMPXCHG. It never parks:
// under oversubscription it burns its time slice, which is the variant's
// known weakness and the reason the paravirt variant exists.
//
// A native waiter never writes anything but 0 -> 1, which is safe whatever
// the mode and whatever the release: it cannot disturb a paravirt waiter's
// mark, and a lock it takes is released by whatever the release site holds
// then. So it is not counted in the switch barrier, and no switch waits
// for it. Between spins it looks at the gate and the published mode:
//
//	gate closed (a switch is draining)  wait at the gate, asleep, so that
//	                                    the switcher and the holder get the
//	                                    CPU; then re-run the site (false)
//	published mode is not native        re-run the site (false), which now
//	                                    leads to the paravirt waiter
//
// It returns true once it holds the lock. g is the barrier it answers to:
// the process's (sw.b), or a test's own for a lock of its own.
func (l *SpinLock) lockSlowNative(g *barrier.Barrier) bool {
	stats.slow.Add(1)
	// Backoff: the waiter reads the word seldom at first and ever more
	// seldom while it waits (spin.go, nativeFirstRead), so a holder that
	// re-takes the lock keeps its cache line instead of paying a transfer
	// for each of the waiter's reads.
	every := uint32(nativeFirstRead)
	for round := 1; ; round++ {
		if spinWait(&l.key, max(spinPauses, every), every) && l.tryAcquire() {
			return true
		}
		every = min(2*every, nativeMaxRead)
		preemptPoint()
		if round%nativeYieldRounds == 0 {
			// Give this P to the goroutines queued on it: the holder
			// may be one of them, and so may a switcher. Go preempts a
			// spinner only when sysmon asks, and under heavy OS
			// oversubscription sysmon itself waits for a CPU: without
			// this, runnable goroutines starved for seconds behind
			// native spinners (TestSwitchTorture at GOMAXPROCS=64
			// beside another busy process).
			runtime.Gosched()
		}
		if !g.IsOpen() {
			return g.Wait(gateRetry, l.tryAcquire)
		}
		if Mode(g.State()) != Native {
			return false
		}
	}
}

// tryAcquire is the one variant-neutral acquire: CMPXCHG 0 -> 1.
func (l *SpinLock) tryAcquire() bool {
	return atomic.CompareAndSwapUint32(&l.key, free, locked)
}

// unlockNative is the native release: one plain 32-bit store. It cannot tell
// whether the lock was held, and over lockedParked it loses the wakeup (the
// unsafe pair in the package doc).
func (l *SpinLock) unlockNative() {
	storeFree(&l.key)
}
