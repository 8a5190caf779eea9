//go:build pvswitch_wrongshard

package barrier

import "github.com/pvswitch/pvswitch/internal/shard"

// Fault injection: Exit decrements a shard other than the one Enter
// incremented, as code that asked for the current P's shard would after a
// migration.

const drainSkipped = false
const validateSkipped = false

func exitShard(i int) int { return (i + 1) % shard.Shards() }
