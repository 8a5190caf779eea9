//go:build pvswitch_testhooks && amd64 && linux

package pvlock

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/barrier"
	"github.com/pvswitch/pvswitch/internal/int3"
	"github.com/pvswitch/pvswitch/internal/patch"
)

// The tests in this file need the stall hooks of the pvswitch_testhooks
// build tag. Each shows one protection of the live switch at work (the
// races are described in internal/barrier's package doc), and fails when
// the fault named beside it removes that protection (PVSWITCH_FAULTS=name
// in a pvswitch_testhooks build; .ci/faults runs each):
//
//	test                           fault           direction
//	TestValidateAfterCount         novalidate      paravirt -> native
//	TestSwitchWaitsForParkedWaiter nodrain         paravirt -> native   (switch_test.go)
//	TestSwitchAfterSlowPaths       wrongshard      either               (switch_test.go)
//	TestHandlerWaitAcrossSwitch    nohandlerwait   native -> paravirt
//	TestSwitchWaitsForParkedWaiter nowake          paravirt -> native   (switch_test.go)
//	TestParkChecksGate             noparkcheck     paravirt -> native
//	TestBackOutClearsReservation   nohandoffclear  paravirt -> native
//	TestSwitchWaitsForParkedWaiter noevictcheck    paravirt -> native   (switch_test.go)
//	TestSwitchWaitsForParkedWaiter noevictwake     paravirt -> native   (switch_test.go)
//	TestEvictionClearsReservation  noevictclear    paravirt -> native
//	TestAbortRestoresEvicted       noevictrestore  paravirt -> native, given up
//	TestEvictedWaiterKeepsItsToken noevictdefer    native -> paravirt, just after
//	TestAbortKicksRestored         norestorekick   paravirt -> native, given up

func waitChan(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestValidateAfterCount: a goroutine that dispatched to the paravirt slow
// path before a switch to native, and counts itself only after the commit,
// must notice the new mode and re-run the site (native). Without the check
// after counting it runs the paravirt slow path, parks on a word that native
// releases clear without a kick, and its wakeup is lost.
func TestValidateAfterCount(t *testing.T) {
	inMode(t, Paravirt)
	var l SpinLock
	l.Lock()
	hit, release := barrier.ArmStall(barrier.StallBeforeCount)
	defer barrier.DisarmStall()
	before := ReadStats()
	got := make(chan struct{})
	go func() { l.Lock(); close(got) }()
	waitChan(t, "the waiter to stall between dispatch and count", hit)

	// The drain cannot see the stalled goroutine: the switch commits.
	if err := Switch(context.Background(), Native); err != nil {
		t.Fatal(err)
	}
	release()
	// Give it time to go wherever it goes; if it parks, it parks now.
	for t0 := time.Now(); time.Since(t0) < 100*time.Millisecond && ReadStats().Parks == before.Parks; {
		time.Sleep(time.Millisecond)
	}
	l.Unlock() // native: a plain store
	waitChan(t, "the waiter to get the lock", got)
	l.Unlock()
	after := ReadStats()
	if p := after.Parks - before.Parks; p != 0 {
		t.Errorf("the waiter parked %d times: it ran the paravirt slow path after the switch to native", p)
	}
	if r := after.Rescues - before.Rescues; r != 0 {
		t.Errorf("%d rescues: a wakeup was lost", r)
	}
}

// TestDrainSeesCountedOp: a goroutine stalled between its count and its
// check of the gate keeps the drain from finishing.
func TestDrainSeesCountedOp(t *testing.T) {
	inMode(t, Paravirt)
	var l SpinLock
	l.Lock()
	hit, release := barrier.ArmStall(barrier.StallBeforeCheck)
	defer barrier.DisarmStall()
	got := make(chan struct{})
	go func() { l.Lock(); close(got) }()
	waitChan(t, "the waiter to stall between count and check", hit)
	if err := Switch(context.Background(), Native); err == nil {
		t.Fatal("Switch committed while a counted op had not checked the gate")
	}
	release()
	l.Unlock()
	waitChan(t, "the waiter to get the lock", got)
	l.Unlock()
}

// TestParkChecksGate: a counted paravirt waiter that is about to sleep when
// a switch to native closes the gate and wakes the sleepers (it has not
// registered yet, so the wake passes it by) must see the closed gate after
// registering and back out instead of sleeping; the switch then commits.
// Without that check (fault noparkcheck) it sleeps, counted, until the lock
// is released: the drain cannot finish and the switch gives up.
func TestParkChecksGate(t *testing.T) {
	inMode(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, time.Second))
	var l SpinLock
	l.Lock()
	hit, release := barrier.ArmStall(barrier.StallBeforePark)
	defer barrier.DisarmStall()
	got := make(chan struct{})
	go func() { l.Lock(); close(got) }()
	waitChan(t, "the waiter to stall before it parks", hit)
	switched := make(chan error, 1)
	go func() { switched <- Switch(context.Background(), Native) }()
	waitFor(t, "the switch to close the gate and wake the (no) sleepers", func() bool { return !sw.b.IsOpen() })
	time.Sleep(10 * time.Millisecond) // let the wake pass go by
	release()
	err := <-switched
	l.Unlock()
	waitChan(t, "the waiter to get the lock", got)
	l.Unlock()
	if err != nil {
		t.Fatalf("Switch with a waiter about to park: %v, want nil (the waiter backs out at the gate)", err)
	}
}

// TestBackOutClearsReservation: a starving waiter that asked for a handoff
// (the word says 7) backs out of a switch to native after the holder's
// release reserved the word for it (4). It must free the word as it leaves:
// nobody else can take a reserved word, and after the switch no sleeper
// is left to take it. Without that (fault nohandoffclear) the word stays
// reserved and the waiter, now native, spins on it for ever.
func TestBackOutClearsReservation(t *testing.T) {
	inMode(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, 5*time.Second))
	var l SpinLock
	l.Lock()
	got := make(chan struct{})
	go func() { l.Lock(); l.Unlock(); close(got) }()
	waitFor(t, "the waiter to park", func() bool { return word(&l) == lockedParked && sleepers.Load() == 1 })
	time.Sleep(2 * starveAfter) // it is starving from now on
	hit, release := barrier.ArmStall(barrier.StallBeforePark)
	defer barrier.DisarmStall()
	// Wake it as a kick would, with the lock still held: it swaps in the
	// handoff request and goes back to sleep, and stops before it does.
	bucketOf(&l).kickBegin()
	semrelease(&l.sema, false, 0)
	waitChan(t, "the woken waiter to stall before it parks again", hit)
	if w := word(&l); w != lockedHandoff {
		t.Fatalf("word %d after a starving waiter's swap, want %d", w, lockedHandoff)
	}
	switched := make(chan error, 1)
	go func() { switched <- Switch(context.Background(), Native) }()
	waitFor(t, "the switch to close the gate", func() bool { return !sw.b.IsOpen() })
	l.Unlock() // still the paravirt release: reserves the word for the waiter
	if w := word(&l); w != reserved {
		t.Fatalf("word %d after the release of a handoff request, want reserved (%d)", w, reserved)
	}
	release() // it registers, sees the closed gate and backs out
	if err := <-switched; err != nil {
		t.Fatalf("Switch: %v", err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		w := word(&l)
		atomic.StoreUint32(&l.key, free) // let the stuck waiter go
		t.Fatalf("the waiter never got the lock after backing out: the word stayed %d", w)
	}
}

// TestHandlerWaitAcrossSwitch: a thread that trapped on the release site
// during a switch from native to paravirt, and whose handler loaded the old
// descriptor (the native store), must finish that store before Switch
// returns. Otherwise the store can land after the commit, over a paravirt
// waiter that has marked the word and parked: a lost wakeup.
func TestHandlerWaitAcrossSwitch(t *testing.T) {
	if ReadStatus().Mechanism != Patched {
		t.Skip("needs the patched mechanism")
	}
	start := CurrentMode()
	defer mustSwitch(t, start)
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no stop-the-world while a thread is stalled
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(6, runtime.GOMAXPROCS(0))))
	mustSwitch(t, Native)

	var l SpinLock
	l.Lock()
	int3.StallArm(releaseSite.Addr())
	defer int3.StallRelease()
	releaserDone := make(chan struct{})
	var giveUp atomic.Bool
	go func() { // releases and re-takes l until one release traps and stalls
		defer close(releaserDone)
		for int3.Stalled() == 0 && !giveUp.Load() {
			l.Unlock()
			l.Lock()
		}
	}()
	defer giveUp.Store(true)
	patch.SetArmedHook(func() { // inside the window, before the commit
		deadline := time.Now().Add(3 * time.Second)
		for int3.Stalled() == 0 && time.Now().Before(deadline) {
			syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		}
	})
	var returned atomic.Bool
	switched := make(chan error, 1)
	go func() {
		err := Switch(context.Background(), Paravirt)
		returned.Store(true)
		switched <- err
	}()
	waitFor(t, "a release to trap and stall in the window", func() bool { return int3.Stalled() > 0 })
	patch.SetArmedHook(nil)
	time.Sleep(100 * time.Millisecond)
	before := ReadStats()
	returnedEarly := returned.Load()
	waiterDone := make(chan struct{})
	if returnedEarly {
		// The switch is done while the old store is still pending: a
		// paravirt waiter marks the word and parks...
		go func() { l.Lock(); close(waiterDone) }()
		waitFor(t, "the paravirt waiter to park", func() bool { return ReadStats().Parks > before.Parks })
	}
	int3.StallRelease() // ...and the old native store clears its mark.
	if err := <-switched; err != nil {
		t.Fatal(err)
	}
	<-releaserDone // the releaser holds l again
	if returnedEarly {
		l.Unlock() // the word says 1: no kick, the waiter's mark is gone
		waitChan(t, "the backstop to wake the waiter", waiterDone)
		t.Errorf("Switch returned while a trap handler still held the old descriptor: the old store cleared a parked waiter's mark (rescues %d)",
			ReadStats().Rescues-before.Rescues)
	}
	l.Unlock()
}

// TestEvictionClearsReservation: a starving waiter asked for a handoff (7),
// the holder's paravirt release reserved the word for it (4) and handed it
// a token, and a switch to native evicts it before it runs (it is stopped
// just after its wake, still registered as asleep). The switch must
// withdraw the request for it, freeing the word: the evicted waiter
// re-runs the site as a native waiter, and nobody can take a reserved
// word. Without that (fault noevictclear) the word stays reserved and the
// waiter spins on it for ever.
func TestEvictionClearsReservation(t *testing.T) {
	inMode(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, 5*time.Second))
	var l SpinLock
	l.Lock()
	before := ReadStats()
	got := make(chan struct{})
	go func() { l.Lock(); l.Unlock(); close(got) }()
	waitFor(t, "the waiter to park", func() bool { return word(&l) == lockedParked && sleepers.Load() == 1 })
	time.Sleep(2 * starveAfter) // it is starving from now on
	hit, release := barrier.ArmStall(barrier.StallBeforePark)
	defer barrier.DisarmStall()
	// Wake it as a kick would, with the lock still held: it swaps in the
	// handoff request and goes back to sleep.
	bucketOf(&l).kickBegin()
	semrelease(&l.sema, false, 0)
	waitChan(t, "the woken waiter to stall before it parks again", hit)
	if w := word(&l); w != lockedHandoff {
		t.Fatalf("word %d after a starving waiter's swap, want %d", w, lockedHandoff)
	}
	release()
	waitFor(t, "the waiter to park again", func() bool { return ReadStats().Sub(before).Parks == 2 && sleepers.Load() == 1 })
	hit, release = barrier.ArmStall(barrier.StallAfterWake)
	l.Unlock() // reserves the word and hands the waiter the token
	waitChan(t, "the waiter to stall after its wake", hit)
	if w := word(&l); w != reserved {
		t.Fatalf("word %d after the release of a handoff request, want reserved (%d)", w, reserved)
	}
	if err := Switch(context.Background(), Native); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if n := ReadStats().Sub(before).SwitchEvictions; n != 1 {
		t.Fatalf("the switch evicted %d sleepers, want the woken, stopped waiter", n)
	}
	release() // it finds itself evicted and re-runs the site: native
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		w := word(&l)
		atomic.StoreUint32(&l.key, free) // let the stuck waiter go
		t.Fatalf("the evicted waiter never got the lock: the word stayed %d", w)
	}
	noRescues(t, before)
}

// TestAbortRestoresEvicted: a switch to native evicts a parked waiter, then
// gives up (another counted op does not drain). The waiter must be put
// back as an ordinary paravirt sleeper, counted again, so that the
// holder's paravirt release kicks it. Without the restore (fault
// noevictrestore) it stays evicted and uncounted: the release sees nobody
// to kick, the backstop does not watch evicted slots, and it sleeps for
// ever.
func TestAbortRestoresEvicted(t *testing.T) {
	inMode(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, 50*time.Millisecond))
	var l, other SpinLock
	l.Lock()
	other.Lock()
	before := ReadStats()
	got := make(chan struct{})
	go func() { l.Lock(); l.Unlock(); close(got) }()
	waitFor(t, "the waiter to park", func() bool { return word(&l) == lockedParked && sleepers.Load() == 1 })
	// A waiter on another lock, counted and stopped before its gate
	// check: the drain cannot finish while it is there.
	hit, release := barrier.ArmStall(barrier.StallBeforeCheck)
	defer barrier.DisarmStall()
	otherGot := make(chan struct{})
	go func() { other.Lock(); other.Unlock(); close(otherGot) }()
	waitChan(t, "the second waiter to stall between count and check", hit)
	err := Switch(context.Background(), Native)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Switch with an op that cannot drain: %v, want ErrBusy", err)
	}
	if n := ReadStats().Sub(before).SwitchEvictions; n != 1 {
		t.Fatalf("the switch evicted %d sleepers, want the parked waiter", n)
	}
	release()
	other.Unlock()
	waitChan(t, "the second waiter to get its lock", otherGot)
	time.Sleep(20 * time.Millisecond) // let an un-restored waiter be missed
	l.Unlock()                        // paravirt: must kick the restored waiter
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatalf("the evicted waiter of a switch that gave up never got the lock: %s", stateReport())
	}
	noRescues(t, before)
	if a := sw.b.Active(); a != 0 {
		t.Fatalf("barrier count %d with every waiter gone", a)
	}
}

// TestEvictedWaiterKeepsItsToken: a switch to native evicts a parked
// waiter and pays it a token on the lock's semaphore, which goes to
// whoever takes it first. After a switch back to paravirt right away, a
// paravirt waiter of the same lock must not sleep on the semaphore until
// the evicted waiter has taken its token: otherwise it can take the
// token, and the evicted waiter, counted nowhere and not watched by the
// backstop, sleeps for ever (fault noevictdefer). One P, so that the
// evicted waiter, readied by the first switch, runs only when the test
// goroutine blocks: after the second switch, and after the would-be thief
// is started, which runs first.
func TestEvictedWaiterKeepsItsToken(t *testing.T) {
	inMode(t, Paravirt)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	defer SetDrainBound(mustSetBound(t, time.Second))
	before := ReadStats()
	const rounds = 20
	for i := range rounds {
		var l SpinLock
		l.Lock()
		got := make(chan struct{}, 2)
		go func() { l.Lock(); l.Unlock(); got <- struct{}{} }()
		waitFor(t, "the waiter to park", func() bool { return word(&l) == lockedParked && sleepers.Load() == 1 })
		if err := Switch(context.Background(), Native); err != nil {
			t.Fatal(err)
		}
		if err := Switch(context.Background(), Paravirt); err != nil {
			t.Fatal(err)
		}
		go func() { l.Lock(); l.Unlock(); got <- struct{}{} }() // the would-be thief
		time.Sleep(time.Millisecond)
		l.Unlock()
		for range 2 {
			select {
			case <-got:
			case <-time.After(5 * time.Second):
				atomic.StoreUint32(&l.key, free)
				t.Fatalf("round %d: a waiter never got the lock: %s", i, stateReport())
			}
		}
		waitFor(t, "the waiters to leave the registry", func() bool { return sleepers.Load() == 0 })
	}
	noRescues(t, before)
}

// TestAbortKicksRestored: a switch to native evicts a parked waiter; while
// it drains (another counted op keeps it from finishing), the holder's
// release, still paravirt, finds the word marked but nobody counted in
// the bucket, clears the mark and kicks nobody. The switch then gives up
// and puts the waiter back: it must kick it too, or the waiter sleeps on
// a free word with no release to come, until the backstop rescues it
// (fault norestorekick).
func TestAbortKicksRestored(t *testing.T) {
	inMode(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, 300*time.Millisecond))
	var l, other SpinLock
	l.Lock()
	other.Lock()
	before := ReadStats()
	got := make(chan struct{})
	go func() { l.Lock(); l.Unlock(); close(got) }()
	waitFor(t, "the waiter to park", func() bool { return word(&l) == lockedParked && sleepers.Load() == 1 })
	hit, release := barrier.ArmStall(barrier.StallBeforeCheck)
	defer barrier.DisarmStall()
	otherGot := make(chan struct{})
	go func() { other.Lock(); other.Unlock(); close(otherGot) }()
	waitChan(t, "the second waiter to stall between count and check", hit)
	switched := make(chan error, 1)
	go func() { switched <- Switch(context.Background(), Native) }()
	waitFor(t, "the switch to evict the parked waiter", func() bool { return ReadStats().Sub(before).SwitchEvictions == 1 })
	l.Unlock() // paravirt, gate closed: 3 -> 0, and nobody counted to kick
	if w := word(&l); w != free {
		t.Fatalf("word %d after the release, want free", w)
	}
	if err := <-switched; !errors.Is(err, ErrBusy) {
		t.Fatalf("Switch with an op that cannot drain: %v, want ErrBusy", err)
	}
	release()
	other.Unlock()
	waitChan(t, "the second waiter to get its lock", otherGot)
	waitChan(t, "the restored waiter to get the lock", got)
	noRescues(t, before)
}
