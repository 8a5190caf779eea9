package patch

import (
	"errors"
	"fmt"
)

var (
	// ErrUnavailable is matched by every *UnavailableError: this process
	// cannot patch code. The program keeps running; every site keeps the
	// variant it holds.
	ErrUnavailable = errors.New("patch: live code patching unavailable")

	// ErrTracer: a tracer (debugger, strace) is attached. A debugger stops
	// on our INT3 traps and by default does not pass SIGTRAP on, and one
	// that restores the byte it saved under its own breakpoint would undo a
	// patch.
	ErrTracer = errors.New("patch: a tracer is attached (TracerPid in /proc/self/status); a debugger stops on our INT3 traps and by default does not pass SIGTRAP on, and one that restores its saved byte undoes a patch: detach it, or allow it with patch.AllowTracer(true) or PVSWITCH_ALLOW_TRACER=1 (then tell the debugger to pass SIGTRAP, e.g. gdb: handle SIGTRAP nostop noprint pass)")

	// ErrVariant: a variant index out of range for its site.
	ErrVariant = errors.New("patch: variant index out of range")

	// ErrNotCommitted is matched by a *WindowError from a switch that was
	// undone before its commit point: no site changed.
	ErrNotCommitted = errors.New("patch: switch not committed, nothing changed")

	// ErrRollForward is matched by a *WindowError from a switch that
	// committed but could not finish rewriting: the new variants are in
	// effect, some sites still hold INT3 and are emulated (correct, only
	// slower); the next Switch of those sites finishes them.
	ErrRollForward = errors.New("patch: switch committed but left INT3 on some sites")
)

// UnavailableError says what is missing for live patching.
type UnavailableError struct {
	What string // "platform", "membarrier", "text writes", "sigtrap"
	Err  error
}

// Error says what is missing and that the program keeps running.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("patch: live code patching unavailable: no %s: %v; the program keeps running on the variants it was built with", e.What, e.Err)
}

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// WindowError reports a failure inside the patch window: which step, and
// whether the batch was committed (ErrRollForward) or undone
// (ErrNotCommitted).
type WindowError struct {
	Step      string // "int3", "sync1", "tails", "sync2", "first", "sync3", "restore"
	Committed bool
	Err       error
}

// Error says which step failed, whether the batch committed, and what to do.
func (e *WindowError) Error() string {
	if e.Committed {
		return fmt.Sprintf("patch: switch committed, but step %s failed: %v; the sites still holding INT3 run the new variants through the trap handler; retry the switch to finish them", e.Step, e.Err)
	}
	return fmt.Sprintf("patch: switch undone before its commit point, step %s failed: %v; nothing changed, retry later", e.Step, e.Err)
}

// Unwrap returns the cause.
func (e *WindowError) Unwrap() error { return e.Err }

// Is matches ErrNotCommitted or ErrRollForward.
func (e *WindowError) Is(target error) bool {
	return (target == ErrNotCommitted && !e.Committed) || (target == ErrRollForward && e.Committed)
}
