package pvlock

import (
	"context"
	"errors"
	"slices"
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

// stuckDrain makes the drain of a switch from paravirt impossible, the one
// way left to a correct program: more paravirt waiters asleep on one lock
// than the sleeper registry holds, so that a switch cannot wake the last
// ones. The process must be in paravirt. It returns a function that lets
// them all have the lock and waits until they have.
func stuckDrain(t *testing.T) (release func()) {
	t.Helper()
	if CurrentMode() != Paravirt {
		t.Fatalf("stuckDrain in mode %v", CurrentMode())
	}
	before := ReadStats()
	var l SpinLock
	l.Lock()
	const n = nSlots + 16
	done := make(chan struct{}, n)
	for range n {
		go func() { l.Lock(); l.Unlock(); done <- struct{}{} }()
	}
	waitFor(t, "an untracked sleeper", func() bool {
		return ReadStats().Sub(before).Untracked > 0 && sw.b.Active() > nSlots
	})
	return func() {
		l.Unlock()
		for range n {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("a waiter of the stuck drain never got its lock")
			}
		}
	}
}
