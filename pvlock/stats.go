package pvlock

import "github.com/pvswitch/pvswitch/internal/shard"

// Stats are cumulative counts since the process started, over all
// SpinLocks. Nothing is counted on the fast paths (an uncontended Lock,
// TryLock or Unlock).
type Stats struct {
	// SlowAcquires counts Lock calls that did not get the lock with their
	// first compare-and-swap, in either variant.
	SlowAcquires int64
	// Parks counts paravirt waiters' sleeps on the runtime semaphore.
	Parks int64
	// Kicks counts paravirt releases that woke a sleeper.
	Kicks int64
	// Rescues counts sleepers the backstop woke: each one is a lost wakeup
	// that correct code never has. Should stay 0.
	Rescues int64
	// Untracked counts sleeps the backstop could not watch because its
	// registry was full (more than 1024 goroutines asleep at once). A
	// switch cannot wake such a sleeper either (SwitchWakes).
	Untracked int64
	// Handoffs counts acquisitions by a woken paravirt waiter of a lock
	// its release reserved for it, because a waiter had waited 1 ms or
	// more (bounded waiting).
	Handoffs int64
	// SwitchWakes counts paravirt sleepers a switch woke: those it
	// evicted (SwitchEvictions), once its gate opened, and, while some
	// sleeper was Untracked, every registered one, to back out of the old
	// variant themselves.
	SwitchWakes int64
	// SwitchEvictions counts paravirt sleepers a switch took out of the
	// old variant itself, without waiting for them to run: its drain does
	// not wait for them, and it wakes them after it opens the gate.
	SwitchEvictions int64
}

var stats struct {
	slow, parks, kicks, rescues, untracked, switchWakes, switchEvictions, handoffs shard.Counter
}

// ReadStats returns the current cumulative counts. The counters are read one
// after another while other goroutines may be counting, so the fields are
// each exact at some moment during the call, not all at one moment.
func ReadStats() Stats {
	return Stats{
		SlowAcquires: stats.slow.Sum(),
		Parks:        stats.parks.Sum(),
		Kicks:        stats.kicks.Sum(),
		Rescues:      stats.rescues.Sum(),
		Untracked:    stats.untracked.Sum(),
		SwitchWakes:  stats.switchWakes.Sum(),
		Handoffs:     stats.handoffs.Sum(),

		SwitchEvictions: stats.switchEvictions.Sum(),
	}
}

// Sub returns the counts from earlier to s, field by field: what happened
// between two ReadStats calls.
func (s Stats) Sub(earlier Stats) Stats {
	return Stats{
		SlowAcquires: s.SlowAcquires - earlier.SlowAcquires,
		Parks:        s.Parks - earlier.Parks,
		Kicks:        s.Kicks - earlier.Kicks,
		Rescues:      s.Rescues - earlier.Rescues,
		Untracked:    s.Untracked - earlier.Untracked,
		SwitchWakes:  s.SwitchWakes - earlier.SwitchWakes,
		Handoffs:     s.Handoffs - earlier.Handoffs,

		SwitchEvictions: s.SwitchEvictions - earlier.SwitchEvictions,
	}
}
