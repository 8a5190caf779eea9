//go:build pvswitch_plaingate

package barrier

import (
	"sync/atomic"
	"unsafe"
)

// Fault injection: the gate is closed with a plain MOV, which x86 may hold
// in the store buffer while the switcher's next loads of the count run: the
// store-buffer reordering the XCHG exists to forbid.
func closeGate(g *atomic.Uint32) { storePlain((*uint32)(unsafe.Pointer(g)), closed) }

// gateIsPlain tells the litmus test which gate store it runs against: with
// the plain store it searches longer for the forbidden outcome, which needs
// both vCPUs to run at the same instant (rarer when the host delivers one).
const gateIsPlain = true

//go:noescape
func storePlain(p *uint32, v uint32)
