package barrier

// StallPoint names a place in a slow-path operation where a test can hold
// one goroutine (builds with the pvswitch_testhooks tag only; elsewhere the
// points are empty). Enter has the first two; the lock package marks the
// others with Stall.
type StallPoint int32

const (
	// StallBeforeCount is between dispatch and count: the op has been
	// sent to a variant's slow path but is not counted yet.
	StallBeforeCount StallPoint = iota + 1
	// StallBeforeCheck is between count and the gate/state check.
	StallBeforeCheck
	// StallBeforePark is in a counted op that is about to sleep, before
	// it registers as a sleeper and checks the gate once more (pvlock's
	// paravirt waiter).
	StallBeforePark
	// StallAfterWake is in a paravirt waiter that a token woke, before it
	// leaves its registry slot (and learns whether a switch evicted it).
	StallAfterWake
)
