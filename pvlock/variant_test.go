package pvlock

import (
	"sync/atomic"
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/barrier"
	"github.com/pvswitch/pvswitch/internal/race"
)

// Per-variant entry points. Tests and benchmarks use them to run the two
// variants side by side in one process, each on locks of its own; they are
// never used on a lock that the process-wide methods also use, since that
// would mix variants on one word outside a switch.

// variantBarrier is the barrier a per-variant lock answers to: always
// open, publishing that variant's mode, never switched.
var variantBarrier [2]barrier.Barrier

func init() {
	variantBarrier[Native].Open(uint32(Native))
	variantBarrier[Paravirt].Open(uint32(Paravirt))
}

func lockVariant(l *SpinLock, m Mode) {
	if !atomic.CompareAndSwapUint32(&l.key, free, locked) {
		if m == Paravirt {
			for !l.lockSlowParavirt(&variantBarrier[Paravirt]) {
			}
		} else {
			for !l.lockSlowNative(&variantBarrier[Native]) {
			}
		}
	}
	if race.Enabled {
		race.Acquire(unsafe.Pointer(l))
	}
}

func unlockVariant(l *SpinLock, m Mode) {
	if race.Enabled {
		raceCheckHeld(l)
		race.Release(unsafe.Pointer(l))
	}
	if m == Paravirt {
		l.unlockParavirt()
	} else {
		l.unlockNative()
	}
}

// variantLocker is a sync.Locker that runs one variant on its own lock.
type variantLocker struct {
	l *SpinLock
	m Mode
}

func (v variantLocker) Lock()   { lockVariant(v.l, v.m) }
func (v variantLocker) Unlock() { unlockVariant(v.l, v.m) }
