//go:build pvswitch_flagdispatch

package pvlock

// The flag-dispatch build, for benchmarks only: the same algorithm with the
// mode read from a flag on every Unlock and slow path instead of patched
// into the code, to measure what patching saves. Its mode is fixed at start
// (PVLOCK_MODE): a live switch could not be made safe here, since an Unlock
// that read the flag can be descheduled and store after a switch.

func lockSlowOp(l *SpinLock) bool { return l.lockSlowMode(CurrentMode()) }

func unlockOp(l *SpinLock) {
	if CurrentMode() == Native {
		l.unlockNative()
	} else {
		l.unlockParavirt()
	}
}

// flagDispatch makes the lock-op sites' init refuse (errFlagBuild), so the
// process runs under the dispatch mechanism, and Switch refuse too.
const flagDispatch = true
