//go:build !amd64 && !pvswitch_flagdispatch

package pvlock

// Without sites (not amd64) the ops run the as-built variants: the
// slow-path entry dispatches on the published mode (sw.dispatch is set, as
// the patcher is unavailable here) and Unlock uses the paravirt release,
// correct in both modes.

func lockSlowOp(l *SpinLock) bool { return l.lockSlowMode(compiledMode) }
func unlockOp(l *SpinLock)        { l.unlockParavirt() }

// flagDispatch is false: this is not the flag-dispatch benchmark build.
const flagDispatch = false
