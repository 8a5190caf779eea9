// Package pvlock provides SpinLock, a spinlock with two variants on one lock
// word: a native variant (fastest while every thread has a CPU) and a
// paravirtual variant (bounded spin, then park through the Go scheduler;
// robust when threads are preempted, as in an overcommitted VM or a container
// under a CPU quota). A lock taken under one variant is released correctly
// under the other, except for the one pair marked below.
//
// # The lock word
//
// A SpinLock is two 32-bit words: key, the lock word both variants read and
// write, and sema, the runtime semaphore's count on which paravirt waiters
// park. Every bit either variant sets lives in the low byte of key, the byte
// the native release clears; the upper three bytes are always zero.
//
//	key, low byte:  7 6 5 4 3 2 1 0
//	               +-+-+-+-+-+-+-+-+
//	               |0 0 0 0 0|H|P|L|    L = locked, P = parked (waiters may sleep on sema),
//	               +-+-+-+-+-+-+-+-+    H = handoff (a starving waiter asks for the lock)
//
//	value  name           meaning
//	0      free           nobody holds the lock
//	1      locked         held; no waiter has parked since it was taken
//	3      lockedParked   held; a paravirt waiter has parked or is about to,
//	                      and the release must kick it (qspinlock's _Q_SLOW_VAL)
//	7      lockedHandoff  as 3, and a waiter has waited 1 ms or more: the
//	                      release must hand the lock to a sleeper
//	4      reserved       not held, handed to the sleeper the release kicked:
//	                      only a woken sleeper's XCHG takes it
//
// P is never set without L: a waiter marks the word only while it is held,
// and a waiter that finds it free takes it instead. H is set only by a
// waiter going back to sleep, which withdraws it when it takes the lock or
// backs out of a switch, so a reserved word always has a sleeper to take it.
//
// # Transitions
//
//	path                              from -> to                      how
//	acquire fast path (both)          0 -> 1                          LOCK CMPXCHG
//	TryLock (both)                    0 -> 1                          LOCK CMPXCHG
//	native waiter                     0 -> 1                          read-only spin (TTAS), then CMPXCHG
//	paravirt waiter, before sleeping  0 -> 1, 1 -> 3                  CMPXCHG
//	paravirt waiter, after sleeping   0|4 -> 3 (acquire), 1|3|7 -> 3  XCHG (Drepper's mutex 3)
//	  ... having waited 1 ms          0|4 -> 7 -> 3 (acquire),        XCHG, then CMPXCHG 7 -> 3
//	                                  1|3|7 -> 7
//	paravirt waiter backing out       7 -> 3, 4 -> 0                  CMPXCHG
//	native release                    1 -> 0, 3|7 -> 0 (!)            plain MOVL $0
//	paravirt release                  1 -> 0                          LOCK CMPXCHG
//	paravirt release, slow            3 -> 0, then kick one sleeper   CMPXCHG, runtime semaphore
//	paravirt release, handoff         7 -> 4, then hand the sleeper   CMPXCHG, runtime semaphore
//	                                  the token (and the P)           with handoff
//
// (!) The one unsafe pair: a native release over lockedParked clears the mark
// without kicking, so a parked paravirt waiter is never woken (a lost wakeup).
// Every other combination is safe: the paravirt release of a word the native
// variant took sees 1 and clears it; a native waiter spins on any held value.
// Within one process mode that pair never occurs (native waiters never park).
// Across a live switch from paravirt to native it is what the switch barrier
// must rule out: no paravirt slow path may be in flight when native releases
// take over.
//
// A waiter that has slept once acquires by swapping in 3, never by 0 -> 1:
// other waiters may still be asleep, and only a release that sees 3 wakes one
// (Drepper, "Futexes Are Tricky", mutex 3).
//
// # What each variant promises a waiter
//
// Paravirt: bounded waiting. A waiter that has waited 1 ms asks for a
// handoff, and from then on every release hands the lock to a sleeper, the
// longest waiter first (a woken waiter that must sleep again goes to the
// front of the semaphore's queue), so a goroutine that re-takes the lock at
// once cannot shut the others out (TestFairness: the shape of Go's
// TestMutexFairness, a few milliseconds' wait at most; sync.Mutex's
// starvation mode makes the same trade). A fast path can still barge in
// ahead of a waiter that has waited less than 1 ms.
//
// Native: progress for the lock as a whole, not for each waiter. A waiter
// reads the word every 64 PAUSEs at first, backing off to every 256 (about
// 1.6 to 6.4 us on the reference VM, longer where PAUSE is slower), and
// takes it when it sees it free, so it gets the lock whenever the holder
// leaves it free for longer than that (TestStarvation); a holder that releases and re-takes the lock
// at once can keep a native waiter out indefinitely, as with any
// test-and-test-and-set lock. Across a switch, a waiter that has waited
// under one variant keeps none of its standing under the other.
//
// # Go's rules the code obeys
//
// Spin loops in assembly are bounded (a few microseconds of PAUSE) and return
// to Go code that passes a real preemption point, so a garbage collector's
// stop-the-world never waits on a spinner. Waiters park only through the Go
// scheduler (the runtime semaphore), never with a raw futex that would block a
// thread behind the scheduler's back. No path allocates.
//
// # The backstop
//
// Correct code never loses a wakeup. In case it does, a monitor goroutine
// watches parked paravirt waiters in a bounded registry and wakes a waiter
// that has slept for 10 ms or more on a free lock word while no kick for that
// lock is in flight; each such wakeup counts as a rescue in ReadStats. Every
// test in this repository asserts that rescues stay zero.
//
// # Modes and the live switch
//
// The process-wide start mode is chosen once at start: PVLOCK_MODE
// ("native" or "paravirt") forces it; unset, it comes from the hypervisor's
// CPUID hints as Linux's kvm_spinlock_init decides (no hypervisor or KVM's
// KVM_HINTS_REALTIME: native; any other hypervisor: paravirt; Hypervisor
// in Status says which rule decided); "auto" takes the hints' mode and
// starts the auto policy (StartAuto), which switches by itself when the
// CPUs become oversubscribed and back when they are free; an invalid value
// is logged and native is used. The mode can be changed at any time, while
// locks are in use, with Switch; CurrentMode reports it and ReadStatus
// describes the mechanism and the switches so far.
//
// The two places where the variants differ, the release and the slow-path
// entry of acquire, are patchable one-instruction sites (sites.go; package
// internal/asm declares them, package internal/patch rewrites them with the
// INT3 protocol); Sites describes them. No fast path reads a mode flag: the
// code is the mode. The binary is built with the paravirt variants; at
// start, if the chosen mode is native, the sites are rewritten once.
//
// A switch closes a gate, to native evicts the paravirt waiters that sleep
// (takes them out of its count itself; they wake once it commits and re-run
// the lock as native waiters; evict.go), waits until no paravirt waiter that has
// marked a lock word is left (native waiters only ever write 0 -> 1 and are
// never waited for; package internal/barrier explains why that is enough),
// rewrites both sites in one short window, publishes the mode and opens the
// gate. Waiters that reach the closed gate wait there asleep, still taking
// a lock that becomes free. If the drain does not finish within a strict
// bound (DefaultDrainBound, SetDrainBound) or the context ends, nothing is
// written and Switch returns an error matching ErrBusy. Where the sites cannot be patched (no
// membarrier SYNC_CORE, no way to write text, not linux/amd64), or where
// PVLOCK_PATCH=off asks for it, Switch works by dispatch instead: the
// slow-path entry reads the published mode under the same barrier and
// Unlock keeps the paravirt release, which is correct in both modes;
// ReadStatus and a log line at start say so.
//
// # Neighbours
//
// A process that switches shares its code with tools that may touch it:
//
//   - Debuggers. Switch refuses while a tracer is attached (TracerPid), with
//     an error saying how to allow it: PVSWITCH_ALLOW_TRACER=1, and make
//     the debugger pass SIGTRAP without stopping. For gdb:
//
//     PVSWITCH_ALLOW_TRACER=1 gdb -ex 'handle SIGTRAP nostop noprint pass' -ex run --args ./prog
//
//     With gdb's default for SIGTRAP (stop, do not pass), a thread that hit
//     a switch's INT3 dies with SIGILL when continued.
//
//   - Uprobes (perf probe, bpftrace, tracefs uprobe_events). A uprobe on
//     pvlock.release or pvlock.lockSlowEntry makes the kernel run the
//     instruction of the binary file there (the paravirt variant), which
//     the lock tolerates in either mode; Switch refuses while the uprobe
//     is there, naming it. Do not remove such a uprobe from a running
//     process that switched to native: the kernel puts back the file's
//     first byte over the native store. Put uprobes elsewhere.
//
//   - cgo and signal masks. A thread that blocks SIGTRAP is killed by the
//     kernel if it runs a lock op during a switch; Switch refuses while a
//     thread blocks it, naming the thread (tid and name). C code must not
//     leave SIGTRAP blocked on a thread that returns to Go or calls into
//     Go, and must not block every signal around a call into Go. A thread
//     that blocks SIGTRAP only after Switch checked is not seen.
//
//   - Hardened kernels. Where code cannot be written (no /proc/self/mem
//     writes and a memory-deny-write-execute policy, prctl PR_SET_MDWE; a
//     seccomp filter denying membarrier), pvlock uses the dispatch
//     fallback from the start. If writes become impossible later, a switch
//     moves to dispatch when the sites hold the paravirt variants, and one
//     log line and ReadStatus say why; if they hold the native variants,
//     the process stays native and every Switch returns an error matching
//     ErrSwitchDisabled, also in ReadStatus().Why.
//
//   - Do not install a SIGTRAP handler (signal.Notify(SIGTRAP) is fine):
//     Switch refuses while the handler is not pvswitch's, and a handler
//     installed during a switch's window kills a thread that traps there.
//
// # Misuse
//
// Unlocking an unlocked SpinLock is a fatal error naming pvlock under the
// paravirt variant (its compare-and-swap release sees the word is not held)
// and in race-detector builds. The native release is one plain store and
// cannot detect it: under native, unlocking an unlocked lock is silently a
// no-op, and unlocking a lock another goroutine holds releases it.
package pvlock
