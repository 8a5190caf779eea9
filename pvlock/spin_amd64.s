#include "textflag.h"

// func spinWait(key *uint32, n, every uint32) bool
//
// Spins read-only (test-and-test-and-set) until the low byte of *key is
// free (0) or about n PAUSEs have passed, reading the word once every
// `every` PAUSEs; reports whether it saw the word free. Bounded, so the
// goroutine comes back to Go code and a preemption point. Why a waiter
// reads so seldom (spin.go, pausesPerRead): every read pulls the holder's
// cache line into the shared state, and the holder's next write to it (its
// release, its next acquire) then pays a transfer.
//
// DI = key, CX = PAUSEs left in the call, DX = every (>= 1),
// BX = PAUSEs left before the next read.
TEXT ·spinWait(SB), NOSPLIT|NOFRAME, $0-17
	MOVQ	key+0(FP), DI
	MOVL	n+8(FP), CX
	MOVL	every+12(FP), DX
	TESTL	DX, DX
	JNE	check
	MOVL	$1, DX // every = 0 would spin 2^32 PAUSEs per read

check:
	// A plain load: on x86 it is ordered with the later LOCK CMPXCHG.
	CMPB	(DI), $0
	JEQ	saw_free
	MOVL	DX, BX

pause:
	PAUSE
	DECL	BX
	JNZ	pause
	SUBL	DX, CX
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
