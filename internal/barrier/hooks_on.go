//go:build pvswitch_testhooks

package barrier

import "sync/atomic"

var (
	stallArmed   atomic.Int32 // the armed StallPoint, 0 when none
	stallHit     chan struct{}
	stallRelease chan struct{}
)

// ArmStall arranges for the next goroutine that reaches p to stop there. It
// returns a channel closed when one has stopped, and a function that lets it
// go on. Only one stall may be armed at a time. Test builds only.
func ArmStall(p StallPoint) (hit <-chan struct{}, release func()) {
	stallHit = make(chan struct{})
	stallRelease = make(chan struct{})
	rel := stallRelease
	stallArmed.Store(int32(p))
	return stallHit, func() { close(rel) }
}

// DisarmStall cancels an armed stall that nobody reached.
func DisarmStall() { stallArmed.Store(0) }

// Stall holds the calling goroutine at p if a test armed p (ArmStall).
// Test builds only; in other builds it is an empty function.
func Stall(p StallPoint) {
	if stallArmed.Load() == int32(p) && stallArmed.CompareAndSwap(int32(p), 0) {
		close(stallHit)
		<-stallRelease
	}
}
