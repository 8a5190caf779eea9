//go:build !pvswitch_testhooks

package fault

// Hooks reports whether this build has test hooks and fault injection
// (build tag pvswitch_testhooks).
const Hooks = false

// Active reports whether f is active: never, in this build. The call
// inlines to false, and the code it guards compiles away.
func Active(Fault) bool { return false }
