package pvlock

import (
	"runtime"
	"time"

	"github.com/pvswitch/pvswitch/internal/barrier"
	"github.com/pvswitch/pvswitch/internal/fault"
)

// Eviction: how a switch to native gets the sleeping paravirt waiters out of
// its way without waiting for them to run.
//
// A paravirt waiter counts itself in the barrier before it marks a word and
// stays counted while it sleeps, because after a switch to native a native
// release would clear its mark without a kick. The drain used to wake every
// sleeper and wait for each to be scheduled, see the closed gate and leave
// the count itself: a goroutine switch per sleeper on a busy P, a thread
// wake-up per sleeper for locked threads (8 goroutines on 2 Ps: 120 of a
// switch's 300 us to native).
//
// Instead the switcher, with the gate closed, takes each sleeper out itself
// (evictSleepers). For each registered slot it wins asleep -> evicted with a
// CMPXCHG (the sleeper's unregister is the other CMPXCHG on the same word:
// exactly one side un-counts the waiter), then does what the waiter would
// have done backing out:
//
//	clearHandoff(l)          withdraw its handoff request (7 -> 3, 4 -> 0):
//	                         nobody else may take a reserved word
//	bucket.waiters - 1       a release need not kick for it any more
//	barrier Exit(tok)        on the shard it counted on
//
// What happens to the evicted waiters depends on how the switch ends:
//
//	committed to native   settleEvicted pays each one token on l.sema (a
//	                      kick), just before the gate opens. The waiter wakes,
//	                      finds its slot evicted (unregister returns false),
//	                      writes nothing more as a paravirt waiter, and
//	                      re-runs the site: native now.
//	did not commit        settleEvicted puts each back (restoreEvicted): counts
//	                      it again, then evicted -> asleep with a CMPXCHG, so it
//	                      is an ordinary sleeper once more, kicked by releases
//	                      and watched by the backstop. A waiter that already
//	                      left (a kick woke it) fails that CMPXCHG and the
//	                      counts are taken back. Then one kick on l per
//	                      evicted waiter, restored or not (restoreEvicted
//	                      says why).
//
// Why a token cannot go astray: l.sema is a counting semaphore, and a
// token goes to whoever acquires first, not to a chosen goroutine (a woken
// goroutine takes its token only when it runs). A paravirt sleeper of l
// that came while an evicted waiter's token waits could take it, and the
// evicted waiter, out of every count and out of the backstop's view,
// would sleep for ever. Only a paravirt waiter that passed the open gate
// in paravirt mode ever sleeps on l.sema, so none comes while the gate is
// closed or the mode is native; the tokens are paid only when the switch
// committed to native (a switch that did not commit pays no token: it
// restores). What is left is a switch back to paravirt before every
// evicted waiter has run, which the scheduler may delay for a time slice
// or more (10 ms and up behind goroutines that spin). The switch does not
// wait for them; the sleepers do: each bucket counts its evicted waiters
// that have not woken (bucket.evicted: the switch adds each, the waiter
// takes itself off in unregister, or the restore does), and a paravirt
// waiter registers, checks the gate, then checks that count and, while it
// is not zero, does not sleep: it yields and retries, as a woken waiter
// would (park: parkDeferred). The count is raised before the gate opens
// on the native mode, and the paravirt mode's gate opens later still, so
// a waiter that saw the gate open in paravirt mode sees the count.
//
// Two more cases:
//   - a waiter evicted between register and its gate check finds the gate
//     closed and its slot evicted: it does not sleep at all, and the token a
//     commit pays for it is a surplus, which makes the next paravirt sleeper
//     of l retry at once, as any kick that found nobody asleep does;
//   - a waiter without a slot (registry full) cannot be evicted: the switch
//     has no slot to win. While one sleeps (untrackedAsleep is not zero) a
//     switch evicts nobody and wakes the registered sleepers instead, which
//     back out at the closed gate, as before eviction existed (wakeSleepers),
//     and its drain waits for the untracked one like any counted op, up to
//     its bound. untrackedAsleep is raised (XADD) before the waiter's gate
//     check and read after the gate is closed (XCHG): either the switch sees
//     it, or the waiter sees the closed gate and does not sleep. It takes
//     more than nSlots sleepers at once, so the simple rule is kept.
//
// The Promela model (internal/barrier/model) checks this, with a broken
// twin per protection: no eviction check by the woken waiter, no token, no
// withdrawal of the handoff request, no restore after a switch that did
// not commit, no kick with the restore; and by a Go test only (it needs a
// third goroutine), no deferral of the sleepers while evicted waiters are
// owed their tokens (TestEvictedWaiterKeepsItsToken).

// evicted is what the switch in progress evicted, one entry per sleeper.
// Guarded by sw.turn.
var evicted struct {
	e [nSlots]struct {
		s    *slot
		word uint32 // the slot's state word as evicted (its generation)
		l    *SpinLock
		tok  barrier.Token
	}
	n int
}

// evictSleepers takes every sleeper registered with g out of g's count
// (above), or, while a sleeper has no slot, wakes them all instead
// (wakeSleepers). The gate must be closed and the switch must be to native.
// It returns how many it evicted.
func evictSleepers(g *barrier.Barrier) int {
	if untrackedAsleep.Load() != 0 {
		wakeSleepers()
		return 0
	}
	if sleepers.Load() == 0 {
		return 0
	}
	n := 0
	for i := range registry {
		s := &registry[i]
		w := s.state.Load()
		if slotState(w) != slotAsleep || s.g.Load() != g {
			// Free; being filled (its owner sees the closed gate after the
			// XCHG that ends register); counted in another barrier (a
			// test's); or evicted by an earlier switch and not yet awake.
			continue
		}
		// Read the registration before the CMPXCHG, not after: once it
		// is evicted, the owner may wake, free the slot and register
		// again at once. Winning the CMPXCHG on w proves nothing was
		// rewritten in between (backstop.go: the generation).
		l := s.lock.Load()
		tok := barrier.TokenFromBits(s.tok.Load())
		ev := withState(w, slotEvicted)
		if !s.state.CompareAndSwap(w, ev) {
			continue // its owner left just now: it is counted, and runs
		}
		b := bucketOf(l)
		b.evicted.Add(1)
		if !fault.Active(fault.NoEvictClear) {
			l.clearHandoff()
		}
		b.waiters.Add(-1)
		g.Exit(tok)
		e := &evicted.e[evicted.n]
		e.s, e.word, e.l, e.tok = s, ev, l, tok
		evicted.n++
		n++
	}
	stats.switchEvictions.Add(int64(n))
	return n
}

// settleEvicted ends the evictions of the switch in progress, with the gate
// still closed: now is the mode it is about to publish. Native (committed):
// each evicted waiter gets its token. Otherwise they are restored.
func settleEvicted(g *barrier.Barrier, now Mode) {
	if evicted.n == 0 {
		return
	}
	if now != Native {
		restoreEvicted(g)
	} else if !fault.Active(fault.NoEvictWake) {
		for i := range evicted.n {
			l := evicted.e[i].l
			bucketOf(l).kickBegin()
			semrelease(&l.sema, false, 0)
		}
		stats.switchWakes.Add(int64(evicted.n))
	}
	clear(evicted.e[:evicted.n])
	evicted.n = 0
}

// restoreEvicted makes the evicted waiters ordinary counted sleepers again,
// for a switch that did not commit: counted first (barrier, bucket), then
// evicted -> asleep; if the waiter has left meanwhile, the counts are taken
// back. Then it kicks l once per evicted waiter, restored or not. A release
// of l while the waiter was out of the bucket's count may have found
// nobody to kick and cleared its mark; and a waiter that woke evicted may
// have taken a kick meant for a sleeper that re-marks the word, and
// written nothing. Either way a sleeper of l may now sleep on a word
// without a mark; the kick makes one retry, and its XCHG marks the word
// again. A surplus kick only makes the next sleeper of l retry at once.
// No paravirt waiter sleeps while the gate is closed, so the tokens go to
// the restored sleepers or wait for the next paravirt epoch's.
func restoreEvicted(g *barrier.Barrier) {
	if fault.Active(fault.NoEvictRestore) {
		return
	}
	for i := range evicted.n {
		e := &evicted.e[i]
		b := bucketOf(e.l)
		g.Recount(e.tok)
		b.waiters.Add(1)
		if e.s.state.CompareAndSwap(e.word, withState(e.word, slotAsleep)) {
			b.evicted.Add(-1)
		} else {
			b.waiters.Add(-1) // it woke meanwhile
			g.Exit(e.tok)
		}
		if !fault.Active(fault.NoRestoreKick) {
			b.kickBegin()
			semrelease(&e.l.sema, false, 0)
			stats.switchWakes.Add(1)
		}
	}
}

// deferPark is how a paravirt waiter that may not sleep yet (parkDeferred)
// waits before it retries: the first times it yields its P (an evicted
// waiter may be queued on it), then it sleeps, 20 us and doubling up to
// 1 ms, so that a wait behind evicted waiters that the scheduler delays
// does not burn a CPU. n counts the deferrals so far.
func deferPark(n int) {
	if n < 2 {
		runtime.Gosched()
		return
	}
	time.Sleep(min(20*time.Microsecond<<min(n-2, 6), time.Millisecond))
}
