package pvlock

import "fmt"

// Mode names a lock variant: which code the lock-op paths run.
type Mode uint32

const (
	// Native is the plain spinlock: waiters spin read-only until the word is
	// free (test-and-test-and-set), and the release is one plain store. The
	// fastest when every thread has its own CPU; it collapses when a holder
	// is preempted while waiters spin.
	Native Mode = iota
	// Paravirt bounds the spin, then parks the waiter through the Go
	// scheduler; the release is a compare-and-swap that kicks a parked
	// waiter when the word says one is parked. Robust under preemption, a
	// little slower without it.
	Paravirt
)

// String returns "native" or "paravirt", or "Mode(n)" for an invalid value.
func (m Mode) String() string {
	switch m {
	case Native:
		return "native"
	case Paravirt:
		return "paravirt"
	}
	return fmt.Sprintf("Mode(%d)", uint32(m))
}

// ParseMode returns the Mode named by s ("native" or "paravirt").
func ParseMode(s string) (Mode, error) {
	switch s {
	case "native":
		return Native, nil
	case "paravirt":
		return Paravirt, nil
	}
	return Native, fmt.Errorf("pvlock: unknown mode %q: want \"native\" or \"paravirt\"", s)
}
