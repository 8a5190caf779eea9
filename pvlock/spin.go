package pvlock

import "time"

// Spin budgets. PAUSE costs about 25 ns on this project's reference VM
// (~140 cycles), so one spin round is about 0.8 us (32 PAUSEs): the paravirt
// waiter reads the lock word every 8 PAUSEs, the native one less often.
const (
	// spinPauses is how many PAUSEs one call of spinWait may execute before
	// it returns to Go code, which then passes a preemption point. A spin
	// in assembly must be bounded: assembly has no preemption point, so a
	// garbage collector's stop-the-world would wait for it to end.
	spinPauses = 32

	// pausesPerRead is how many PAUSEs a paravirt waiter waits between two
	// reads of the lock word (about 0.8 us: one read per spin round).
	// Reading it after every PAUSE kept pulling the holder's cache line
	// into the shared state, so the holder's own accesses (its release, its
	// next acquire) paid a transfer each: with 2 goroutines contending, 8
	// PAUSEs per read halved the time per critical section for both
	// variants (pvlock benchmarks, reference VM). Reading every 32 rather
	// than every 8, with the same spin budget, was faster again in every
	// shape of BenchmarkVsMutex but one (2-vCPU KVM guest, 5 interleaved
	// runs, median ns per critical section, 8 -> 32): 32 goroutines at
	// GOMAXPROCS=2 140 -> 105 (CS 20) and 539 -> 439 (CS 200); 2
	// goroutines 112 -> 96 (CS 20), 359 -> 364 (CS 200); 8 locked threads
	// 122 -> 113 and 390 -> 385; 32 threads 122 -> 105 and 460 -> 424;
	// 128 threads 132 -> 112 and 525 -> 545. Every 64 (which, with
	// spinPauses 32, also doubles the spin) was a little faster still in
	// most shapes; not taken, to change one thing at a time.
	pausesPerRead = 32

	// nativeFirstRead and nativeMaxRead bound the native waiter's read
	// interval, in PAUSEs: it starts at nativeFirstRead (about 1.6 us) and
	// doubles every round up to nativeMaxRead (about 6 us), which is the
	// longest a free word can go unseen (the native promise in the package
	// doc). A native waiter that read every 8 PAUSEs, as the paravirt one
	// does, made sync.Mutex (whose waiter sleeps, leaving the holder to
	// re-take the lock undisturbed) faster with 2 goroutines at
	// GOMAXPROCS=2: BenchmarkVsMutex, six interleaved runs, 200
	// multiply-adds held: 8 PAUSEs per read 498 ns/op against sync.Mutex's
	// 337; 64 doubling to 256: 333 against 339; 20 held: 122 against 81,
	// then 86 against 88.
	nativeFirstRead = 64
	nativeMaxRead   = 256

	// pvSpinRounds is how many spin rounds a paravirt waiter runs before it
	// marks the word and parks. About 1.6 us: enough for a short critical
	// section whose holder is running, little enough that a waiter whose
	// holder was preempted does not burn its CPU, which the holder (or the
	// next holder) may need. Measured with BenchmarkVsMutex, 2 against 8
	// rounds, six interleaved runs (benchstat): 8 locked threads on 2 CPUs
	// with 200 multiply-adds held -7.8% ns/op (p=0.002), 2 goroutines
	// -12.7% (p=0.04), every other shape within noise; BenchmarkContended
	// with 32 goroutines within noise (p=0.57). How often the word is read
	// while spinning matters more than the rounds (spin_amd64.s).
	pvSpinRounds = 2

	// pvWakeSpinRounds is how many spin rounds a woken waiter runs before
	// it swaps in lockedParked (and sleeps again if the lock is held):
	// short, since it was woken because the lock was just released.
	pvWakeSpinRounds = 2

	// nativeYieldRounds is how many spin rounds (1.6 us, then 3.2, then
	// 6.4 us each: nativeFirstRead) a native waiter runs between two
	// runtime.Gosched calls: about 45 us,
	// long against a short critical section, short against the 10 ms
	// after which Go's sysmon would preempt it (when sysmon gets a CPU).
	nativeYieldRounds = 8

	// starveAfter is how long a paravirt waiter waits before it asks the
	// release to hand the lock over to a sleeper (handoffBit), as
	// sync.Mutex switches to its starvation mode after 1 ms: it bounds
	// how long a waiter can lose to goroutines that re-take the lock at
	// once, at the cost of a wake-up per acquisition while it lasts.
	starveAfter = time.Millisecond
)

// preemptPoint is called between bounded spins. It is not inlined and not a
// leaf (it calls preemptLeaf), so it has a stack-check prologue: a goroutine
// the scheduler asked to stop (for a GC stop-the-world, or because it ran its
// slice) stops here instead of spinning on.
//
//go:noinline
func preemptPoint() { preemptLeaf() }

//go:noinline
func preemptLeaf() {}
