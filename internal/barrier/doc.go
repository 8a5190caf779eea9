// Package barrier is the per-thread counting global barrier behind a live
// lock-op switch: it tells the switcher when no slow-path lock operation
// that the switch could break is running, and holds new ones at a gate
// meanwhile.
//
// # What must drain, per direction
//
// The lock word is shared by both variants (pvlock's doc draws it), and
// only one thing can go wrong across a switch: a native release, a plain
// store of 0, over a word that a paravirt waiter marked (3), while that
// waiter sleeps or is about to: its wakeup is lost. So:
//
//   - A native waiter only ever writes 0 -> 1 (CMPXCHG). That is safe in
//     either mode and under either release, so native waiters are never
//     counted and no switch waits for them (pvlock: lockSlowNative).
//   - A paravirt waiter that is still spinning has also written nothing but
//     0 -> 1. It counts itself (Enter) only before its first other write,
//     the mark, and stays counted while it is marked, asleep or woken
//     (pvlock: lockSlowParavirt).
//   - Native -> paravirt: the old variant's waiters are native, so nothing
//     is counted and the drain is immediate. (The old native release still
//     in flight in a trap handler is package patch's business: the window
//     waits for the handlers.)
//   - Paravirt -> native: counted paravirt waiters must leave before the
//     commit. A sleeper would leave only when a release kicks it, and its
//     lock's holder may itself wait at the closed gate (for another lock),
//     so once the gate is closed the switcher takes every registered
//     sleeper out of the count itself (the kick passed to Drain: pvlock's
//     eviction). It wins each sleeper's registry slot with a CMPXCHG (the
//     sleeper's own leaving is the other CMPXCHG on it: one side un-counts
//     it), withdraws its handoff request and un-counts it on the shard it
//     counted on (Exit with its token). An evicted waiter writes nothing
//     more as a paravirt waiter: when it wakes it sees its slot evicted,
//     waits at the gate and re-runs the site. If the switch commits, each
//     evicted waiter is paid a token to wake it; if it gives up, each is
//     counted again (Recount) and put back as a sleeper, and its lock is
//     kicked. A waiter about to sleep registers and then checks the gate:
//     closed means it backs out (un-counts, waits at the gate uncounted)
//     instead of sleeping. Registering ends with a locked instruction and
//     the gate is closed with XCHG, so the switcher's scan sees the
//     registration or the waiter sees the gate closed (the store-buffer
//     argument below, once more). So only the waiters that are running
//     (spinning, marking, about to sleep) are waited for, and each of them
//     leaves within its next few instructions.
//
// # The protocol
//
// A slow-path operation (the op) and the switcher meet on three words: a
// count sharded per P, the gate, and the published state (the lock mode).
//
//	op (Enter ... Exit)                        switcher (Switch)
//	-------------------                        -----------------
//	1 count++ on my P's shard, keep the index  1 CLOSE:  gate = closed (XCHG)
//	2 gate open and state == mine?             2 KICK:   evict the sleepers (to native)
//	    no: count-- on that shard, WAIT at      3 DRAIN:  wait until every shard is 0,
//	        the gate uncounted, then re-run        sleeping with backoff, unpinned;
//	        the site from the top (the site        past the bound or ctx: ABORT
//	        may now lead to the other variant)  4 COMMIT: rewrite the sites, then
//	3 run the counted part of the slow path;       publish the new state
//	  BACK OUT (count--, WAIT) if it finds      5 OPEN:   gate = open, wake waiters
//	  the gate closed before it sleeps          ABORT: OPEN without writing anything
//	4 count-- on the shard kept in 1
//
// # Why this is enough
//
// The invariant: once DRAIN has seen every shard at zero, no op that has
// written anything but 0 -> 1 under the old variant is running or can start
// until OPEN, so COMMIT may change what the sites do.
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
//   - The eviction and the back-out. An op held at the gate may hold
//     another lock that a counted op sleeps on, so DRAIN would last as long
//     as that lock is held. KICK and the gate check before sleeping make
//     every counted op leave without any release, and the sleepers without
//     even running: the drain finishes in the time the running ops take to
//     reach their next gate check.
//   - The bound. A counted op that WAKE cannot reach (a sleeper the lock's
//     bounded registry could not hold) can still stall DRAIN. DRAIN
//     therefore gives up after a bound (or the caller's context) and ABORTs:
//     it opens the gate and writes nothing, and the switch reports busy. The
//     bound is strict: a drain first seen complete after it (the switcher
//     ran late) gives up too.
//     Waiters at the gate also retry the variant-neutral fast-path CAS
//     periodically, so a lock that becomes free is taken even while gated.
//   - The drainer's wake-up. DRAIN sleeps on a timer with backoff, and also
//     on a hint: an op that leaves (count--, a locked add) and then sees
//     the gate closed and every shard at zero sends the drainer a token
//     without blocking. A goroutine readied by a send runs next on the
//     sender's P, so the switcher does not wait for its timer, and then for
//     a P, while every P runs a waiter. The hint is only that: DRAIN
//     decides on its own reading of the shards, so a lost, late or stale
//     hint costs time, never safety, and the model leaves it out.
//
// # The model
//
// model/barrier.pml is this protocol in Promela together with the lock
// protocol it serves (the word's marks, the sleepers, the kick, the handoff
// to a starving waiter, the eviction, its token or its restore, and the
// back-out), with these phase names; model/check.sh (run by CI) has spin
// search its whole state space with two ops and a switcher that may or
// may not give up: mutual exclusion, no paravirt waiter past its
// validation while the sites run native, no native release over a mark
// while a waiter that is not evicted sleeps, no shard below zero, and no
// deadlock even when holders wait at the closed gate and the drain may not
// give up. Each protection above, removed by a -D switch (NOVALIDATE,
// NODRAIN, WRONGSHARD, NOWAKE, NOPARKCHECK; for the handoff, NOHANDOFFCLEAR
// and NOWITHDRAW; for the eviction, NOEVICTCHECK, NOEVICTWAKE,
// NOEVICTCLEAR, NOEVICTRESTORE and NORESTOREKICK), gives a counterexample;
// the same protections removed at run time (package internal/fault) fail
// their tests (.ci/faults). One is beyond the model's two ops: the wait of
// a switch to paravirt for the waiters a switch to native evicted (a
// token is taken by whoever acquires first, and a thief needs a third
// op); pvlock's TestEvictedWaiterKeepsItsToken checks it. (Memory there is
// sequentially consistent; the store-buffer case is the litmus test's.)
//
// # What it must never do
//
// The barrier never spins in assembly and never blocks a thread behind the
// scheduler's back: waiting at the gate is a select on a channel that OPEN
// closes, with a timer for the periodic retry; DRAIN sleeps. The switcher
// must not take a SpinLock while the gate is closed (it could wait on an op
// held at its own gate).
package barrier
