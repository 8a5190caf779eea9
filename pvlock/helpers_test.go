package pvlock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// publicLocker runs a SpinLock through its public methods, that is, through
// the lock-op sites and the switch barrier.
type publicLocker struct{ l *SpinLock }

func (p publicLocker) Lock()   { p.l.Lock() }
func (p publicLocker) Unlock() { p.l.Unlock() }

func other(m Mode) Mode {
	if m == Native {
		return Paravirt
	}
	return Native
}

// mustSwitch switches to m, retrying ErrBusy for up to 5 s.
func mustSwitch(t testing.TB, m Mode) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := Switch(context.Background(), m)
		if err == nil {
			if CurrentMode() != m {
				t.Fatalf("Switch(%v) returned nil but CurrentMode() = %v", m, CurrentMode())
			}
			return
		}
		if !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			t.Fatalf("Switch(%v): %v", m, err)
		}
	}
}

func mustSetBound(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	prev, err := SetDrainBound(d)
	if err != nil {
		t.Fatal(err)
	}
	return prev
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// sitesMode returns the mode the lock-op sites run; only where the
// mechanism is Patched.
func sitesMode() Mode { return lockOps.mode() }

// stuckDrain makes every switch's drain impossible until release: an op
// counted in the barrier that never leaves, as a waiter would that a switch
// cannot wake (one asleep beyond the sleeper registry, or one whose goroutine
// the OS does not run). Real waiters that marked a word are woken and back
// out (TestSwitchWaitsForParkedWaiter), so the tests of the bound and the
// abort count one themselves.
func stuckDrain(t *testing.T) (release func()) {
	t.Helper()
	tok, ok := sw.b.Enter(uint32(CurrentMode()))
	if !ok {
		t.Fatal("stuckDrain: the gate is closed")
	}
	var once sync.Once
	release = func() { once.Do(func() { sw.b.Exit(tok) }) }
	t.Cleanup(release) // also when the test fails before it releases
	return release
}

// inMode switches to m for the rest of the test, and back to the mode the
// test started in when it ends.
func inMode(t *testing.T, m Mode) {
	t.Helper()
	start := CurrentMode()
	t.Cleanup(func() { mustSwitch(t, start) })
	mustSwitch(t, m)
}

// noRescues fails the test if the backstop rescued a sleeper since before:
// each rescue is a lost wakeup.
func noRescues(t *testing.T, before Stats) {
	t.Helper()
	if r := ReadStats().Sub(before).Rescues; r != 0 {
		t.Fatalf("%d rescues: a wakeup was lost", r)
	}
}

// stateReport describes the switch and the sleepers, for a test that has
// found a hang: the mode, the gate, the barrier's count, and each lock
// with a registered sleeper (its word and semaphore, and how many of its
// slots are asleep or evicted).
func stateReport() string {
	type lockState struct{ asleep, evicted, filling int }
	locks := map[*SpinLock]*lockState{}
	for i := range registry {
		s := &registry[i]
		st := s.state.Load()
		if st == slotFree {
			continue
		}
		l := s.lock.Load()
		if locks[l] == nil {
			locks[l] = &lockState{}
		}
		switch st {
		case slotAsleep:
			locks[l].asleep++
		case slotEvicted:
			locks[l].evicted++
		case slotFilling:
			locks[l].filling++
		}
	}
	r := fmt.Sprintf("mode %v, gate open %v, barrier count %d, at the gate %d, sleepers %d, untracked asleep %d\n",
		CurrentMode(), sw.b.IsOpen(), sw.b.Active(), sw.b.Waiting(), sleepers.Load(), untrackedAsleep.Load())
	for l, s := range locks {
		b := bucketOf(l)
		r += fmt.Sprintf("lock %p: word %d sema %d; slots asleep %d evicted %d filling %d; bucket waiters %d kicks in flight %d\n",
			l, atomic.LoadUint32(&l.key), atomic.LoadUint32(&l.sema), s.asleep, s.evicted, s.filling, b.waiters.Load(), kicksInFlight(b.kicks.Load()))
	}
	return r
}
