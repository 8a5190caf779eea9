//go:build !pvswitch_flagdispatch

package pvlock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/race"

	"github.com/pvswitch/pvswitch/internal/patch"
)

func TestSwitchBasics(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	var l SpinLock
	for _, m := range []Mode{Native, Paravirt, Native, Paravirt} {
		mustSwitch(t, m)
		l.Lock()
		if l.TryLock() {
			t.Fatal("TryLock succeeded on a held lock")
		}
		l.Unlock()
		if w := word(&l); w != free {
			t.Fatalf("mode %v: word after Unlock = %d", m, w)
		}
	}
	// Switching to the current mode is a no-op.
	before := ReadStatus().Switches
	if err := Switch(context.Background(), CurrentMode()); err != nil {
		t.Fatalf("Switch to the current mode: %v", err)
	}
	if ReadStatus().Switches != before {
		t.Fatal("a switch to the current mode was counted as a switch")
	}
	if err := Switch(context.Background(), Mode(9)); !errors.Is(err, ErrMode) {
		t.Fatalf("Switch(Mode(9)) = %v, want ErrMode", err)
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := SetDrainBound(d); err == nil || !strings.Contains(err.Error(), "pvlock") {
			t.Fatalf("SetDrainBound(%v) = %v, want an error naming pvlock", d, err)
		}
	}
	if prev := mustSetBound(t, time.Second); prev != DefaultDrainBound {
		t.Fatalf("SetDrainBound returned previous bound %v, want the default %v", prev, DefaultDrainBound)
	}
	mustSetBound(t, DefaultDrainBound)
	s := ReadStatus()
	t.Logf("status: %v", s)
	if s.Mechanism == Patched {
		if s.Writer == "" || s.Why != nil {
			t.Fatalf("patched status without a writer or with a reason: %+v", s)
		}
	} else if s.Why == nil {
		t.Fatalf("dispatch status without a reason: %+v", s)
	}
	if !strings.Contains(s.String(), "mode="+s.Mode.String()) {
		t.Fatalf("Status.String() = %q", s.String())
	}
}

// TestSwitchLockTakenUnderOtherVariant: a lock taken under one mode is
// released under the other.
func TestSwitchLockTakenUnderOtherVariant(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	for _, m := range []Mode{Native, Paravirt} {
		mustSwitch(t, m)
		var l SpinLock
		l.Lock()
		mustSwitch(t, other(m))
		l.Unlock()
		if w := word(&l); w != free {
			t.Fatalf("taken under %v, released under %v: word %d", m, other(m), w)
		}
	}
}

// TestSwitchWaitsForParkedWaiter: a switch to native while a paravirt
// waiter is parked does not commit while that waiter counts: once the gate
// is closed the switch evicts it (takes it out of the count on its behalf,
// evict.go), commits while the lock is still held, and pays it a token.
// The waiter wakes, finds itself evicted and re-runs the site as a native
// waiter; after the holder's native release it gets the lock, with no
// rescue and nothing left in the count. With the fault nodrain the switch
// commits with the waiter counted and asleep, and the native release loses
// its wakeup; with nowake nobody evicts it, and the switch waits until its
// bound and gives up; with noevictwake it is never paid its token and
// sleeps for ever; with noevictcheck it takes the token for a kick, goes
// on as a paravirt waiter under native, and its mark is lost. Each fails
// this test.
func TestSwitchWaitsForParkedWaiter(t *testing.T) {
	inMode(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, time.Second))

	var l SpinLock
	before := ReadStats()
	l.Lock()
	got := make(chan struct{})
	go func() { l.Lock(); close(got) }()
	waitFor(t, "the waiter to park", func() bool {
		return ReadStats().Parks > before.Parks && word(&l) == lockedParked
	})
	if err := Switch(context.Background(), Native); err != nil {
		t.Fatalf("Switch to native with a parked paravirt waiter: %v", err)
	}
	waitFor(t, "the evicted waiter to wake and leave the registry", func() bool { return sleepers.Load() == 0 })
	select {
	case <-got:
		t.Fatal("the waiter got the lock while it was held")
	default:
	}
	l.Unlock() // the native release: a plain store
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter never got the lock after the native release")
	}
	l.Unlock()
	noRescues(t, before)
	if a := sw.b.Active(); a != 0 {
		t.Fatalf("barrier count %d with the waiter gone", a)
	}
	if d := ReadStats().Sub(before); d.SwitchEvictions != 1 || d.SwitchWakes != 1 {
		t.Fatalf("the switch evicted %d sleepers and woke %d, want the parked waiter both times", d.SwitchEvictions, d.SwitchWakes)
	}
}

// TestNativeWaitersNotCounted: native waiters only ever write 0 -> 1, so no
// switch waits for them: while they spin on a held lock, nothing is counted
// in the barrier, and a switch to paravirt completes; they then wait as
// paravirt waiters and get the lock.
func TestNativeWaitersNotCounted(t *testing.T) {
	inMode(t, Native)
	var l SpinLock
	l.Lock()
	before := ReadStats()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); l.Lock(); l.Unlock() }()
	}
	waitFor(t, "native waiters", func() bool { return ReadStats().Sub(before).SlowAcquires >= 4 })
	if a := sw.b.Active(); a != 0 {
		t.Fatalf("%d native waiters counted in the barrier", a)
	}
	mustSwitch(t, Paravirt)
	waitFor(t, "a waiter to park under paravirt", func() bool { return ReadStats().Sub(before).Parks > 0 })
	l.Unlock()
	wg.Wait()
	noRescues(t, before)
}

// TestSiteAheadOfMode: a slow-path entry that runs the paravirt variant
// while the published mode is native and no switch is under way (what a
// uprobe on the site does: the kernel runs the instruction as built) still
// gets the lock, as a native waiter: slower, never stuck, never parked.
func TestSiteAheadOfMode(t *testing.T) {
	inMode(t, Native)
	var l SpinLock
	l.Lock()
	before := ReadStats()
	got := make(chan struct{})
	go func() {
		for !l.lockSlowMode(Paravirt) {
		}
		close(got)
	}()
	time.Sleep(5 * time.Millisecond)
	l.Unlock()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("a paravirt entry under the native mode never got the lock")
	}
	l.Unlock()
	if p := ReadStats().Sub(before).Parks; p != 0 {
		t.Fatalf("a paravirt entry under the native mode parked %d times", p)
	}
}

// TestSwitchBusy: against an op that never drains, Switch returns ErrBusy
// within its bound, the program keeps running in the old mode, a caller
// whose context ends gives up, and a later switch succeeds.
func TestSwitchBusy(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	for _, from := range []Mode{Paravirt, Native} {
		t.Run("from="+from.String(), func(t *testing.T) {
			mustSwitch(t, from)
			release := stuckDrain(t)
			aborts := ReadStatus().Aborts
			t0 := time.Now()
			err := Switch(context.Background(), other(from))
			took := time.Since(t0)
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("Switch with an op that never drains: %v, want ErrBusy", err)
			}
			if took < DefaultDrainBound || took > DefaultDrainBound+2*time.Second {
				t.Errorf("ErrBusy after %v, want just past the bound %v", took, DefaultDrainBound)
			}
			if CurrentMode() != from || ReadStatus().Aborts != aborts+1 {
				t.Errorf("after ErrBusy: mode %v (want %v), aborts %d (want %d)", CurrentMode(), from, ReadStatus().Aborts, aborts+1)
			}
			// The old mode keeps working: another lock, uncontended.
			var m SpinLock
			m.Lock()
			m.Unlock()

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			err = Switch(ctx, other(from))
			cancel()
			if !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Switch with a 5ms context: %v, want ErrBusy and DeadlineExceeded", err)
			}
			release()
			mustSwitch(t, other(from))
		})
	}
}

// TestSwitchHonoursContext: a context that is already done changes nothing
// (not even the published mode for a moment), and a caller queued behind
// another switch returns when its context ends.
func TestSwitchHonoursContext(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	switches := ReadStatus().Switches
	if err := Switch(ctx, other(start)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Switch with a cancelled context: %v, want context.Canceled", err)
	}
	if CurrentMode() != start || ReadStatus().Switches != switches {
		t.Fatalf("a cancelled Switch changed the mode to %v (switches %d -> %d)", CurrentMode(), switches, ReadStatus().Switches)
	}

	sw.turn <- struct{}{} // another switch is under way
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	t0 := time.Now()
	err := Switch(ctx, other(start))
	took := time.Since(t0)
	cancel()
	<-sw.turn
	if !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Switch queued behind another: %v, want ErrBusy and DeadlineExceeded", err)
	}
	if took > 2*time.Second {
		t.Fatalf("a queued Switch with a 20ms deadline returned after %v", took)
	}
	if CurrentMode() != start {
		t.Fatalf("a queued Switch that gave up changed the mode to %v", CurrentMode())
	}
}

// TestSwitchNestedWaiters: paravirt waiters asleep while holding other
// locks (a goroutine that holds b waits for a, another waits for b) do not
// hold up a switch to native: both are woken and back out at the gate, the
// switch commits with a still held, and after its native release everyone
// gets their locks with no lost wakeup.
func TestSwitchNestedWaiters(t *testing.T) {
	inMode(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, time.Second))
	var a, b SpinLock
	before := ReadStats()
	a.Lock()
	b.Lock()
	holderDone := make(chan struct{})
	go func() { a.Lock(); b.Unlock(); a.Unlock(); close(holderDone) }() // holds b, waits for a
	waiterDone := make(chan struct{})
	go func() { b.Lock(); b.Unlock(); close(waiterDone) }()
	waitFor(t, "both waiters to park", func() bool {
		return word(&a) == lockedParked && word(&b) == lockedParked && sleepers.Load() == 2
	})
	if err := Switch(context.Background(), Native); err != nil {
		t.Fatalf("Switch with nested sleepers: %v", err)
	}
	a.Unlock()
	for _, ch := range []chan struct{}{holderDone, waiterDone} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("a goroutine never got its lock after the switch")
		}
	}
	noRescues(t, before)
}

// TestGatedWaiterTakesFreeLock: a goroutine held at the closed gate still
// takes its lock when it becomes free, before the gate opens.
func TestGatedWaiterTakesFreeLock(t *testing.T) {
	inMode(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, 10*time.Second))
	release := stuckDrain(t)
	switched := make(chan error, 1)
	go func() { switched <- Switch(context.Background(), Native) }()
	defer func() {
		release()
		if err := <-switched; err != nil {
			t.Errorf("Switch after the stuck drain ended: %v", err)
		}
	}()
	waitFor(t, "the gate to close", func() bool { return !sw.b.IsOpen() })
	waiting := sw.b.Waiting()

	var c SpinLock
	c.Lock()
	got := make(chan bool, 1)
	go func() { c.Lock(); got <- sw.b.IsOpen(); c.Unlock() }()
	waitFor(t, "the goroutine to wait at the gate", func() bool { return sw.b.Waiting() > waiting })
	c.Unlock()
	select {
	case open := <-got:
		if open {
			t.Error("the gated goroutine got its lock only after the gate opened")
		}
	case <-time.After(time.Second):
		t.Error("a gated goroutine did not take a free lock")
	}
}

// TestSwitchTorture: many goroutines hammer 4 locks with random, sleeping,
// yielding and nested holds, GC churn and threads above the CPU count,
// while another goroutine switches modes as fast as Switch allows, at
// GOMAXPROCS 2, 8 and 64 (four goroutines per P); and once more at 8 with
// a drain bound so short that most switches give up, after evicting
// sleepers that must then be put back (restoreEvicted).
func TestSwitchTorture(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	d := 6 * time.Second // 18 s in all
	if testing.Short() {
		d = 700 * time.Millisecond
	}
	if race.Enabled {
		d = min(d, 2*time.Second)
	}
	for _, shape := range []struct {
		procs int
		bound time.Duration // 0: the default
	}{{2, 0}, {8, 0}, {64, 0}, {8, 40 * time.Microsecond}} {
		procs, name := shape.procs, fmt.Sprintf("GOMAXPROCS=%d", shape.procs)
		if shape.bound != 0 {
			name += fmt.Sprintf("/bound=%dus", shape.bound.Microseconds())
		}
		t.Run(name, func(t *testing.T) {
			if procs == 64 && race.Enabled {
				// 256 goroutines under the race detector's tenfold
				// slowdown leave the switcher a switch or two in the
				// race run's time; the race run looks for data races,
				// which the two smaller shapes exercise.
				t.Skip("the 64-P shape runs in the normal and test-hook builds, not under -race")
			}
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			if shape.bound != 0 {
				defer SetDrainBound(mustSetBound(t, shape.bound))
			}
			before, st := ReadStats(), ReadStatus()
			locks := make([]SpinLock, 4)
			var lk []sync.Locker
			for i := range locks {
				lk = append(lk, publicLocker{&locks[i]})
			}
			var switches, busy atomic.Int64
			min := int64(100)
			if testing.Short() || race.Enabled {
				min = 10
			}
			// The run lasts d, and longer (up to 30 s) until min switches
			// have completed: the count says switching really happened
			// under the torture, not how fast (the speed of a switch is
			// BenchmarkSwitchUnderLoad's). At GOMAXPROCS=64 on 2 vCPUs
			// one switch took 0.5-0.8 s in about 1 run in 25, as the
			// switcher waited for a CPU among 64 Ps' threads.
			ops := torture(t, tortureConfig{
				locks:      lk,
				goroutines: 4 * procs,
				duration:   d,
				enough: func() bool {
					if shape.bound != 0 { // what counts is switches tried, most of which give up
						return switches.Load()+busy.Load() >= 10*min
					}
					return switches.Load() >= min
				},
				maxDuration: max(d, 30*time.Second),
				between: func(stop <-chan struct{}) {
					for {
						select {
						case <-stop:
							return
						default:
						}
						err := Switch(context.Background(), other(CurrentMode()))
						switch {
						case err == nil:
							switches.Add(1)
						case errors.Is(err, ErrBusy):
							busy.Add(1)
						default:
							t.Errorf("Switch: %v", err)
							return
						}
					}
				},
			})
			d, st2 := ReadStats().Sub(before), ReadStatus()
			t.Logf("%d critical sections, %d switches, %d busy; slow=%d parks=%d kicks=%d evictions=%d rescues=%d; last switch %v, worst %v, traps %d",
				ops, switches.Load(), busy.Load(), d.SlowAcquires, d.Parks,
				d.Kicks, d.SwitchEvictions, d.Rescues, st2.LastSwitch, st2.WorstSwitch, st2.Traps-st.Traps)
			if r := d.Rescues; r != 0 {
				t.Fatalf("%d rescues: a wakeup was lost", r)
			}
			if a := sw.b.Active(); a != 0 {
				t.Fatalf("barrier count %d after the torture: %s", a, stateReport())
			}
			if shape.bound != 0 {
				if busy.Load() == 0 || d.SwitchEvictions == 0 {
					t.Fatalf("%d switches gave up, %d sleepers evicted: the shape did not exercise the restore", busy.Load(), d.SwitchEvictions)
				}
				return
			}
			if switches.Load() < min {
				t.Fatalf("%d completed switches, want >= %d", switches.Load(), min)
			}
		})
	}
}

// TestSwitchAfterSlowPaths: after slow paths ran on many Ps (and left on
// other Ps than they entered on), every shard of the barrier's count is back
// at zero and a switch drains at once. (Built with pvswitch_wrongshard, an
// op that leaves decrements another shard than it incremented; the shards
// never read all zero again and this test fails.)
func TestSwitchAfterSlowPaths(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	for _, m := range []Mode{Paravirt, Native} {
		mustSwitch(t, m)
		before, parks := ReadStats().SlowAcquires, ReadStats().Parks
		var seen atomic.Bool // the slow paths this test needs have run
		t0 := time.Now()
		var l SpinLock
		var wg sync.WaitGroup
		begin := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-begin
				for i := 0; i < 20000 || !seen.Load() && time.Since(t0) < 10*time.Second; i++ {
					if i%1024 == 0 && !seen.Load() {
						d := ReadStats()
						seen.Store(d.SlowAcquires > before && (m == Native || d.Parks > parks))
					}
					l.Lock()
					busy(100) // short: a holder that yielded here would leave native spinners burning its P
					if m == Paravirt && i%64 == 0 {
						// Now and then longer than a paravirt waiter's
						// spin, so that waiters count themselves and park.
						for t0 := time.Now(); time.Since(t0) < 50*time.Microsecond; {
						}
					}
					l.Unlock()
				}
			}()
		}
		close(begin)
		wg.Wait()
		if ReadStats().SlowAcquires == before {
			t.Fatalf("mode %v: no slow path ran", m)
		}
		if m == Paravirt && ReadStats().Parks == parks {
			t.Fatalf("mode %v: no waiter was counted and parked", m)
		}
		if !sw.b.Drained() {
			t.Fatalf("mode %v: barrier count not zero on every shard with no op running (sum %d)", m, sw.b.Active())
		}
		if m == Paravirt {
			// One counted op on its own: many ops' increments and
			// decrements on the wrong shards can happen to cancel out,
			// but then a single op's cannot.
			var one SpinLock
			one.Lock()
			done := make(chan struct{})
			go func() { one.Lock(); one.Unlock(); close(done) }()
			waitFor(t, "a lone waiter to park", func() bool { return word(&one) == lockedParked })
			one.Unlock()
			<-done
			if !sw.b.Drained() {
				t.Fatalf("barrier count not zero on every shard after one counted op left (sum %d)", sw.b.Active())
			}
		}
		mustSwitch(t, other(m))
	}
}

// BenchmarkSwitch measures Switch's latency (gate closed to gate open)
// while 8 goroutines contend on 4 locks through the public methods, one
// switch per iteration, alternating modes. It reports the median and p99
// of the switch latency, and beside them the median of the patcher's bare
// window (INT3, SYNC_CORE, tails, first bytes, handler wait) inside those
// switches, and the contenders' throughput while switching back to back
// (Mops/s) against the same workload in the same run with no switch, in
// each mode (native-Mops/s, paravirt-Mops/s): the cost of switching to
// everyone else.
func BenchmarkSwitch(b *testing.B) {
	start := CurrentMode()
	defer mustSwitch(b, start)
	locks := make([]SpinLock, 4)
	var stop atomic.Bool
	var ops atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for i := g; !stop.Load(); i++ {
				l := &locks[i%len(locks)]
				l.Lock()
				n++
				l.Unlock()
				if n == 1024 {
					ops.Add(n)
					n = 0
				}
			}
			ops.Add(n)
		}()
	}
	// Baselines: the same workload, no switch, 100 ms in each mode.
	baseline := map[Mode]float64{}
	for _, m := range []Mode{Native, Paravirt} {
		mustSwitch(b, m)
		o0 := ops.Load()
		time.Sleep(100 * time.Millisecond)
		baseline[m] = float64(ops.Load()-o0) / 0.1 / 1e6
	}

	lat := make([]time.Duration, 0, b.N)
	win := make([]time.Duration, 0, b.N)
	busy := 0
	o1, t0 := ops.Load(), time.Now()
	b.ResetTimer()
	for b.Loop() {
		s := time.Now()
		err := Switch(context.Background(), other(CurrentMode()))
		d := time.Since(s)
		if errors.Is(err, ErrBusy) {
			busy++
			continue
		} else if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
		win = append(win, patch.ReadStats().LastWindow)
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
	if len(lat) == 0 {
		b.Fatalf("no switch completed (%d busy)", busy)
	}
	b.ReportMetric(float64(quantile(lat, 0.5).Microseconds()), "median-us")
	b.ReportMetric(float64(quantile(lat, 0.99).Microseconds()), "p99-us")
	b.ReportMetric(float64(quantile(win, 0.5).Microseconds()), "window-median-us")
	b.ReportMetric(float64(busy), "busy")
	b.ReportMetric(float64(ops.Load()-o1)/time.Since(t0).Seconds()/1e6, "Mops/s")
	b.ReportMetric(baseline[Native], "native-Mops/s")
	b.ReportMetric(baseline[Paravirt], "paravirt-Mops/s")
}

// TestDispatchFallback runs the switch tests again in a child process with
// PVLOCK_PATCH=off: the sites stay as built (paravirt release), the slow
// path dispatches on the published mode, and every switch test must still
// pass, torture included. In the child, this test checks that the fallback
// is in use and that no site was written.
func TestDispatchFallback(t *testing.T) {
	if os.Getenv("PVLOCK_TEST_CHILD") == "dispatch" {
		s := ReadStatus()
		if s.Mechanism != Dispatch || !errors.Is(s.Why, errPatchOff) {
			t.Fatalf("status %v, want dispatch because of %s=off", s, EnvPatch)
		}
		if w := patch.ReadStats().Switches; w != 0 {
			t.Fatalf("%d site switches under dispatch", w)
		}
		return
	}
	const tests = "^(TestDispatchFallback|TestSwitchBasics|TestSwitchLockTakenUnderOtherVariant|TestSwitchWaitsForParkedWaiter|TestSwitchBusy|TestSwitchGatedHolderNoDeadlock|TestGatedWaiterTakesFreeLock|TestSwitchTorture|TestSwitchAfterSlowPaths)$"
	cmd := exec.Command(os.Args[0], "-test.run="+tests, "-test.count=1", "-test.short", "-test.v")
	cmd.Env = append(os.Environ(), "PVLOCK_TEST_CHILD=dispatch", EnvPatch+"=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("switch tests under %s=off: %v\n%s", EnvPatch, err, out)
	}
	for _, want := range []string{"--- PASS: TestDispatchFallback", "--- PASS: TestSwitchTorture", "--- PASS: TestSwitchWaitsForParkedWaiter", "patching disabled by " + EnvPatch + "=off"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("child output lacks %q:\n%s", want, out)
		}
	}
}

// TestConcurrentSwitches: Switch calls from many goroutines at once are
// serialized; each returns nil or ErrBusy, and afterwards the published
// mode is the one the sites run and the switch count adds up.
func TestConcurrentSwitches(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	var l SpinLock
	stop := make(chan struct{})
	var traffic sync.WaitGroup
	for range 4 {
		traffic.Add(1)
		go func() {
			defer traffic.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.Lock()
				busy(50)
				l.Unlock()
			}
		}()
	}
	before := ReadStatus()
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				to := Mode((g + i) % 2)
				err := Switch(context.Background(), to)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrBusy):
				default:
					t.Errorf("Switch(%v): %v", to, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	traffic.Wait()
	after := ReadStatus()
	if CurrentMode() != sitesMode() && after.Mechanism == Patched {
		t.Fatalf("published mode %v, sites run %v", CurrentMode(), sitesMode())
	}
	// Every completed switch that changed the mode was counted once; a
	// switch to the mode already in force returns nil without counting.
	if n := after.Switches - before.Switches; n > ok.Load() || n == 0 {
		t.Fatalf("%d switches counted for %d nil returns", n, ok.Load())
	}
	t.Logf("%d nil returns, %d switches counted, %d busy", ok.Load(), after.Switches-before.Switches, after.Aborts-before.Aborts)
}

// BenchmarkSwitchUnderLoad measures Switch as its caller waits for it
// (call to return), one switch per iteration in alternating directions,
// while workers hammer one lock with a tiny critical section:
//
//	goroutines=8/procs=2      8 goroutines at GOMAXPROCS=2, a switch every 2 ms
//	threads=N/procs=P         N goroutines locked to OS threads at
//	                          GOMAXPROCS=P (P >= CPUs: the OS oversubscribes)
//
// A switch that returns ErrBusy is retried at once; busy counts those, and
// first-try-% is the share of switches that completed on their first call.
// Run with -benchtime=400x (or 100x for the thread shapes) to match the
// project's targets.
func BenchmarkSwitchUnderLoad(b *testing.B) {
	shapes := []struct {
		workers, procs int
		locked         bool
		every          time.Duration
	}{
		{8, 2, false, 2 * time.Millisecond},
		{32, 32, true, 0},
		{128, 128, true, 0},
		{256, 256, true, 0},
		{256, 64, true, 0},
	}
	for _, sh := range shapes {
		name := fmt.Sprintf("goroutines=%d/procs=%d", sh.workers, sh.procs)
		if sh.locked {
			name = fmt.Sprintf("threads=%d/procs=%d", sh.workers, sh.procs)
		}
		b.Run(name, func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(sh.procs))
			start := CurrentMode()
			defer mustSwitch(b, start)
			var l SpinLock
			var x uint64
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range sh.workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if sh.locked {
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
					}
					for !stop.Load() {
						l.Lock()
						for range 20 {
							x = x*6364136223846793005 + 1
						}
						l.Unlock()
					}
				}()
			}
			time.Sleep(20 * time.Millisecond)
			lat := make([]time.Duration, 0, b.N)
			byDir := map[Mode][]time.Duration{} // by the mode switched to
			busy, first := 0, 0
			last := time.Now()
			b.ResetTimer()
			for b.Loop() {
				if sh.every > 0 {
					time.Sleep(time.Until(last.Add(sh.every)))
				}
				to := other(CurrentMode())
				t0 := time.Now()
				for try := 0; ; try++ {
					err := Switch(context.Background(), to)
					if err == nil {
						if try == 0 {
							first++
						}
						break
					}
					if !errors.Is(err, ErrBusy) {
						b.Fatal(err)
					}
					busy++
				}
				d := time.Since(t0)
				lat = append(lat, d)
				byDir[to] = append(byDir[to], d)
				last = time.Now()
			}
			b.StopTimer()
			stop.Store(true)
			wg.Wait()
			b.ReportMetric(float64(quantile(lat, 0.5).Microseconds()), "median-us")
			b.ReportMetric(float64(quantile(lat, 0.99).Microseconds()), "p99-us")
			for m, d := range byDir {
				b.ReportMetric(float64(quantile(d, 0.5).Microseconds()), "to-"+m.String()+"-median-us")
				b.ReportMetric(float64(quantile(d, 0.99).Microseconds()), "to-"+m.String()+"-p99-us")
			}
			b.ReportMetric(float64(busy), "busy")
			b.ReportMetric(100*float64(first)/float64(len(lat)), "first-try-%")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestSwitchUntrackedSleeper: a paravirt waiter that found the sleeper
// registry full sleeps without a slot. A switch to native cannot evict it
// (it has no slot to win), and while it sleeps the switch evicts nobody:
// it wakes the registered sleepers instead (here one on another lock,
// which backs out at the closed gate), and its drain waits for the
// untracked one like any counted op, giving up at its bound while the lock
// stays held. After the releases both waiters get their locks, and the
// counts are back at zero.
func TestSwitchUntrackedSleeper(t *testing.T) {
	inMode(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, 50*time.Millisecond))
	var tracked SpinLock
	tracked.Lock()
	trackedGot := make(chan struct{})
	go func() { tracked.Lock(); tracked.Unlock(); close(trackedGot) }()
	waitFor(t, "a waiter to sleep with a slot", func() bool { return word(&tracked) == lockedParked && sleepers.Load() == 1 })
	// Fill the registry: every free slot is marked as being filled, which
	// register skips and scans and the eviction ignore.
	var filled []*slot
	for i := range registry {
		s := &registry[i]
		if w := s.state.Load(); slotState(w) == slotFree && s.state.CompareAndSwap(w, withState(w, slotFilling)) {
			filled = append(filled, s)
		}
	}
	defer func() {
		for _, s := range filled {
			s.state.Store(withState(s.state.Load(), slotFree))
		}
	}()
	var l SpinLock
	l.Lock()
	before := ReadStats()
	got := make(chan struct{})
	go func() { l.Lock(); l.Unlock(); close(got) }()
	waitFor(t, "the waiter to sleep without a slot", func() bool {
		return word(&l) == lockedParked && untrackedAsleep.Load() == 1
	})
	err := Switch(context.Background(), Native)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Switch with an untracked sleeper on a held lock: %v, want ErrBusy", err)
	}
	if d := ReadStats().Sub(before); d.SwitchEvictions != 0 || d.SwitchWakes < 1 || d.Untracked != 1 {
		t.Fatalf("evictions %d, switch wakes %d, untracked sleeps %d: want 0, >= 1 and 1", d.SwitchEvictions, d.SwitchWakes, d.Untracked)
	}
	tracked.Unlock()
	l.Unlock()
	select {
	case <-trackedGot:
	case <-time.After(5 * time.Second):
		t.Fatal("the registered waiter never got its lock")
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the untracked waiter never got the lock")
	}
	if n, a := untrackedAsleep.Load(), sw.b.Active(); n != 0 || a != 0 {
		t.Fatalf("untracked asleep %d, barrier count %d after it left", n, a)
	}
	noRescues(t, before)
}
