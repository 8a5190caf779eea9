//go:build pvswitch_testhooks

package fault

import (
	"fmt"
	"os"
	"strings"
)

// Hooks reports whether this build has test hooks and fault injection
// (build tag pvswitch_testhooks).
const Hooks = true

// active is the set of active faults, one bit per Fault; written once,
// before any other package's init can read it.
var active uint32

func init() {
	s := os.Getenv(Env)
	if s == "" {
		return
	}
	for _, n := range strings.Split(s, ",") {
		f, ok := Parse(strings.TrimSpace(n))
		if !ok {
			fmt.Fprintf(os.Stderr, "fault: %s=%q: unknown fault %q; known: %s\n", Env, s, n, strings.Join(Names(), ", "))
			os.Exit(2)
		}
		active |= 1 << f
	}
	fmt.Fprintf(os.Stderr, "fault: injecting %s: a protection of the live switch is removed (test build)\n", s)
}

// Active reports whether f was activated by PVSWITCH_FAULTS.
func Active(f Fault) bool { return active&(1<<f) != 0 }
