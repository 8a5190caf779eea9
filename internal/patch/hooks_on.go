//go:build pvswitch_testhooks

package patch

import "syscall"

// The test hooks of the window (build tag pvswitch_testhooks). Tests set
// them between switches, never during one.
var (
	inject    func(step string, i int) syscall.Errno
	hookArmed func()
)

// injected returns the error injected at step (for site i of the batch),
// or 0.
func injected(step string, i int) syscall.Errno {
	if inject != nil {
		return inject(step, i)
	}
	return 0
}

func armedHook() {
	if hookArmed != nil {
		hookArmed()
	}
}

// SetInject makes the window's writes and membarriers fail: f is asked
// at each step ("int3", "sync1", "tails", "sync2", "first", "sync3",
// "restore") with the index of the site in the sorted batch, and a
// non-zero errno is returned as that step's failure. nil removes it.
// Test hook: only in builds with the pvswitch_testhooks tag.
func SetInject(f func(step string, i int) syscall.Errno) { inject = f }

// SetArmedHook sets a function that runs inside the next switches'
// windows once INT3 is on every site of the batch and every core is
// synced, before the commit: while it runs, every execution of a batch
// site traps and the handler emulates the OLD variant. nil removes it.
// With int3.StallArm, tests of any package of the module can hold a
// handler with an old descriptor across the commit. The hook runs pinned
// to a P: it must not block or wait for a goroutine that needs this P
// (yield with a raw sched_yield, bound every wait). Test hook: only in
// builds with the pvswitch_testhooks tag.
func SetArmedHook(f func()) { hookArmed = f }
