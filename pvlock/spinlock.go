package pvlock

import (
	"sync/atomic"
	"unsafe"
)

// Values of the low byte of SpinLock.key; see the package doc for the drawing
// and the transition table.
const (
	free         = 0                  // nobody holds the lock
	locked       = 1                  // held, no parked waiter marked
	parkedBit    = 2                  // a paravirt waiter parked or is about to
	lockedParked = locked | parkedBit // held, and the release must kick
)

// SpinLock is a mutual exclusion lock whose waiters spin (native variant) or
// spin for a bounded time and then park (paravirt variant), as the
// process-wide mode says. The zero value is an unlocked lock.
//
// A SpinLock must not be copied after first use. It is meant for short
// critical sections; a goroutine may block or be preempted while it holds
// one, but under the native variant every waiter then burns its CPU.
type SpinLock struct {
	// key is the lock word shared by both variants (free, locked,
	// lockedParked). Written only with locked instructions, except by the
	// native release, a plain byte store.
	key uint32
	// sema is the runtime semaphore's count for paravirt waiters; only
	// the runtime semaphore functions touch it.
	sema uint32
}

var _ interface {
	Lock()
	Unlock()
} = (*SpinLock)(nil)

// Lock locks l. If the lock is already in use, the calling goroutine waits
// until it is available: it spins (native), or spins for a bounded time and
// then parks (paravirt).
func (l *SpinLock) Lock() {
	// Fast path, the same in both variants: one LOCK CMPXCHG.
	if !atomic.CompareAndSwapUint32(&l.key, free, locked) {
		l.lockSlow()
	}
	if raceEnabled {
		raceAcquire(unsafe.Pointer(l))
	}
}

// lockSlow is outlined so that Lock's fast path can be inlined.
func (l *SpinLock) lockSlow() {
	if processMode == Paravirt {
		l.lockSlowParavirt()
	} else {
		l.lockSlowNative()
	}
}

// TryLock tries to lock l and reports whether it succeeded. It never waits.
//
// Note that while correct uses of TryLock do exist, they are rare, as for
// sync.Mutex.TryLock.
func (l *SpinLock) TryLock() bool {
	if !atomic.CompareAndSwapUint32(&l.key, free, locked) {
		return false
	}
	if raceEnabled {
		raceAcquire(unsafe.Pointer(l))
	}
	return true
}

// Unlock unlocks l. As with sync.Mutex, a locked SpinLock is not associated
// with a particular goroutine: one goroutine may lock it and another unlock
// it. Unlocking an unlocked lock is a fatal error under the paravirt variant
// and in race builds, and goes undetected under the native variant (see the
// package doc).
func (l *SpinLock) Unlock() {
	if raceEnabled {
		raceCheckHeld(l)
		raceRelease(unsafe.Pointer(l))
	}
	if processMode == Native {
		l.unlockNative()
		return
	}
	l.unlockParavirt()
}

// fatalUnlock reports an unlock of an unlocked SpinLock. Like sync.Mutex, it
// is unrecoverable: the lock's state is no longer trustworthy.
func fatalUnlock() {
	fatal("pvlock: unlock of unlocked SpinLock")
}

// raceCheckHeld is the race-build misuse check: it has no locked instruction
// cost in normal builds because raceEnabled is a constant.
func raceCheckHeld(l *SpinLock) {
	if atomic.LoadUint32(&l.key)&locked == 0 {
		fatalUnlock()
	}
}
