// Package shard provides counters split into one cache line per P, so that
// hot-path statistics and the switch barrier's counts cost a locked add on a
// line that other Ps rarely touch instead of a fight over one shared word.
//
// Invariants:
//   - Every increment and decrement is a LOCK-prefixed read-modify-write
//     (sync/atomic), never a plain add: a goroutine that counted itself on one
//     P may leave from another P, and then it decrements the shard it
//     recorded, concurrently with that shard's new owner (internal/barrier
//     explains why the barrier needs exactly that).
//   - A shard index stays valid for the life of the process: the number of
//     shards is fixed at init from the CPU count and GOMAXPROCS, and an index
//     is taken modulo that number.
//   - Sum reads every shard once; it is exact only when the caller has made
//     the counter quiescent (for example, behind the barrier's closed gate).
//
// The package never blocks and never allocates after init.
package shard
