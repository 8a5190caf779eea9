package barrier

// StallPoint names a place in Enter where a test can hold one goroutine
// (builds with the pvswitch_testhooks tag only; elsewhere the points are empty).
type StallPoint int32

const (
	// StallBeforeCount is between dispatch and count: the op has been
	// sent to a variant's slow path but is not counted yet.
	StallBeforeCount StallPoint = iota + 1
	// StallBeforeCheck is between count and the gate/state check.
	StallBeforeCheck
)
