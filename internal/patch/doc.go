// Package patch switches batches of code sites (package asm) between their
// variants while other goroutines run them, with Linux's INT3 protocol
// (arch/x86/kernel/alternative.c, text_poke_bp_batch) and the trap handler
// of package int3.
//
// # Use
//
//	if err := patch.Init(); err != nil { // errors.Is(err, patch.ErrUnavailable)
//		// keep running the variants the binary was built with
//	}
//	err := patch.Switch([]patch.Change{{Site: releaseSite, Variant: 1}, {Site: slowSite, Variant: 1}})
//	v := patch.Current(releaseSite) // what the handler's descriptors say = what runs
//
// Sites of one batch may belong to different owner packages. Mechanism
// tells which text writer is in use; ReadStats and Traps give counters.
//
// One file per job: init (the handler, membarrier, registration), writer
// (how text is written), maps (/proc/self/maps), tracer, switch (the batch
// checks), window (the protocol below), stats, and hooks_on/hooks_off (the
// test hooks, empty in normal builds).
//
// # The window
//
// Switch verifies every site (its live bytes are exactly the variant the
// handler says is current, else an *asm.MismatchError naming the likely
// cause: 0xCC where no switch left one is a uprobe or a debugger's
// breakpoint, other bytes another tool; only bytes wrong at bind time
// blame the build), checks that int3's handler is still installed, that no
// tracer is attached and that no thread blocks SIGTRAP, sorts the batch by
// address, then runs one short window pinned to its P
// (runtime.procPin) with raw syscalls only (a blocking syscall while
// pinned is a fatal "stopm holding locks"):
//
//	1 publish    descriptors give the OLD variants (int3.Site.Prepare, generation g)
//	2 int3       0xCC on every site's first byte        ; SYNC_CORE
//	3 commit     int3.Commit(g): one atomic store, the commit point of the batch
//	4 tails      bytes 1..n-1 of every new variant      ; SYNC_CORE
//	5 first      first byte of every new variant        (no SYNC_CORE: below)
//	6 drain      wait until no trap handler that may hold an old descriptor
//	             runs (int3.WaitHandlers: raw sched_yield between checks)
//
// Before every INT3 write of step 2 and once more just before the commit,
// the window checks that int3's handler is still the installed SIGTRAP
// handler (int3.Owned: one raw rt_sigaction query); if it is not, it
// undoes the batch (a *WindowError at step "handler", matching
// ErrNotCommitted and int3.ErrReplaced). After the commit it checks again
// after steps 4 and 5, only to report it (Step "handler", Committed):
// finishing is the fastest way to take the INT3s away. A handler installed
// over ours between two checks cannot be defended: a thread that traps in
// that stretch goes to the foreign handler (and the Go runtime's would
// crash with "SIGTRAP: trace trap"). Stats.MaxCheckGap and MaxCheckToEnd
// measure the stretches; see Measured.
//
// Linux syncs every core after step 5 as well, because it then tears down
// the descriptors its handler reads. int3's are never torn down, so a thread
// that executes a step-2 INT3 after step 5 (a stale fetch) is a late trap:
// the handler resumes it at the site, where the new bytes run, or emulates
// the current variant if a later switch armed the site again. Dropping that
// sync took a third off the window (window_linux_amd64.go has the numbers).
//
// SYNC_CORE is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE),
// registered once by Init. Nothing else is waited for inside the window:
// callers that must drain users of the old variants (the lock switch's
// barrier) do so before they call Switch.
//
// # Invariants
//
//   - The variant a trap emulates always equals what Current reports; before
//     the commit every execution runs the old variant, after it the new one.
//   - A failure before the commit (a write or membarrier) restores the old
//     first bytes by the same protocol and returns a *WindowError matching
//     ErrNotCommitted: nothing changed. After the commit the switch rolls
//     forward; if that fails, sites keep INT3 with the new descriptors
//     (correct, only slower: every execution traps) and the error matches
//     ErrRollForward; the next Switch of those sites finishes them.
//   - Text is written through /proc/self/mem with pwrite (Mechanism
//     "procmem"): no page is ever writable and executable. If the kernel
//     refuses (proc_mem.force_override=never), or PVSWITCH_PATCH_WRITER=
//     mprotect, the "mprotect" writer makes the page RWX for one write and
//     restores R-X at once; PROT_EXEC is never dropped from a page other
//     threads may run.
//   - The mprotect writer proves itself at Init as procmem does, by
//     rewriting a site's own first byte: under a memory-deny-write-execute
//     policy (prctl PR_SET_MDWE) its RWX mprotect fails there, and Init
//     fails instead of every later switch.
//   - A window step that fails for a reason retrying cannot fix (EPERM or
//     EACCES from a write, EPERM or ENOSYS from membarrier: a seccomp
//     filter, PR_SET_MDWE or a security module installed after Init) gives
//     a *WindowError that also matches ErrWritesRefused and says so instead
//     of "retry later". patch does not remember it; the caller decides
//     (package pvlock falls back to dispatch if its release site holds the
//     paravirt variant, and otherwise disables switching for good).
//   - While a tracer is attached (TracerPid in /proc/self/status) Switch
//     refuses with ErrTracer unless AllowTracer(true) or
//     PVSWITCH_ALLOW_TRACER=1. A debugger that is allowed must pass
//     SIGTRAP on without stopping (gdb: handle SIGTRAP nostop noprint
//     pass); gdb rewinds the PC of the trap to the INT3 byte first, which
//     the handler recognizes (package int3). With gdb's default (stop, no
//     pass), a continued thread resumes inside the site's instruction and
//     dies with SIGILL: nothing in the process runs in between.
//   - A uprobe on a site makes the kernel run the instruction of the
//     binary file (variant 0) at that site, whatever was patched there;
//     Switch refuses the site while the uprobe's 0xCC is there, and
//     removing the uprobe writes the first byte of the file's instruction
//     back (the next Switch refuses the site as rewritten by another tool;
//     if the live variant starts with another byte, the site now holds a
//     hybrid that must never run). The site's owner must tolerate variant
//     0 running at any time (pvlock does), and nobody should remove a
//     uprobe from a site of a running process that switched it.
//   - Before it arms anything (in Prepare), Switch reads every thread's
//     blocked set (the blocked field of /proc/self/task/*/stat) and refuses with a
//     *SigBlockedError (ErrSigBlocked) naming the thread (tid and comm)
//     that blocks SIGTRAP: an INT3 such a thread hits is not delivered to
//     the handler, the kernel kills the process with SIGTRAP's default
//     action and no Go output. A thread must be seen blocking it on three
//     reads 1 ms apart; a thread that blocks every standard signal (1-31)
//     is taken for one in the runtime's transient states (in a signal
//     handler, created but not started, exiting: no site runs there) and
//     not refused. The check reads files, so it runs before the pinned
//     window: what remains racy is a thread that blocks SIGTRAP after the
//     check and runs an armed site during the window. C code called
//     through cgo must never leave SIGTRAP blocked on a thread that runs
//     Go code, nor block every signal and then call into Go. The check
//     costs one /proc read per thread (see Measured).
//   - Off linux/amd64 everything builds and Init returns an
//     *UnavailableError.
//
// # Never
//
// patch never stops the world or pauses goroutines, never blocks or
// allocates inside the pinned window, never leaves a page writable and
// executable, and never switches a site whose bytes it does not recognize.
//
// # Test hooks and fault injection
//
// In builds with the pvswitch_testhooks tag, SetInject makes chosen writes
// or membarriers of the window fail and SetArmedHook runs a function inside
// the window before the commit; in other builds both hooks are empty
// functions that inline to nothing. The fault NoHandlerWait (package
// internal/fault) removes step 6. TestHandlerWait stalls a handler that
// loaded the old descriptor before the commit (int3's stall hook) and
// checks that its old store lands before Switch returns; it must fail
// without the wait:
//
//	go test -tags pvswitch_testhooks ./internal/patch -run TestHandlerWait                                # ok
//	PVSWITCH_FAULTS=nohandlerwait go test -tags pvswitch_testhooks ./internal/patch -run TestHandlerWait  # FAIL
//
// (Checked: the second command fails deterministically.)
//
// # Measured (this project's 2-vCPU KVM guest, AMD EPYC, Go 1.26.8, quiet machine)
//
//	one emulated trap (signal delivery + emulation)   2.5 us store, 2.6-2.7 us jmp and call; native site 1.4 ns
//	  of which the handler's own work                  ~5 ns (int3 BenchmarkHandlerOnly)
//	membarrier SYNC_CORE                              0.64 us other CPU idle, 10-13 us other CPU running our thread
//	Switch latency, 8 goroutines running the sites    1 site 65-74 us, 8: 102-116 us, 64: 0.36-0.39 ms, 512: 2.35 ms
//	  max pinned window seen: 2-21 ms (the OS preempts the pinned thread: 8 runners on 2 CPUs)
//	signal-mask check before a window (BenchmarkCheckSigMask)  79 us for a test binary's threads, ~13 us a thread,
//	  no allocation; it runs outside the pinned window but inside pvlock's closed gate
//	SIGTRAP handler unchecked (Stats.MaxCheckGap, MaxCheckToEnd): a 4-site batch, light load: 80-230 us between
//	  two checks, 45-205 us from the last check to the window's end; TestStressFlip (8 runners, the OS preempts
//	  the pinned thread): 8.2 ms between two checks, 1.7 ms to the end
//	stress: 100,000 flips of 7 sites under 8 runners  11.0 s (110 us per flip; was 94 us for 4 sites; ~200 us with
//	  another test binary running), with GC churn and a CPU profile; ~1,080,000 emulated traps (140,000-160,000 on
//	  each of the 6- and 9-byte sites with DS-padded JMP/CALL), exact counts; -race: 216 us per flip
//
// The cost of a trap is the kernel's signal delivery and sigreturn, not the
// handler; with another test binary running on the VM it rose to 3.3 us.
// A batch's cost is dominated by three pwrites per site (~2.7 us each) and
// the SYNC_COREs (three per batch when these were measured, two now).
package patch
