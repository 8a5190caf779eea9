package patch

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
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
	ErrTracer = errors.New("patch: a tracer is attached (TracerPid in /proc/self/status); a debugger stops on our INT3 traps and by default does not pass SIGTRAP on (gdb then resumes the thread inside the site's instruction: SIGILL), and one that restores its saved byte undoes a patch: detach it, or allow it with patch.AllowTracer(true) or PVSWITCH_ALLOW_TRACER=1 and tell the debugger to pass SIGTRAP without stopping (gdb: handle SIGTRAP nostop noprint pass)")

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

// ErrWritesRefused is matched by a *WindowError whose step failed for a
// reason retrying cannot fix: the kernel refused a code write (EPERM or
// EACCES from mprotect or from pwrite to /proc/self/mem) or the core sync
// (EPERM or ENOSYS from membarrier), as under a seccomp filter, a
// memory-deny-write-execute policy (prctl PR_SET_MDWE) or a security
// module installed after Init. Patching is over for this process; the
// caller must fall back to what the sites hold now (Current).
var ErrWritesRefused = errors.New("patch: the kernel now refuses to let this process patch its code")

// permanent reports whether errno e at step is a refusal retrying cannot
// fix (see ErrWritesRefused).
func permanent(step string, e error) bool {
	switch step {
	case "sync1", "sync2":
		return errors.Is(e, syscall.EPERM) || errors.Is(e, syscall.ENOSYS)
	}
	return errors.Is(e, syscall.EPERM) || errors.Is(e, syscall.EACCES)
}

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
	Step      string // "int3", "sync1", "tails", "sync2", "first", "restore", or "handler" (SIGTRAP's handler replaced)
	Committed bool
	Err       error
}

// Error says which step failed, whether the batch committed, and what to do.
func (e *WindowError) Error() string {
	if e.Step == "handler" {
		if e.Committed {
			return fmt.Sprintf("patch: switch committed and finished, but SIGTRAP's handler was replaced during the window (a thread that trapped on a site meanwhile went to the foreign handler): %v", e.Err)
		}
		return fmt.Sprintf("patch: SIGTRAP's handler was replaced during the window: switch undone before its commit point, nothing changed: %v", e.Err)
	}
	if permanent(e.Step, e.Err) {
		what := "switch undone before its commit point, nothing changed"
		if e.Committed {
			what = "switch committed, the sites still holding INT3 run the new variants through the trap handler"
		}
		op := "code write"
		if strings.HasPrefix(e.Step, "sync") {
			op = "membarrier SYNC_CORE"
		}
		return fmt.Sprintf("patch: step %s (%s) failed: %v: the kernel now refuses this process's code writes or core syncs (a seccomp filter, prctl PR_SET_MDWE, a security module?), which retrying cannot fix; %s", e.Step, op, e.Err, what)
	}
	if e.Committed {
		return fmt.Sprintf("patch: switch committed, but step %s failed: %v; the sites still holding INT3 run the new variants through the trap handler; retry the switch to finish them", e.Step, e.Err)
	}
	return fmt.Sprintf("patch: switch undone before its commit point, step %s failed: %v; nothing changed, retry later", e.Step, e.Err)
}

// Unwrap returns the cause.
func (e *WindowError) Unwrap() error { return e.Err }

// Is matches ErrNotCommitted or ErrRollForward, and ErrWritesRefused when
// the cause is one retrying cannot fix.
func (e *WindowError) Is(target error) bool {
	return (target == ErrNotCommitted && !e.Committed) || (target == ErrRollForward && e.Committed) ||
		(target == ErrWritesRefused && permanent(e.Step, e.Err))
}

// ErrSigBlocked is matched by a *SigBlockedError: a thread of the process
// blocks SIGTRAP, and Switch refused (nothing changed).
var ErrSigBlocked = errors.New("patch: a thread blocks SIGTRAP")

// SigBlockedError names a thread that blocks SIGTRAP. An INT3 that such a
// thread hits while a switch has armed a site cannot be delivered to the
// trap handler: the kernel forces SIGTRAP's default action and the process
// dies at once, with no Go output. So Switch checks every thread before it
// arms anything and refuses while one blocks SIGTRAP.
type SigBlockedError struct {
	Tid    int    // the thread's id
	Comm   string // its name (/proc/self/task/<tid>/comm)
	SigBlk uint64 // its blocked set as /proc reports it (bit 4 is SIGTRAP)
}

// Error names the thread, says what would happen and what to do.
func (e *SigBlockedError) Error() string {
	return fmt.Sprintf("patch: thread %d (%s) blocks SIGTRAP (SigBlk %016x): an INT3 it hit during a switch would kill the process; switch refused, nothing changed: unblock SIGTRAP in that thread (C code called through cgo must not leave SIGTRAP blocked in a thread that runs Go code) and retry",
		e.Tid, e.Comm, e.SigBlk)
}

// Is makes errors.Is(err, ErrSigBlocked) true.
func (e *SigBlockedError) Is(target error) bool { return target == ErrSigBlocked }
