package pvlock

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
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

// slot is one registry entry: the lock a waiter sleeps on and when it began.
type slot struct {
	lock  atomic.Pointer[SpinLock]
	since atomic.Int64 // nanotime when the sleep began; 0 while being filled
	_     [cacheLine - 16]byte
}

var (
	registry   [nSlots]slot
	sleepers   atomic.Int32 // registered slots, to let the monitor sleep when 0
	monitorOn  sync.Once
	monitorRun = make(chan struct{}, 1)
)

// register records that a waiter is about to sleep on l, and returns its
// slot (nil when the registry is full: that waiter is not watched, and
// stats.untracked says so).
func register(l *SpinLock) *slot {
	start := rand.Uint32()
	for i := range uint32(nSlots) {
		s := &registry[(start+i)&(nSlots-1)]
		if s.lock.Load() == nil && s.lock.CompareAndSwap(nil, l) {
			s.since.Store(nanotime())
			if sleepers.Add(1) == 1 {
				monitorOn.Do(func() { go monitor() })
				select {
				case monitorRun <- struct{}{}:
				default:
				}
			}
			return s
		}
	}
	stats.untracked.Add(1)
	return nil
}

func unregister(s *slot) {
	if s == nil {
		return
	}
	s.since.Store(0)
	s.lock.Store(nil)
	sleepers.Add(-1)
}

// wakeSleepers hands every registered sleeper a token, as a release's kick
// would (kickBegin, acked by the waiter), and returns how many it woke. A
// switch calls it once its gate is closed: each woken paravirt waiter then
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
		l := registry[i].lock.Load()
		if l == nil {
			continue
		}
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
		l := s.lock.Load()
		if l == nil {
			continue
		}
		since := s.since.Load()
		if since == 0 || now-since < int64(rescueAfter) {
			continue
		}
		bi := bucketIndex(l)
		b := &buckets[bi]
		k1 := b.kicks.Load()
		if seen.inFlight(bi, k1, now) ||
			atomic.LoadUint32(&l.key)&locked != 0 || // free or reserved: nobody will release it
			atomic.LoadUint32(&l.sema) != 0 ||
			s.lock.Load() != l || s.since.Load() != since ||
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
