#include "textflag.h"

// maxPauses bounds one call's spin: about 0.8 us at ~25 ns per PAUSE.
#define maxPauses 32

// func tryAcquire(key *uint32) bool
//
// DI = key, CX = PAUSEs left, AX = expected old value for CMPXCHG, DX = 1.
TEXT ·tryAcquire(SB), NOSPLIT|NOFRAME, $0-9
	MOVQ	key+0(FP), DI
	MOVL	$maxPauses, CX

try:
	// The uncontended case: take it at once.
	XORL	AX, AX
	MOVL	$1, DX
	LOCK
	CMPXCHGL	DX, (DI)
	JEQ	acquired

spin:
	// Read-only until the word looks free, at most CX PAUSEs, reading
	// the word every 8 PAUSEs as pvlock's waiters do.
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	PAUSE
	SUBL	$8, CX
	JBE	give_up
	CMPL	(DI), $0
	JNE	spin
	JMP	try

acquired:
	MOVB	$1, ret+8(FP)
	RET

give_up:
	MOVB	$0, ret+8(FP)
	RET

// func release(key *uint32)
//
// DI = key. One plain store: x86 does not reorder it with earlier accesses.
TEXT ·release(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ	key+0(FP), DI
	MOVL	$0, (DI)
	RET
