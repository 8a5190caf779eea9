// Package barrier is the per-thread counting global barrier behind a live
// lock-op switch: it tells the switcher when no slow-path lock operation of
// the old variant can be running, and holds new ones at a gate meanwhile.
//
// # The protocol
//
// A slow-path operation (the op) and the switcher meet on three words: a
// count sharded per P, the gate, and the published state (the lock mode).
//
//	op (Enter ... Exit)                        switcher (Switch)
//	-------------------                        -----------------
//	1 count++ on my P's shard, keep the index  1 CLOSE:  gate = closed (XCHG)
//	2 gate open and state == mine?             2 DRAIN:  wait until every shard is 0,
//	    no: count-- on that shard, WAIT at         sleeping with backoff, unpinned;
//	        the gate uncounted, then re-run        past the bound or ctx: ABORT
//	        the site from the top (the site     3 COMMIT: rewrite the sites, then
//	        may now lead to the other variant)     publish the new state
//	3 run the slow path                        4 OPEN:   gate = open, wake waiters
//	4 count-- on the shard kept in 1           ABORT: OPEN without writing anything
//
// # Why this is enough
//
// The invariant: once DRAIN has seen every shard at zero, no op of the old
// variant is running or can start until OPEN, so COMMIT may change what the
// sites do.
//
//   - Store-buffer ordering. "Count, then load the gate" against "close the
//     gate, then read the counts" is the store-buffer case that x86 allows
//     to reorder: with plain stores, both sides could miss the other. The
//     op's count++ is a LOCK-prefixed add and the switcher's close is an
//     XCHG; both are full fences, so they are totally ordered. If the count
//     came first, the switcher's later reads see it; if the close came first,
//     the op's later load sees the gate closed and it backs off. There is no
//     outcome in which both miss. TestStoreBufferLitmus shows the
//     reordering with a plain gate store (the fault PlainGate of package
//     internal/fault) and its absence with the XCHG.
//   - The entry window. A goroutine whose fast path failed has dispatched to
//     the old slow path but has not counted yet (preempted in between, or
//     its thread descheduled). DRAIN cannot see it. It is caught by step 2:
//     it counts first and then checks the gate and the published state; if
//     the gate is closed, or the state is no longer its variant's because a
//     switch committed meanwhile, it un-counts and re-runs the site, which
//     now leads to the new variant. Validating after counting is what seqlock
//     readers and RCU do; checking before counting would reopen the window.
//   - The same-shard decrement. Goroutines migrate between Ps, so an op may
//     leave on another P than it entered on. It decrements the shard it
//     incremented, with a locked add (a plain add would race that shard's
//     new owner). Then every shard counts exactly the ops that entered on it
//     and have not left, so DRAIN can demand that every shard be zero.
//     Decrementing the current P's shard instead would leave one shard at +1
//     and another at -1: a sum could show zero while an op runs, and a
//     per-shard check would never drain.
//   - The bound. An op held at the gate may hold another lock that a counted
//     op needs, so DRAIN can stall for as long as that lock is held. DRAIN
//     therefore gives up after a bound (or the caller's context) and ABORTs:
//     it opens the gate and writes nothing, and the switch reports busy.
//     Waiters at the gate also retry the variant-neutral fast-path CAS
//     periodically, so a lock that becomes free is taken even while gated.
//
// # The model
//
// barrier/model/barrier.pml is this protocol in Promela, with these phase
// names; model/check.sh (run by CI) has spin search its whole state space
// with three ops and a switcher: no COMMIT while an op of the old variant
// runs, no op running a variant other than the published one outside a
// closed gate, no shard below zero. Each of the protections above, removed
// by a -D switch, gives a counterexample. (Memory there is sequentially
// consistent; the store-buffer case is the litmus test's.)
//
// # What it must never do
//
// The barrier never spins in assembly and never blocks a thread behind the
// scheduler's back: waiting at the gate is a select on a channel that OPEN
// closes, with a timer for the periodic retry; DRAIN sleeps. The switcher
// must not take a SpinLock while the gate is closed (it could wait on an op
// held at its own gate).
package barrier
