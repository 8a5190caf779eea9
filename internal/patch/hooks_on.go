//go:build pvswitch_testhooks

package patch

import (
	"sync/atomic"
	"syscall"
)

// The test hooks of the window (build tag pvswitch_testhooks). Atomic, so
// that a test may remove a hook while a window runs it (the window reads
// each once per use).
var (
	inject    atomic.Pointer[func(step string, i int) syscall.Errno]
	hookArmed atomic.Pointer[func()]
)

// injected returns the error injected at step (for site i of the batch),
// or 0.
func injected(step string, i int) syscall.Errno {
	if f := inject.Load(); f != nil {
		return (*f)(step, i)
	}
	return 0
}

func armedHook() {
	if f := hookArmed.Load(); f != nil {
		(*f)()
	}
}

// SetInject makes the window's writes and membarriers fail: f is asked
// at each step ("int3", "sync1", "tails", "sync2", "first",
// "restore") with the index of the site in the sorted batch, and a
// non-zero errno is returned as that step's failure. nil removes it.
// Test hook: only in builds with the pvswitch_testhooks tag.
func SetInject(f func(step string, i int) syscall.Errno) {
	if f == nil {
		inject.Store(nil)
		return
	}
	inject.Store(&f)
}

// SetArmedHook sets a function that runs inside the next switches'
// windows once INT3 is on every site of the batch and every core is
// synced, before the commit: while it runs, every execution of a batch
// site traps and the handler emulates the OLD variant. nil removes it.
// With int3.StallArm, tests of any package of the module can hold a
// handler with an old descriptor across the commit. The hook runs pinned
// to a P: it must not block or wait for a goroutine that needs this P
// (yield with a raw sched_yield, bound every wait). Test hook: only in
// builds with the pvswitch_testhooks tag.
func SetArmedHook(f func()) {
	if f == nil {
		hookArmed.Store(nil)
		return
	}
	hookArmed.Store(&f)
}
