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

//go:noescape
func storePlain(p *uint32, v uint32)
