package ttas

// tryAcquire spins (read-only, PAUSE) for a bounded time and then tries one
// CMPXCHG 0 -> 1; it reports whether it took the lock. In assembly.
//
//go:noescape
func tryAcquire(key *uint32) bool

// release stores 0 to the lock word's low byte with one plain MOVL (32-bit, like pvlock's native release).
//
//go:noescape
func release(key *uint32)
