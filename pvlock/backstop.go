package pvlock

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pvswitch/pvswitch/internal/barrier"
	"github.com/pvswitch/pvswitch/internal/fault"
)

// The backstop. Correct code never needs it: it exists so that a hole in the
// reasoning about lost wakeups (above all a native release over a parked
// waiter during a mode switch) shows up as a counted rescue in a test instead
// of a hang in production.
//
// It has two parts: the registry, fixed in size, with one slot per sleeping
// waiter naming its lock and when it went to sleep; and the monitor, a
// goroutine that scans the registry. The monitor also reads each kick
// bucket's kicks in flight (kick.go), to tell a lost wakeup from a kick
// that is on its way.
//
// A rescue is a monitor's kick of a lock on which a registered waiter has
// slept for at least rescueAfter while the lock word was free and no kick for
// its bucket was in flight.

const (
	// rescueAfter is how long a waiter must have slept on a free word with
	// no kick in flight before the monitor wakes it.
	rescueAfter = 10 * time.Millisecond
	// monitorPeriod is how often the monitor scans while anyone sleeps.
	monitorPeriod = 5 * time.Millisecond
	// staleKick is how long a bucket's kicks word must stay unchanged
	// before the monitor stops trusting its kicks-in-flight count. A real
	// kick is in flight for microseconds (longer only while its thread is
	// descheduled); a count that has not moved for this long belongs to a
	// token stranded on a lock that nobody sleeps on any more (a kick
	// decided by another lock's waiters in the same bucket), and would
	// otherwise switch the backstop off for the whole bucket.
	staleKick = time.Second

	nSlots = 1024 // registry size: sleepers beyond it are not watched
)

// slot is one registry entry: the lock a waiter sleeps on, when it began,
// and the barrier and token the waiter was counted with (for a switch that
// takes it out of the count: evict.go).
//
// Its state word holds a state in the low two bits and, above them, a
// generation that every registration increments, so that a CMPXCHG on the
// word of one registration can never succeed on a later one (no ABA). The
// state moves only so:
//
//	free -> filling      register: CMPXCHG, new generation (the owner claims it)
//	filling -> asleep    register: XCHG, after lock, g, tok and since are
//	                     written: a full fence before the owner's gate load
//	asleep -> free       unregister: CMPXCHG, by the owner, woken or backing out
//	asleep -> evicted    evictSleepers: CMPXCHG, by a switch to native
//	evicted -> asleep    restoreEvicted: CMPXCHG, by that switch if it did
//	                     not commit (the waiter is counted again first)
//	evicted -> free      unregister: CMPXCHG, by the owner, once the first
//	                     failed (it retries the first if a restore wins)
//
// The CMPXCHGs on asleep decide, once per transition, whether the owner
// left the count itself or the switcher took it out (or put it back):
// exactly one side un-counts the waiter. lock, g, tok and since are written
// only while the owner holds the slot in filling, so a reader that loads
// the state word, then the fields, then wins a CMPXCHG on that same word
// (same generation) has read the fields of that registration. They are
// atomics all the same: a reader that loses the CMPXCHG may have read them
// while a later registration wrote them, and must then ignore what it read.
type slot struct {
	state atomic.Uint32 // generation<<2 | slotFree, slotFilling, slotAsleep or slotEvicted
	tok   atomic.Uint32 // the waiter's barrier.Token, as Bits
	lock  atomic.Pointer[SpinLock]
	since atomic.Int64                    // nanotime when the sleep began; 0 once the owner leaves
	g     atomic.Pointer[barrier.Barrier] // the barrier tok counts in
	_     [cacheLine - 32]byte
}

// Slot states (the low two bits of slot.state).
const (
	slotFree = iota
	slotFilling
	slotAsleep
	slotEvicted

	slotStateMask = 3
	slotGenOne    = 4
)

// slotState returns the state bits of a slot's state word.
func slotState(w uint32) uint32 { return w & slotStateMask }

// withState returns state word w with its state bits set to st.
func withState(w, st uint32) uint32 { return w&^slotStateMask | st }

// slotRef is a waiter's hold on its slot: the slot and the state word of
// its registration (state asleep). The zero slotRef is a waiter without
// a slot.
type slotRef struct {
	s    *slot
	word uint32
}

var (
	registry   [nSlots]slot
	sleepers   atomic.Int32 // slots not free, to let the monitor sleep when 0
	monitorOn  sync.Once
	monitorRun = make(chan struct{}, 1)

	// untrackedAsleep counts the waiters that sleep, or are about to,
	// without a slot (the registry was full). A switch evicts nobody
	// while it is not zero (evict.go says why).
	untrackedAsleep atomic.Int32
)

// register records that a waiter counted with tok in g is about to sleep on
// l, and returns its hold on a slot. When the registry is full it returns
// the zero slotRef and counts the waiter in untrackedAsleep instead: that
// waiter is not watched by the backstop, nor evicted by a switch, and
// stats.untracked says so. Either way its last write is a locked
// instruction, ordered before the caller's load of the gate.
func register(l *SpinLock, g *barrier.Barrier, tok barrier.Token) slotRef {
	start := rand.Uint32()
	for i := range uint32(nSlots) {
		s := &registry[(start+i)&(nSlots-1)]
		w := s.state.Load()
		if slotState(w) != slotFree {
			continue
		}
		filling := withState(w+slotGenOne, slotFilling)
		if !s.state.CompareAndSwap(w, filling) {
			continue
		}
		s.lock.Store(l)
		s.g.Store(g)
		s.tok.Store(tok.Bits())
		s.since.Store(nanotime())
		asleep := withState(filling, slotAsleep)
		s.state.Store(asleep) // XCHG
		if sleepers.Add(1) == 1 {
			monitorOn.Do(func() { go monitor() })
			select {
			case monitorRun <- struct{}{}:
			default:
			}
		}
		return slotRef{s, asleep}
	}
	stats.untracked.Add(1)
	untrackedAsleep.Add(1)
	return slotRef{}
}

// unregister gives up the slot register returned, and reports whether the
// waiter left on its own (true) or a switch had evicted it (false): the
// switch then took it out of the barrier's count and its bucket and
// withdrew its handoff request (evict.go), and the waiter must write
// nothing more as a paravirt waiter. Only the waiter that registered calls
// it, once.
func unregister(r slotRef) bool {
	s := r.s
	if s == nil {
		untrackedAsleep.Add(-1)
		return true
	}
	s.since.Store(0)
	asleep, evicted := r.word, withState(r.word, slotEvicted)
	var left bool
	for {
		if s.state.CompareAndSwap(asleep, withState(r.word, slotFree)) {
			left = true
			break
		}
		// Evicted: nothing else moves this generation's word but a
		// switch that did not commit, putting it back (evicted ->
		// asleep). Free it with a CMPXCHG too, so that exactly one of
		// the two wins: if the restore came first, the waiter is counted
		// again and leaves as any sleeper does (the loop's first CMPXCHG).
		l := s.lock.Load()
		if s.state.CompareAndSwap(evicted, withState(r.word, slotFree)) {
			// The switcher is done with the slot, and the token it owed
			// this waiter has been taken (or was never needed: it did
			// not sleep).
			bucketOf(l).evicted.Add(-1)
			break
		}
	}
	sleepers.Add(-1)
	return left || fault.Active(fault.NoEvictCheck)
}

// wakeSleepers hands every registered sleeper a token, as a release's kick
// would (kickBegin, acked by the waiter), and returns how many it woke. A
// switch calls it once its gate is closed, instead of evicting them, when
// some sleeper has no slot (evict.go): each woken paravirt waiter then
// sees the closed gate before it would sleep again and backs out
// (lockSlowParavirt). A waiter that registers after this scan sees the
// closed gate itself. A token given to a waiter that left without sleeping
// stays in its lock's sema, and makes the next sleeper of that lock retry
// at once, like any kick that found nobody asleep. Sleepers the registry
// could not hold (Stats.Untracked) are not woken: a switch then waits for
// their kick, or gives up at its bound.
func wakeSleepers() int {
	if sleepers.Load() == 0 {
		return 0
	}
	n := 0
	for i := range registry {
		s := &registry[i]
		if slotState(s.state.Load()) != slotAsleep {
			continue
		}
		l := s.lock.Load()
		bucketOf(l).kickBegin()
		semrelease(&l.sema, false, 0)
		n++
	}
	stats.switchWakes.Add(int64(n))
	return n
}

// monitor scans the registry every monitorPeriod while anyone sleeps, and
// waits on monitorRun when nobody does, so an idle process pays nothing.
func monitor() {
	var seen kickHistory
	for {
		if sleepers.Load() == 0 {
			<-monitorRun
			continue
		}
		time.Sleep(monitorPeriod)
		scan(registry[:], &seen, nanotime())
	}
}

// kickHistory is the monitor's memory of each bucket's kicks word: the
// value it last saw and since when (nanotime) it has been that value.
type kickHistory [nBuckets]struct {
	k     uint64
	since int64
}

// inFlight reports whether bucket b has a kick in flight that the monitor
// should trust: its kicks word k counts one and has changed within
// staleKick. The first sighting of a value starts its clock.
func (h *kickHistory) inFlight(b int, k uint64, now int64) bool {
	e := &h[b]
	if e.k != k || e.since == 0 {
		e.k, e.since = k, now
	}
	return kicksInFlight(k) != 0 && now-e.since < int64(staleKick)
}

// scan rescues every lock that has a waiter asleep for rescueAfter on a free
// word with no kick in flight. The reads are ordered so that a kick on its
// way is always seen:
//
//	k1 := kicks; none in flight     a kick that cleared the word began before,
//	word free, sema == 0            and its waiter acks only after re-marking
//	slot unchanged                  the word, so k1 or the word shows it
//	kicks == k1                     no kick began during the reads
//
// "None in flight" ignores a count that has not moved for staleKick (see
// kickHistory.inFlight).
func scan(slots []slot, seen *kickHistory, now int64) int {
	rescued := 0
	for i := range slots {
		s := &slots[i]
		w := s.state.Load()
		if slotState(w) != slotAsleep {
			continue // free, being filled, or evicted (a switch owes it a token)
		}
		l := s.lock.Load()
		since := s.since.Load()
		if since == 0 || now-since < int64(rescueAfter) {
			continue
		}
		if g := s.g.Load(); g != nil && !g.IsOpen() {
			// A switch is draining: it evicts every sleeper counted in g
			// and then pays it a token or puts it back with a kick
			// (evict.go). Until its scan reaches this one, the kick a
			// release meant for it may have been taken by a sleeper the
			// scan already evicted, which leaves without re-marking the
			// word: a wakeup the switch owes, not a lost one. A switcher
			// the OS deschedules mid-scan can make that wait longer than
			// rescueAfter.
			continue
		}
		bi := bucketIndex(l)
		b := &buckets[bi]
		k1 := b.kicks.Load()
		if seen.inFlight(bi, k1, now) ||
			atomic.LoadUint32(&l.key)&locked != 0 || // free or reserved: nobody will release it
			atomic.LoadUint32(&l.sema) != 0 ||
			s.state.Load() != w || s.lock.Load() != l || s.since.Load() != since ||
			b.kicks.Load() != k1 {
			continue
		}
		b.kickBegin() // acked by the waiter it wakes, like any kick
		stats.rescues.Add(1)
		semrelease(&l.sema, false, 0)
		rescued++
	}
	return rescued
}
