#include "textflag.h"

// func storePlain(p *uint32, v uint32)
// DI = p, AX = v. One plain MOVL: no LOCK, no fence.
TEXT ·storePlain(SB), NOSPLIT|NOFRAME, $0-12
	MOVQ	p+0(FP), DI
	MOVL	v+8(FP), AX
	MOVL	AX, (DI)
	RET
