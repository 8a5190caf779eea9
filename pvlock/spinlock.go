package pvlock

import (
	"sync/atomic"
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/race"
)

// Values of the low byte of SpinLock.key; see the package doc for the drawing
// and the transition table.
const (
	free         = 0                  // nobody holds the lock
	locked       = 1                  // held, no parked waiter marked
	parkedBit    = 2                  // a paravirt waiter parked or is about to
	lockedParked = locked | parkedBit // held, and the release must kick
	// handoffBit asks the paravirt release to hand the lock to a woken
	// sleeper instead of freeing it: set by a waiter that has waited
	// starveAfter or more, as sync.Mutex's starvation mode does.
	handoffBit = 4
	// lockedHandoff is held, with a parked waiter, and handoff asked: the
	// release leaves reserved instead of free.
	lockedHandoff = lockedParked | handoffBit
	// reserved is not held but not free either: only a paravirt waiter
	// that has slept takes it (its XCHG sees it), so no fast path, no
	// spinner and no gated retry can barge in ahead of the sleepers.
	reserved = handoffBit
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
	// native release, a plain 32-bit store.
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
	if race.Enabled {
		race.Acquire(unsafe.Pointer(l))
	}
}

// lockSlow is outlined so that Lock's fast path can be inlined. It runs the
// slow-path entry site, which leads to the current variant; the variant
// returns false when a switch got in between (see lockSlowMode), and the
// site is run again from the top.
func (l *SpinLock) lockSlow() {
	for !lockSlowOp(l) {
	}
}

// lockSlowMode is the slow path of mode m, entered from the slow-path entry
// site; it returns false to have the site run again. The invariant a switch
// relies on: a waiter that has written anything but 0 -> 1 to a lock word
// (a paravirt waiter's mark), or sleeps, is counted in the switch barrier,
// and counted only while m is the published mode. The paravirt waiter
// counts itself, then validates, before its mark (lockSlowParavirt); the
// native waiter writes only 0 -> 1 and is never counted (lockSlowNative).
func (l *SpinLock) lockSlowMode(m Mode) bool {
	if sw.dispatch.Load() {
		m = CurrentMode() // the site never changes: the published mode decides
	}
	if m == Paravirt {
		return l.lockSlowParavirt(&sw.b)
	}
	return l.lockSlowNative(&sw.b)
}

// TryLock tries to lock l and reports whether it succeeded. It never waits.
//
// Note that while correct uses of TryLock do exist, they are rare, as for
// sync.Mutex.TryLock.
func (l *SpinLock) TryLock() bool {
	if !atomic.CompareAndSwapUint32(&l.key, free, locked) {
		return false
	}
	if race.Enabled {
		race.Acquire(unsafe.Pointer(l))
	}
	return true
}

// Unlock unlocks l with the current variant's release: the lock-op site
// holds either the native store or a jump to the paravirt release. As with
// sync.Mutex, a locked SpinLock is not associated with a particular
// goroutine: one goroutine may lock it and another unlock it. Unlocking an
// unlocked lock is a fatal error under the paravirt variant and in race
// builds, and goes undetected under the native variant (see the package
// doc).
func (l *SpinLock) Unlock() {
	if race.Enabled {
		raceCheckHeld(l)
		race.Release(unsafe.Pointer(l))
	}
	unlockOp(l)
}

// fatalUnlock reports an unlock of an unlocked SpinLock. Like sync.Mutex, it
// is unrecoverable: the lock's state is no longer trustworthy.
func fatalUnlock() {
	fatal("pvlock: unlock of unlocked SpinLock")
}

// raceCheckHeld is the race-build misuse check: it has no locked instruction
// cost in normal builds because race.Enabled is a constant.
func raceCheckHeld(l *SpinLock) {
	if atomic.LoadUint32(&l.key)&locked == 0 {
		fatalUnlock()
	}
}
