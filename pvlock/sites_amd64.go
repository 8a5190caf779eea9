//go:build amd64 && !pvswitch_flagdispatch

package pvlock

// The patched build: each op is one call of its site function, and inlines
// to it, so Lock's slow path and Unlock run whatever the site holds now.

func lockSlowOp(l *SpinLock) bool { return lockSlowEntry(l) }
func unlockOp(l *SpinLock)        { release(l) }

// flagDispatch is false: this is not the flag-dispatch benchmark build.
const flagDispatch = false
