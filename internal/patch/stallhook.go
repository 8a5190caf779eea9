//go:build linux && amd64 && pvswitch_stall

package patch

// SetArmedHook sets a function that runs inside the next switches'
// windows once INT3 is on every site of the batch and every core is
// synced, before the commit: while it runs, every execution of a batch
// site traps and the handler emulates the OLD variant. nil removes it.
// With int3.StallArm, tests of any package of the module can hold a
// handler with an old descriptor across the commit. The hook runs pinned
// to a P: it must not block or wait for a goroutine that needs this P
// (yield with a raw sched_yield, bound every wait). Test hook: only in
// builds with the pvswitch_stall tag.
func SetArmedHook(f func()) { hookArmed = f }
