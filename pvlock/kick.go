package pvlock

import (
	"sync/atomic"
	"unsafe"
)

// The kick buckets. This is correctness code, not part of the backstop: the
// paravirt release reads its bucket's waiter count, after it has cleared a
// lockedParked word, to decide whether to kick a sleeper, and a waiter
// counts itself there before it marks the word, so that read cannot miss it
// (the protocol is at unlockSlowParavirt). Only the other half, the kicks
// in flight, serves the backstop: its monitor reads it to tell a lost
// wakeup from a kick that is on its way (scan, backstop.go).
//
// Locks share a bucket by a hash of their address, so a count may belong to
// another lock of the bucket: the release then kicks a lock that nobody
// sleeps on, which leaves a token for that lock's next sleeper (a spurious
// wakeup later), never a lost one.

const (
	nBuckets = 256 // power of two; bucketIndex keeps the top 8 bits
	// cacheLine pads each bucket (and each registry slot) to a line of
	// its own, so that locks in different buckets do not share one.
	cacheLine = 64
)

// bucket holds the waiter count and the kick accounting for every lock whose
// address hashes to it.
type bucket struct {
	// waiters counts paravirt waiters of this bucket's locks from just
	// before they mark a word (1 -> 3) until they acquire. Read by the
	// release after it clears a lockedParked word.
	waiters atomic.Int32
	// evicted counts the waiters of this bucket's locks that a switch to
	// native evicted (evict.go) and that have not woken since: each is
	// owed a token on its lock's semaphore, which any sleeper of that lock
	// could take. While it is not zero no paravirt waiter of the bucket
	// sleeps (park).
	evicted atomic.Int32
	// kicks packs two counters so the monitor reads both at once:
	// high 32 bits: a sequence number of kick attempts (never decreases);
	// low 32 bits: kicks in flight, from kickBegin until the woken waiter
	// has swapped lockedParked into the word (ackKick) or the releaser
	// found nobody to kick (kickAbandon).
	kicks atomic.Uint64
	_     [cacheLine - 16]byte
}

// kickSeqOne is one step of the kick sequence number in bucket.kicks.
const kickSeqOne = 1 << 32

var buckets [nBuckets]bucket

func bucketOf(l *SpinLock) *bucket { return &buckets[bucketIndex(l)] }

func bucketIndex(l *SpinLock) int {
	// SpinLocks are 8 bytes and usually 8-aligned: drop the low bits, then
	// mix so that locks in one array spread over the buckets.
	a := uint64(uintptr(unsafe.Pointer(l))) >> 3
	a *= 0x9e3779b97f4a7c15
	return int(a >> (64 - 8))
}

// kickBegin opens a kick: the release is about to clear lockedParked. It
// bumps the sequence and the in-flight count in one add.
func (b *bucket) kickBegin() { b.kicks.Add(kickSeqOne + 1) }

// kickAbandon closes a kick that found no waiter to wake.
func (b *bucket) kickAbandon() { b.kicks.Add(^uint64(0)) } // -1 on the low half

// ackKick closes the kick that woke this waiter, once it has re-marked the
// word: from then on a lost wakeup would be visible as a free word again.
func (b *bucket) ackKick() { b.kicks.Add(^uint64(0)) }

// kicksInFlight extracts the in-flight count from a kicks word.
func kicksInFlight(k uint64) uint32 { return uint32(k) }
