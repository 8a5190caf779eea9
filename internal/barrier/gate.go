package barrier

import (
	"sync/atomic"
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/fault"
)

// closeGate closes the gate with XCHG (Go's atomic Swap on amd64), a full
// fence: the switcher's later reads of the count cannot pass it. Under the
// fault PlainGate (test builds only) it is a plain MOV instead, which x86
// may hold in the store buffer while those reads run: the reordering the
// XCHG exists to forbid (TestStoreBufferLitmus).
func closeGate(g *atomic.Uint32) {
	if fault.Active(fault.PlainGate) {
		storePlain((*uint32)(unsafe.Pointer(g)), closed)
		return
	}
	g.Swap(closed)
}
