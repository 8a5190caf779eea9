//go:build linux && amd64 && pvswitch_testhooks

package int3

import "sync/atomic"

// stallHook makes handler_amd64.s assemble the stall point (go_asm.h
// defines const_stallHook only in builds with the pvswitch_testhooks tag).
const stallHook = 1

// Stall hook state, read by the handler.
var stallSite, stallCount, stallRelease uint64

// StallArm makes every handler for the site at addr stall after it loaded
// its descriptor and before it emulates, until StallRelease (or a few
// seconds). Test hook: only in builds with the pvswitch_testhooks tag.
func StallArm(addr uintptr) {
	atomic.StoreUint64(&stallRelease, 0)
	atomic.StoreUint64(&stallCount, 0)
	atomic.StoreUint64(&stallSite, uint64(addr))
}

// Stalled returns how many handlers reached the stall point since StallArm.
func Stalled() uint64 { return atomic.LoadUint64(&stallCount) }

// StallRelease lets stalled handlers continue and disarms the hook.
func StallRelease() {
	atomic.StoreUint64(&stallSite, 0)
	atomic.StoreUint64(&stallRelease, 1)
}
