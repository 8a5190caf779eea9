#include "textflag.h"

// pausesPerRead is how many PAUSEs a waiter waits between two reads of the
// lock word (about 200 ns). Reading it after every PAUSE kept pulling the
// holder's cache line into the shared state, so the holder's own accesses
// (its release, its next acquire) paid a transfer each: with 2 goroutines
// contending, 8 PAUSEs per read halved the time per critical section for
// both variants (pvlock benchmarks, reference VM).
#define pausesPerRead 8

// func spinWait(key *uint32, n uint32) bool
//
// Spins read-only (test-and-test-and-set) until the low byte of *key is
// free (0) or about n PAUSEs have passed; reports whether it saw the word
// free. Bounded, so the goroutine comes back to Go code and a preemption
// point.
//
// DI = key, CX = PAUSEs left.
TEXT ·spinWait(SB), NOSPLIT|NOFRAME, $0-17
	MOVQ	key+0(FP), DI
	MOVL	n+8(FP), CX

check:
	// A plain load: on x86 it is ordered with the later LOCK CMPXCHG.
	CMPB	(DI), $0
	JEQ	saw_free
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	SUBL	$pausesPerRead, CX
	JA	check
	MOVB	$0, ret+16(FP)
	RET

saw_free:
	MOVB	$1, ret+16(FP)
	RET

// func storeFree(key *uint32)
//
// The native release: one plain 32-bit store of 0 to the lock word (its upper
// bytes are always 0). 32-bit, not a byte: a byte store followed by the next
// acquire's 32-bit LOCK CMPXCHG on the same word defeats store forwarding
// and measured ~2 ns slower per Lock/Unlock pair. On x86 (TSO) a store is not reordered with earlier loads or stores,
// so it publishes the critical section's writes; it needs no LOCK prefix.
// Written in assembly so that the Go compiler cannot move memory accesses
// across it.
//
// DI = key.
TEXT ·storeFree(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ	key+0(FP), DI
	MOVL	$0, (DI)
	RET
