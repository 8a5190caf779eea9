package pvlock

import (
	"fmt"
	"log"
	"os"
)

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

// EnvMode is the environment variable read once at start to choose the
// process-wide mode: "native" or "paravirt". Unset or empty means Native.
const EnvMode = "PVLOCK_MODE"

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

func init() {
	setup(modeFromEnv(os.LookupEnv, log.Printf), os.Getenv(EnvPatch), log.Printf)
}

// modeFromEnv reads EnvMode; an invalid value is reported with logf and the
// default is used.
func modeFromEnv(lookup func(string) (string, bool), logf func(string, ...any)) Mode {
	s, ok := lookup(EnvMode)
	if !ok || s == "" {
		return Native
	}
	m, err := ParseMode(s)
	if err != nil {
		logf("%v; %s=%q ignored, using %v", err, EnvMode, s, Native)
		return Native
	}
	return m
}
