//go:build linux

#include "textflag.h"

// func poke(dst, src, n uintptr)
// Byte copy into text made writable by mprotect. In assembly so that the
// race detector does not instrument stores to code addresses.
TEXT ·poke(SB), NOSPLIT, $0-24
	MOVQ	dst+0(FP), DI
	MOVQ	src+8(FP), SI
	MOVQ	n+16(FP), CX
	CLD
	REP; MOVSB
	RET
