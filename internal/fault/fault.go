// Package fault removes one protection of the live switch at a time, on
// request, so that a test can show the protection is needed: each fault
// names the protection it removes, and the test that guards that
// protection must fail while the fault is active (.ci/faults checks this
// for every fault).
//
// Faults exist only in builds with the pvswitch_testhooks tag, the one tag
// for test hooks and fault injection. There the faults to activate are read
// once, at start, from the environment variable PVSWITCH_FAULTS (a
// comma-separated list of names; an unknown name stops the process with a
// message that lists the known ones). In every other build Active is a
// constant false that the compiler folds away, so a guarded protection
// costs nothing and cannot be switched off.
package fault

// Fault names one protection that can be removed.
type Fault uint8

// The faults. Each comment says what goes missing while it is active.
const (
	// NoDrain: barrier.Drain returns at once, so a switch commits while
	// slow-path waiters of the old variant are still running.
	NoDrain Fault = iota + 1
	// NoValidate: barrier.Enter does not check the gate and the published
	// state after counting, so an op that dispatched to the old variant
	// before a switch and counted after it runs the old slow path.
	NoValidate
	// WrongShard: barrier.Exit decrements a shard other than the one Enter
	// incremented, as code that used the current P's shard would after a
	// migration.
	WrongShard
	// PlainGate: barrier.Close stores the gate with a plain MOV, which x86
	// may hold in the store buffer while the switcher reads the counts.
	PlainGate
	// NoHandlerWait: the patch window does not wait for trap handlers that
	// may hold an old descriptor, so one can act after the switch returned.
	NoHandlerWait
	// NoWake: barrier.Drain does not run its kick (pvlock's eviction of
	// the sleepers), so a drain waits for every parked paravirt waiter to
	// be woken by a release.
	NoWake
	// NoParkCheck: a paravirt waiter about to sleep does not check the gate
	// after registering as a sleeper, so it can sleep, counted, after the
	// switcher's kick has passed it by.
	NoParkCheck
	// NoHandoffClear: a paravirt waiter that backs out of a draining
	// switch leaves a lock reserved for the sleepers, all of whom leave
	// too: nobody can take it again.
	NoHandoffClear
	// NoWithdraw: a starving waiter that takes the lock leaves its
	// handoff request in the word, so its own release reserves the lock
	// for a sleeper that may not exist.
	NoWithdraw
	// NoEvictCheck: a paravirt waiter that a switch evicted while it slept
	// carries on as a counted paravirt waiter when it wakes: it marks the
	// word under the new mode and leaves a count it no longer holds.
	NoEvictCheck
	// NoEvictWake: a switch to native that evicted sleepers and committed
	// never hands them their tokens: they sleep until something else
	// wakes them.
	NoEvictWake
	// NoEvictClear: a switch that evicts a sleeper leaves its handoff
	// request in the word, so a word reserved for it stays reserved.
	NoEvictClear
	// NoEvictDefer: a paravirt waiter sleeps on its lock's semaphore even
	// while waiters a switch to native evicted from its bucket have not
	// woken, so it can take the token owed to one of them.
	NoEvictDefer
	// NoEvictRestore: a switch to native that did not commit leaves the
	// waiters it evicted out of every count, though the mode stays
	// paravirt and it pays them no token.
	NoEvictRestore
	// NoRestoreKick: a switch that did not commit puts the waiters it
	// evicted back without a kick, though a release may have skipped its
	// kick while they were not counted.
	NoRestoreKick
	numFaults
)

// Env is the environment variable that activates faults in builds with the
// pvswitch_testhooks tag, e.g. PVSWITCH_FAULTS=nodrain.
const Env = "PVSWITCH_FAULTS"

var names = [numFaults]string{
	NoDrain:        "nodrain",
	NoValidate:     "novalidate",
	WrongShard:     "wrongshard",
	PlainGate:      "plaingate",
	NoHandlerWait:  "nohandlerwait",
	NoWake:         "nowake",
	NoParkCheck:    "noparkcheck",
	NoHandoffClear: "nohandoffclear",
	NoWithdraw:     "nowithdraw",
	NoEvictCheck:   "noevictcheck",
	NoEvictWake:    "noevictwake",
	NoEvictClear:   "noevictclear",
	NoEvictDefer:   "noevictdefer",
	NoEvictRestore: "noevictrestore",
	NoRestoreKick:  "norestorekick",
}

// String returns the fault's name, as PVSWITCH_FAULTS spells it.
func (f Fault) String() string {
	if f > 0 && f < numFaults {
		return names[f]
	}
	return "fault(?)"
}

// Parse returns the fault named name.
func Parse(name string) (Fault, bool) {
	for f := Fault(1); f < numFaults; f++ {
		if names[f] == name {
			return f, true
		}
	}
	return 0, false
}

// Names returns the names of every fault, in declaration order.
func Names() []string {
	out := make([]string, 0, numFaults-1)
	for f := Fault(1); f < numFaults; f++ {
		out = append(out, names[f])
	}
	return out
}
