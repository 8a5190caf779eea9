//go:build !pvswitch_nodrain && !pvswitch_wrongshard && !pvswitch_novalidate

package barrier

// The protections, as built normally. Each fault-injection build tag
// (fault_*.go) removes exactly one of them, so that a test can show it is
// needed; see TestFault* in package pvlock and .ci/faults.

// drainSkipped: Drain waits for the count (pvswitch_nodrain skips it).
const drainSkipped = false

// validateSkipped: Enter checks the gate and the state after counting
// (pvswitch_novalidate skips the check).
const validateSkipped = false

// exitShard: Exit decrements the shard Enter incremented
// (pvswitch_wrongshard decrements another one).
func exitShard(i int) int { return i }
