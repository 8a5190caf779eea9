//go:build pvswitch_novalidate

package barrier

// Fault injection: Enter does not check the gate and the published state
// after counting, so an op that dispatched to the old variant before a
// switch and counted after it runs the old slow path.

const drainSkipped = false
const validateSkipped = true

func exitShard(i int) int { return i }
