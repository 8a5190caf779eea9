// Package int3 is the SIGTRAP handler that emulates, in assembly, the
// current variant of a code site a thread trapped on while package patch
// rewrites it.
//
// # What the handler does
//
// Install replaces SIGTRAP's action once, with raw rt_sigaction
// (SA_SIGINFO|SA_ONSTACK|SA_RESTORER|SA_RESTART as Go's own handlers, all
// signals blocked while it runs, restorer = rt_sigreturn), keeping the
// replaced handler (the Go runtime's). On a trap (handler_amd64.s):
//
//	foreign?  si_code != SI_KERNEL, or neither RIP-1 nor RIP (a debugger rewound the PC)
//	          is a registered site -> jump to the replaced handler with DI, SI, DX and
//	          the stack untouched
//	count     LOCK INC of a handlers-in-flight shard picked from SP, kept in a register
//	decide    first byte of the site: 0xCC -> emulate; a variant's first byte (variants
//	          may share one, e.g. a DS prefix 0x3E) -> late trap: resume at the site
//	          (RIP = site), emulating nothing; else foreign
//	load      the current descriptor: entry.state = gen<<16|new<<8|old, new iff commitGen >= gen
//	emulate   store: one store of the declared width to [reg from ucontext + disp],
//	          or, below 4096, RIP = a stub in Go text that faults on the same register
//	          (Go reports the nil dereference); JMP: RIP = target; CALL: push the
//	          site's end on the interrupted stack, RIP = target; NOP: RIP = site end.
//	          The site's end is site+Len from the descriptor, never site+5: a
//	          JMP/CALL variant may carry DS prefixes (asm: Len 5..9)
//	uncount   LOCK DEC of the same shard
//
// # Invariants
//
//   - The site table is immutable and published by one atomic pointer store;
//     every table and every entry and descriptor ever published stays
//     reachable forever (a handler may hold a pointer in a register).
//   - The count is raised before the descriptor is loaded, so WaitHandlers
//     after a Commit outlasts every handler that may act on an old one.
//   - A handler decides once, before any effect: emulate, or resume at the
//     site, never both (that would run a release twice).
//   - Runtime.Breakpoint and every other foreign SIGTRAP reach the Go
//     runtime exactly as before ("SIGTRAP: trace trap").
//   - Owned tells, with one raw rt_sigaction query and no allocation,
//     whether the handler is still the installed one; package patch asks
//     at every step of its pinned window.
//   - A thread that blocks SIGTRAP cannot be helped: the kernel kills the
//     process on its INT3 without running any handler. Package patch
//     refuses to switch while one does.
//
// # Debuggers: the rewound PC
//
// A debugger sees every SIGTRAP before the handler does. gdb takes an
// SI_KERNEL trap for a breakpoint and rewinds the PC by one, to the INT3
// byte, before it passes the signal on (handle SIGTRAP nostop noprint
// pass): the handler then gets RIP = the site, not site+1. So when RIP-1
// is no site it looks RIP up once more; a hit is handled exactly like a
// trap on that site (0xCC there: emulate; a variant's first byte: resume
// at the site), and counted by Rewound. It never emulates twice: the
// debugger stopped the thread before any handler ran, and a thread that
// trapped on a site has not executed it. The two lookups cannot both hit,
// since sites are at least 2 bytes long and never overlap. What the
// rewound lookup would misread is an INT3 executed at the byte just before
// a site: no generated code holds one there (that byte ends a longer
// instruction, or is inter-function padding, INT3 bytes Go's linker
// places after a function's last instruction, which never run), and a
// debugger handles its own breakpoints and does not pass their traps on.
//
// With plain "continue" (gdb's default: stop on SIGTRAP, do not pass it),
// gdb resumes the thread after the INT3 without delivering the signal, in
// the middle of the site's instruction: SIGILL. Nothing in the process
// runs in between, so nothing can repair it: the signal must be passed.
//
// # Never
//
// The handler never touches the Go stack or g, allocates, locks, calls Go,
// makes a syscall, or does a read-modify-write where a store was declared.
//
// # Test hook
//
// With the build tag pvswitch_testhooks, a handler whose site was armed with
// StallArm stops between loading its descriptor and emulating, counts
// itself in Stalled and spins (PAUSE) until StallRelease or about 3 s of
// TSC ticks. Tests of any package of the module can use it. Normal builds
// contain no trace of it.
//
// Measured on this project's 2-vCPU KVM guest: the handler's own work is
// ~5 ns (BenchmarkHandlerOnly, one registered site; 516 sites add ~9
// search steps); a whole emulated trap, with the kernel's signal delivery
// and sigreturn, 2.5-2.7 us (patch.BenchmarkTrap).
package int3
