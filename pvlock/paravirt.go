package pvlock

import (
	"sync/atomic"

	"github.com/pvswitch/pvswitch/internal/barrier"
	"github.com/pvswitch/pvswitch/internal/fault"
)

// lockSlowParavirt is the paravirt waiter. It returns true once it holds
// the lock, false to have the slow-path entry site run again. g is the
// barrier it answers to: the process's (sw.b), or a test's own for a lock
// of its own.
//
//	spin:   up to pvSpinRounds bounded spins, CMPXCHG 0 -> 1 when seen free;
//	        uncounted (only 0 -> 1 so far: safe in either mode)
//	enter:  count, then validate, in the switch barrier, before the first
//	        write that needs a paravirt release (the mark)
//	mark:   count this waiter in its bucket, then CMPXCHG 1 -> 3 (or take
//	        a free word with 0 -> 1 and stop)
//	park:   register as a sleeper, check the gate once more, sleep on sema
//	        until a release that saw 3 kicks (or a switch wakes it); a
//	        switch may evict it meanwhile (take it out of the count:
//	        evict.go), after which it writes nothing and re-runs the site
//	retry:  spin again, then XCHG 3 (7 once it has waited starveAfter):
//	        old value 0 or reserved means acquired; else park
//	back out: a switch is draining (the gate is closed when it is about to
//	        sleep): clear any handoff request, leave the bucket and the
//	        barrier, wait at the gate
//
// Bounded waiting: a waiter that has waited starveAfter swaps in
// lockedHandoff (7) instead of lockedParked (3) as it goes back to sleep.
// The release of 7 leaves the word reserved (4), not free, and kicks: no
// fast path, spinner or gated retry can take a reserved word (they only
// ever CMPXCHG 0 -> 1), so the lock goes to a woken sleeper, the longest
// waiter first (a sleeper that sleeps again goes to the front of the
// queue). The invariant that keeps a reservation from being stranded: a
// word holds the handoff bit only while the waiter that last swapped it in
// sleeps or is about to. That waiter withdraws it when it takes the lock
// (7 -> 3 right after its XCHG) or backs out (7 -> 3, 4 -> 0), and until
// then it is a sleeper of this lock that the release's kick, or a token
// already waiting, wakes to take the reserved word.
//
// A switch to native needs every waiter that marked or sleeps to leave
// (after the switch a native release would clear its mark without a kick):
// hence the count from the mark on, the switcher's eviction of every
// registered sleeper once the gate is closed (evictSleepers, which un-counts
// it on its behalf), and the gate check after registering, which catches a
// waiter that registers after that scan went by. Register ends with an XCHG
// and the gate is closed with XCHG, so either the switcher's scan sees the
// registration or the waiter sees the closed gate (the store-buffer
// argument of package barrier).
//
// The bucket count is taken before the mark, so a release that sees 3 and
// then reads the count cannot miss this waiter (see unlockSlowParavirt).
func (l *SpinLock) lockSlowParavirt(g *barrier.Barrier) bool {
	stats.slow.Add(1)
	for range pvSpinRounds {
		if spinWait(&l.key, spinPauses, pausesPerRead) && l.tryAcquire() {
			return true
		}
		preemptPoint()
	}

	// How long it has waited counts from here: a waiter that got the lock
	// while spinning never needs the clock, and the few microseconds of
	// spin are nothing against starveAfter.
	start := nanotime()
	tok, ok := g.Enter(uint32(Paravirt))
	if !ok {
		if g.IsOpen() {
			// No switch is under way, yet the published mode is not
			// paravirt: a switch committed since the site sent this
			// goroutine here, or something runs the site's built bytes
			// (a uprobe executes them out of line). Wait as a native
			// waiter, which is safe in either mode: slower, never stuck.
			return l.lockSlowNative(g)
		}
		return g.Wait(gateRetry, l.tryAcquire)
	}

	b := bucketOf(l)
	b.waiters.Add(1)
	for {
		v := atomic.LoadUint32(&l.key)
		if v == free {
			if l.tryAcquire() {
				b.waiters.Add(-1)
				g.Exit(tok)
				return true
			}
			continue
		}
		if v&parkedBit != 0 || v == reserved ||
			atomic.CompareAndSwapUint32(&l.key, locked, lockedParked) {
			break // marked, or reserved for a sleeper: its XCHG re-marks
		}
	}

	lifo, deferrals := false, 0
	for {
		r := l.park(g, tok, lifo)
		switch r {
		case parkGate:
			// Did not sleep: a switch is draining. Leave; a lock that
			// becomes free is still taken at the gate.
			l.clearHandoff()
			b.waiters.Add(-1)
			g.Exit(tok)
			return g.Wait(gateRetry, l.tryAcquire)
		case parkEvicted, parkEvictedAwake:
			// A switch to native took this waiter out of the count, its
			// bucket and its handoff request (evict.go): it is no longer a
			// paravirt waiter and must not write as one. Ack the kick that
			// woke it, if it slept, and wait at the gate (if it is still
			// closed), then re-run the site.
			if r == parkEvicted {
				b.ackKick()
			}
			return g.Wait(gateRetry, l.tryAcquire)
		case parkDeferred:
			// Let the evicted waiters run (they are runnable, with their
			// tokens), then retry as a woken waiter would: its XCHG
			// re-marks the word, so no release can miss this waiter.
			deferPark(deferrals)
			deferrals++
		}
		woken := r == parkWoken
		lifo = true // a woken waiter that sleeps again keeps its place in front

		for range pvWakeSpinRounds {
			if spinWait(&l.key, spinPauses, pausesPerRead) {
				break
			}
			preemptPoint()
		}
		// Having slept, acquire only by swapping in a marked value: other
		// waiters may be asleep, and only a release that sees the mark
		// wakes one. Free and reserved both mean acquired.
		mark := uint32(lockedParked)
		if nanotime()-start >= int64(starveAfter) {
			mark = lockedHandoff
		}
		old := atomic.SwapUint32(&l.key, mark)
		if woken {
			b.ackKick()
		}
		if old&locked == 0 {
			if old == reserved {
				stats.handoffs.Add(1)
			}
			if mark == lockedHandoff && !fault.Active(fault.NoWithdraw) {
				// Acquired: the request was for this waiter. Withdraw
				// it, or this lock's release would reserve the word for
				// a sleeper that may not exist. (A request another
				// starving waiter swapped in meanwhile goes too; it asks
				// again when it next sleeps.)
				atomic.CompareAndSwapUint32(&l.key, lockedHandoff, lockedParked)
			}
			b.waiters.Add(-1)
			g.Exit(tok)
			return true
		}
	}
}

// clearHandoff withdraws a handoff request when a waiter backs out, so that
// a word is never left reserved for sleepers that have all left: lockedHandoff
// becomes lockedParked, reserved becomes free.
func (l *SpinLock) clearHandoff() {
	for {
		switch v := atomic.LoadUint32(&l.key); v {
		case lockedHandoff:
			if atomic.CompareAndSwapUint32(&l.key, v, lockedParked) {
				return
			}
		case reserved:
			if fault.Active(fault.NoHandoffClear) || atomic.CompareAndSwapUint32(&l.key, v, free) {
				return
			}
		default:
			return
		}
	}
}

// What park did.
const (
	parkWoken        = iota // slept, and a kick (or a rescue) woke it
	parkGate                // did not sleep: the gate was closed
	parkEvicted             // a switch evicted it (evict.go) while it slept; a token woke it
	parkEvictedAwake        // a switch evicted it before its gate check; it did not sleep
	parkDeferred            // did not sleep: evicted waiters of its bucket are owed tokens
)

// park sleeps on l.sema until a kick (or a rescue, or a switch's token)
// hands it one; the waiter, counted in g with tok, is in the backstop's
// registry while it sleeps. If the gate is closed once the waiter is
// registered, it does not sleep (parkGate): a switch is draining, and its
// scan of the registered sleepers may already have gone by. Nor does it
// sleep while waiters that a switch evicted from its bucket are owed
// tokens on their locks' semaphores (parkDeferred: it could take one;
// evict.go). A waiter a
// switch evicted reports parkEvicted, or parkEvictedAwake if the eviction
// came before its gate check (it then never sleeps).
func (l *SpinLock) park(g *barrier.Barrier, tok barrier.Token, lifo bool) int {
	barrier.Stall(barrier.StallBeforePark)
	slot := register(l, g, tok) // ends with a locked instruction: ordered before the gate load
	gate := !g.IsOpen() && !fault.Active(fault.NoParkCheck)
	if gate || bucketOf(l).evicted.Load() != 0 && !fault.Active(fault.NoEvictDefer) {
		switch {
		case !unregister(slot):
			return parkEvictedAwake
		case gate:
			return parkGate
		default:
			return parkDeferred
		}
	}
	stats.parks.Add(1)
	semacquire(&l.sema, lifo, 0)
	barrier.Stall(barrier.StallAfterWake)
	if unregister(slot) {
		return parkWoken
	}
	return parkEvicted
}

// unlockParavirt is the paravirt release: CMPXCHG 1 -> 0, and the slow path
// when the word says otherwise.
func (l *SpinLock) unlockParavirt() {
	if !atomic.CompareAndSwapUint32(&l.key, locked, free) {
		l.unlockSlowParavirt()
	}
}

// unlockSlowParavirt releases a word that was not plain locked: marked
// (kick a sleeper), marked with a handoff request (leave it reserved for
// the sleeper it kicks), or not held at all (misuse).
//
// Kick protocol, per bucket b of l:
//
//	releaser                           waiter
//	b.kickBegin()                      b.waiters.Add(1)      (LOCK XADD)
//	CMPXCHG key 3 -> 0 (7 -> 4)        CMPXCHG key 1 -> 3, or load key == 3,
//	                                   or (after a sleep) XCHG key, 3 (7)
//	if b.waiters != 0: semrelease      semacquire
//	else:              b.kickAbandon()
//
// The count and the CMPXCHG are locked instructions, so they are totally
// ordered, and each side's later access cannot pass its own: if the waiter's
// mark (or its sight of 3) came before the release's CMPXCHG, its count came
// before the release's read of it, and the release kicks; if it came after,
// the waiter saw the word free (or held by a new owner, whose release will
// see its mark) and took it or marks it. A kick with nobody asleep on l (the
// count belongs to another lock in the bucket, or the waiter is about to
// sleep) leaves a token that makes the next sleeper of l retry at once; if no
// sleeper of l ever comes, the token and its kick-in-flight count stay, and
// the backstop's scan treats that bucket's count as stale after staleKick.
// A reserved word always has a taker: the waiter that asked for the handoff
// is counted in b until it takes the lock or withdraws the request.
func (l *SpinLock) unlockSlowParavirt() {
	for {
		v := atomic.LoadUint32(&l.key)
		switch v {
		case locked:
			// A waiter saw 1 but has not marked yet; race it again.
			if atomic.CompareAndSwapUint32(&l.key, locked, free) {
				return
			}
		case lockedParked, lockedHandoff:
			// Only the holder clears L; waiters write 3 or 7 over a held
			// word, so the CMPXCHG fails only if one changed 3 <-> 7: retry.
			to := uint32(free)
			if v == lockedHandoff {
				to = reserved
			}
			b := bucketOf(l)
			b.kickBegin()
			// CMPXCHG: a full fence before the reads below.
			if !atomic.CompareAndSwapUint32(&l.key, v, to) {
				b.kickAbandon()
				continue
			}
			if b.waiters.Load() == 0 || atomic.LoadUint32(&l.sema) != 0 {
				// Nobody to wake, or a kick is already waiting to be
				// taken by a sleeper of l, which will re-mark the word
				// when it runs: a second kick would only wake a second
				// waiter to spin beside it.
				b.kickAbandon()
				return
			}
			stats.kicks.Add(1)
			// A reserved word goes to the sleeper the kick wakes: hand
			// it the token directly (and this P), or a goroutine that
			// calls semacquire meanwhile would take the token, and with
			// it the reserved word, from the longest waiter.
			semrelease(&l.sema, to == reserved, 0)
			return
		default:
			fatalUnlock()
			return
		}
	}
}
