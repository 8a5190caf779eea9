//go:build !pvswitch_plaingate

package barrier

import "sync/atomic"

// closeGate closes the gate with XCHG (Go's atomic store on amd64), a full
// fence: the switcher's later reads of the count cannot pass it.
func closeGate(g *atomic.Uint32) { g.Swap(closed) }

// gateIsPlain tells the litmus test which gate store it runs against.
const gateIsPlain = false
