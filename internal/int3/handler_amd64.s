//go:build linux

#include "textflag.h"
#include "go_asm.h"

// Offsets into the kernel's signal frame (x86-64), from the constants of
// int3_linux_amd64.go where their sources are cited: siginfo_t.si_code
// (8), and the interrupted RSP (0xa0) and RIP (0xa8) in
// ucontext_t.uc_mcontext.gregs.
#define SI_CODE const_siCode
#define UC_RSP const_ucRSP
#define UC_RIP const_ucRIP
// A stall has run this long (in TSC ticks, ~2-4 s at 2-4 GHz) before the
// test hook (build tag pvswitch_testhooks) gives up and lets the handler
// continue.
#define STALL_TSC_BOUND 10000000000

// handler is the SIGTRAP handler. The kernel calls it with the C ABI on
// the thread's signal stack (SA_ONSTACK): DI = signal number, SI =
// *siginfo, DX = *ucontext, all signals blocked (sa_mask). It cannot be Go:
// it runs on whatever thread hit an INT3, with no g, at a point where the
// GC and the scheduler expect nothing to run, so it never touches the Go
// stack, allocates, locks, or calls Go. It returns to the restorer, whose
// rt_sigreturn reloads every register from the ucontext, so it may use any
// register; on the foreign path DI, SI, DX and SP must be as they came.
//
// An INT3 on a registered site is emulated: the site's current descriptor
// is performed here (store, JMP, CALL, NOP). Every other trap goes to the
// handler we replaced, untouched.
TEXT ·handler(SB), NOSPLIT|NOFRAME, $0
	// Is it an INT3 (si_code SI_KERNEL)? A SIGTRAP sent by kill or a
	// single step is not ours.
	MOVL	SI_CODE(SI), AX
	CMPL	AX, $const_siKernel
	JNE	foreign

	// R8 = address of the INT3 byte = the site, if it is one (RIP points
	// after the INT3). R14 = 0: this is the first lookup, at RIP-1.
	MOVQ	UC_RIP(DX), R8
	DECQ	R8
	XORQ	R14, R14

	// Binary search the published table (one atomic pointer, immutable
	// contents): R9 = *siteTable, R10 = addrs base, CX = lo, R11 = hi.
	MOVQ	·sites(SB), R9
	TESTQ	R9, R9
	JEQ	foreign
lookup:
	MOVQ	siteTable_addrs(R9), R10
	MOVQ	(siteTable_addrs+8)(R9), R11
	XORQ	CX, CX
search:
	CMPQ	CX, R11
	JCC	not_a_site              // lo >= hi: not a site
	LEAQ	(CX)(R11*1), AX
	SHRQ	$1, AX                  // AX = mid
	MOVQ	(R10)(AX*8), BX
	CMPQ	BX, R8
	JEQ	found_site
	JHI	search_lower            // addrs[mid] > site
	LEAQ	1(AX), CX               // lo = mid+1
	JMP	search
search_lower:
	MOVQ	AX, R11                 // hi = mid
	JMP	search

not_a_site:
	// RIP-1 is no site. A debugger that stopped the thread on our INT3
	// rewinds the PC to the INT3 byte before it passes the signal on (gdb
	// does, for every SI_KERNEL trap): then RIP itself is the site, and
	// the site's instruction has not run. Look RIP up once (R14 = 1).
	// Sites are at least 2 bytes long and never overlap, so RIP-1 and RIP
	// are never both sites; a genuine INT3 ending exactly at a site would
	// have to be a one-byte instruction that is no part of the generated
	// code (see the package doc). Whatever the lookup finds, the decision
	// below is the same: 0xCC -> emulate (once: the trap has not reached
	// us before), a variant's first byte -> resume at the site.
	TESTQ	R14, R14
	JNE	foreign
	INCQ	R8
	MOVQ	$1, R14
	JMP	lookup

found_site:
	// R9 = *entry for the site.
	MOVQ	siteTable_ents(R9), R10
	MOVQ	(R10)(AX*8), R9
	// Count a rewound trap (R14 = 1; R14 is free again after this).
	TESTQ	R14, R14
	JEQ	counted_rewound
	LOCK
	INCQ	·rewound(SB)
counted_rewound:

	// Count this handler in flight BEFORE reading anything the patcher
	// changes: R12 = byte offset of our shard (picked from the signal
	// stack, i.e. per thread), R13 = its address. Both stay in registers
	// until the matching decrement: the thread may migrate meanwhile.
	MOVQ	SP, R12
	SHRQ	$const_spShift, R12
	ANDQ	$(const_nShards-1), R12
	SHLQ	$const_shardLog, R12
	LEAQ	·inflight(SB), R13
	ADDQ	R12, R13
	LOCK
	INCQ	(R13)

	// Decide once, before any effect: the site's first byte is INT3 ->
	// emulate; it is a variant's first byte -> a late trap, the site was
	// rewritten since the INT3 fired: resume at the site.
	MOVBLZX	(R8), AX
	CMPL	AX, $const_opInt3
	JNE	not_int3_now

	// Load the current descriptor: R10 = *desc. entry.state holds
	// gen<<16 | new<<8 | old; the new variant is current once commitGen >= gen.
	MOVQ	·commitGen(SB), CX
	MOVQ	entry_state(R9), AX
	MOVQ	AX, BX
	SHRQ	$const_stateGen, BX
	CMPQ	CX, BX
	JCC	use_new
	ANDQ	$0xff, AX
	JMP	have_variant
use_new:
	SHRQ	$8, AX
	ANDQ	$0xff, AX
have_variant:
	MOVQ	entry_descs(R9)(AX*8), R10

#ifdef const_stallHook
	// Test hook (build tag pvswitch_testhooks): a handler for the armed site
	// stalls here, holding the descriptor it loaded, until released or
	// for a bounded time. R14 keeps DX (RDTSC clobbers it), R15 the start.
	CMPQ	·stallSite(SB), R8
	JNE	stall_done
	LOCK
	INCQ	·stallCount(SB)
	MOVQ	DX, R14
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, R15
stall_spin:
	PAUSE
	CMPQ	·stallRelease(SB), $0
	JNE	stall_restore
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	SUBQ	R15, AX
	MOVQ	$STALL_TSC_BOUND, BX
	CMPQ	AX, BX
	JCS	stall_spin
stall_restore:
	MOVQ	R14, DX
stall_done:
#endif

	// Count the trap for the site (sharded): BX = trap shard offset.
	MOVQ	R12, BX
	ANDQ	$((const_trapShard-1)<<const_shardLog), BX
	LEAQ	entry_traps(R9), R11
	LOCK
	INCQ	(R11)(BX*1)

	MOVQ	desc_Kind(R10), AX
	CMPQ	AX, $const_kindStore
	JEQ	emulate_store
	CMPQ	AX, $const_kindJmp
	JEQ	emulate_jmp
	CMPQ	AX, $const_kindCall
	JEQ	emulate_call

	// NOP: continue after the site.
	MOVQ	desc_Len(R10), AX
	ADDQ	R8, AX
	MOVQ	AX, UC_RIP(DX)
	JMP	done

emulate_jmp:
	// JMP: the tail call's target (the descriptor holds the absolute
	// address; the DS prefixes of a padded variant change nothing).
	MOVQ	desc_Target(R10), AX
	MOVQ	AX, UC_RIP(DX)
	JMP	done

emulate_call:
	// CALL: push the return address (the end of the site: site+Len, not
	// site+5, since a CALL variant may carry DS prefixes) on the
	// interrupted stack, go to the target.
	MOVQ	UC_RSP(DX), AX
	SUBQ	$8, AX
	MOVQ	desc_Len(R10), BX
	ADDQ	R8, BX
	MOVQ	BX, (AX)
	MOVQ	AX, UC_RSP(DX)
	MOVQ	desc_Target(R10), BX
	MOVQ	BX, UC_RIP(DX)
	JMP	done

emulate_store:
	// Store: AX = base register (from the ucontext) + disp; one store of
	// the declared width, never a wider read-modify-write.
	MOVQ	desc_RegOff(R10), AX
	MOVQ	(DX)(AX*1), AX
	ADDQ	desc_Disp(R10), AX
	CMPQ	AX, $const_nilLimit
	JCS	store_to_nil
	MOVQ	desc_Imm(R10), BX
	MOVQ	desc_Width(R10), CX
	CMPQ	CX, $1
	JEQ	store1
	CMPQ	CX, $2
	JEQ	store2
	CMPQ	CX, $4
	JEQ	store4
	MOVQ	BX, (AX)
	JMP	stored
store1:
	MOVB	BX, (AX)
	JMP	stored
store2:
	MOVW	BX, (AX)
	JMP	stored
store4:
	MOVL	BX, (AX)
stored:
	MOVQ	desc_Len(R10), AX
	ADDQ	R8, AX
	MOVQ	AX, UC_RIP(DX)
	JMP	done

store_to_nil:
	// A nil dereference: do not fault here (all signals are blocked, the
	// kernel would kill the process). Resume at a stub in Go text that
	// stores through the same register and faults there, so Go reports
	// the nil dereference as usual.
	MOVQ	desc_NilStub(R10), AX
	MOVQ	AX, UC_RIP(DX)

done:
	LOCK
	DECQ	(R13)
	RET

not_int3_now:
	LOCK
	DECQ	(R13)
	// A late trap if the first byte is one of the site's variants:
	// re-execute the site as it is now, emulating nothing.
	MOVQ	entry_nvar(R9), CX
	LEAQ	entry_firsts(R9), R10
late_scan:
	TESTQ	CX, CX
	JEQ	foreign
	DECQ	CX
	MOVBLZX	(R10)(CX*1), BX
	CMPL	AX, BX
	JNE	late_scan
	MOVQ	R8, UC_RIP(DX)
	RET

foreign:
	// Not ours: the replaced handler gets the trap with DI, SI, DX and
	// the stack exactly as the kernel set them.
	MOVQ	·prevHandler(SB), AX
	JMP	AX

// restorer is sa_restorer: rt_sigreturn (syscall 15 on x86-64).
TEXT ·restorer(SB), NOSPLIT|NOFRAME, $0
	MOVQ	$15, AX
	SYSCALL
	INT	$3

TEXT ·handlerAddr(SB), NOSPLIT, $0-8
	MOVQ	$·handler(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·restorerAddr(SB), NOSPLIT, $0-8
	MOVQ	$·restorer(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// Nil-store stubs, one per base register: the handler sends a store whose
// address is below 4096 here. The store faults in Go text (a frameless
// function, so the traceback continues at the site function's caller) and
// the runtime turns it into the usual nil-dereference panic. UD2 is never
// reached: nothing is mapped below 4096.
#define NILSTUB(name, reg) \
	TEXT name(SB), NOSPLIT|NOFRAME, $0-0; \
	MOVB	$0, (reg); \
	UNDEF

NILSTUB(·nilStoreAX, AX)
NILSTUB(·nilStoreCX, CX)
NILSTUB(·nilStoreDX, DX)
NILSTUB(·nilStoreBX, BX)
NILSTUB(·nilStoreSP, SP)
NILSTUB(·nilStoreBP, BP)
NILSTUB(·nilStoreSI, SI)
NILSTUB(·nilStoreDI, DI)
NILSTUB(·nilStoreR8, R8)
NILSTUB(·nilStoreR9, R9)
NILSTUB(·nilStoreR10, R10)
NILSTUB(·nilStoreR11, R11)
NILSTUB(·nilStoreR12, R12)
NILSTUB(·nilStoreR13, R13)
NILSTUB(·nilStoreR14, R14)
NILSTUB(·nilStoreR15, R15)

// nilStubs fills tab with the stubs' addresses, indexed by register number.
TEXT ·nilStubs(SB), NOSPLIT, $0-8
	MOVQ	tab+0(FP), DI
	MOVQ	$·nilStoreAX(SB), AX
	MOVQ	AX, 0(DI)
	MOVQ	$·nilStoreCX(SB), AX
	MOVQ	AX, 8(DI)
	MOVQ	$·nilStoreDX(SB), AX
	MOVQ	AX, 16(DI)
	MOVQ	$·nilStoreBX(SB), AX
	MOVQ	AX, 24(DI)
	MOVQ	$·nilStoreSP(SB), AX
	MOVQ	AX, 32(DI)
	MOVQ	$·nilStoreBP(SB), AX
	MOVQ	AX, 40(DI)
	MOVQ	$·nilStoreSI(SB), AX
	MOVQ	AX, 48(DI)
	MOVQ	$·nilStoreDI(SB), AX
	MOVQ	AX, 56(DI)
	MOVQ	$·nilStoreR8(SB), AX
	MOVQ	AX, 64(DI)
	MOVQ	$·nilStoreR9(SB), AX
	MOVQ	AX, 72(DI)
	MOVQ	$·nilStoreR10(SB), AX
	MOVQ	AX, 80(DI)
	MOVQ	$·nilStoreR11(SB), AX
	MOVQ	AX, 88(DI)
	MOVQ	$·nilStoreR12(SB), AX
	MOVQ	AX, 96(DI)
	MOVQ	$·nilStoreR13(SB), AX
	MOVQ	AX, 104(DI)
	MOVQ	$·nilStoreR14(SB), AX
	MOVQ	AX, 112(DI)
	MOVQ	$·nilStoreR15(SB), AX
	MOVQ	AX, 120(DI)
	RET

// func callHandler(sig uintptr, info, uc unsafe.Pointer)
// Calls the handler as the kernel would (C ABI), with a fake siginfo and
// ucontext, for tests of paths the handler takes without emulating or
// passing on: it must return (never reach the foreign path).
TEXT ·callHandler(SB), NOSPLIT, $0-24
	MOVQ	sig+0(FP), DI
	MOVQ	info+8(FP), SI
	MOVQ	uc+16(FP), DX
	CALL	·handler(SB)
	RET
