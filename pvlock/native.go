package pvlock

import "sync/atomic"

// lockSlowNative is the native waiter: test-and-test-and-set. It spins
// read-only (the cache line stays shared while the holder works), and only
// when it has seen the word free does it try the CMPXCHG. It never parks:
// under oversubscription it burns its time slice, which is the variant's
// known weakness and the reason the paravirt variant exists.
//
// A native waiter never writes anything but 0 -> 1, so it cannot disturb a
// paravirt waiter's mark on the same word.
func (l *SpinLock) lockSlowNative() {
	stats.slow.Add(1)
	for {
		if spinWait(&l.key, spinPauses) &&
			atomic.CompareAndSwapUint32(&l.key, free, locked) {
			return
		}
		preemptPoint()
	}
}

// unlockNative is the native release: one plain 32-bit store. It cannot tell
// whether the lock was held, and over lockedParked it loses the wakeup (the
// unsafe pair in the package doc).
func (l *SpinLock) unlockNative() {
	storeFree(&l.key)
}
