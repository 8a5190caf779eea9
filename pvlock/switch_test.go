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
// waiter is parked does not commit until a paravirt release has woken it.
// (Built with pvswitch_nodrain, the switch commits at once, the release is
// native, and the waiter's wakeup is lost: this test fails.)
func TestSwitchWaitsForParkedWaiter(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	mustSwitch(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, 10*time.Second))

	var l SpinLock
	before := ReadStats()
	l.Lock()
	got := make(chan struct{})
	go func() { l.Lock(); close(got) }()
	waitFor(t, "the waiter to park", func() bool {
		return ReadStats().Parks > before.Parks && word(&l) == lockedParked
	})
	switched := make(chan error, 1)
	go func() { switched <- Switch(context.Background(), Native) }()
	select {
	case err := <-switched:
		t.Fatalf("Switch to native returned (%v) while a paravirt waiter was parked", err)
	case <-time.After(50 * time.Millisecond):
	}
	if CurrentMode() != Paravirt {
		t.Fatalf("mode %v while the paravirt waiter still sleeps", CurrentMode())
	}
	l.Unlock() // the paravirt release: kicks the waiter
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the parked waiter was not woken")
	}
	if err := <-switched; err != nil {
		t.Fatalf("Switch after the waiter left: %v", err)
	}
	l.Unlock()
	if r := ReadStats().Sub(before).Rescues; r != 0 {
		t.Fatalf("%d rescues: a wakeup was lost", r)
	}
}

// TestSwitchBusy: against a waiter that never drains, Switch returns
// ErrBusy within its bound, the program keeps running in the old mode, and a
// later switch succeeds.
func TestSwitchBusy(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	for _, from := range []Mode{Paravirt, Native} {
		t.Run("from="+from.String(), func(t *testing.T) {
			mustSwitch(t, from)
			var l SpinLock
			l.Lock()
			got := make(chan struct{})
			go func() { l.Lock(); close(got) }()
			waitFor(t, "a counted waiter", func() bool { return sw.b.Active() > 0 })
			aborts := ReadStatus().Aborts
			t0 := time.Now()
			err := Switch(context.Background(), other(from))
			took := time.Since(t0)
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("Switch with a waiter that never drains: %v, want ErrBusy", err)
			}
			if took < DefaultDrainBound || took > DefaultDrainBound+2*time.Second {
				t.Fatalf("ErrBusy after %v, want just past the bound %v", took, DefaultDrainBound)
			}
			if CurrentMode() != from || ReadStatus().Aborts != aborts+1 {
				t.Fatalf("after ErrBusy: mode %v (want %v), aborts %d (want %d)", CurrentMode(), from, ReadStatus().Aborts, aborts+1)
			}
			// The old mode keeps working: another lock, uncontended.
			var m SpinLock
			m.Lock()
			m.Unlock()

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			err = Switch(ctx, other(from))
			cancel()
			if !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Switch with a 5ms context: %v, want ErrBusy and DeadlineExceeded", err)
			}
			l.Unlock()
			<-got
			l.Unlock()
			mustSwitch(t, other(from))
		})
	}
}

// TestSwitchGatedHolderNoDeadlock: a goroutine held at the gate holds a lock
// that a counted waiter needs, so the drain cannot finish. The switch must
// give up with ErrBusy within its bound, and everyone must then get their
// locks.
func TestSwitchGatedHolderNoDeadlock(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	mustSwitch(t, Paravirt)
	var a, b SpinLock
	a.Lock() // held until the switch has given up
	b.Lock() // handed to the holder goroutine below
	waiterDone := make(chan struct{})
	go func() { b.Lock(); b.Unlock(); close(waiterDone) }() // a counted waiter on b
	waitFor(t, "the waiter on b to be counted", func() bool { return sw.b.Active() > 0 })

	switched := make(chan error, 1)
	go func() { switched <- Switch(context.Background(), Native) }()
	waitFor(t, "the gate to close", func() bool { return !sw.b.IsOpen() })
	holderDone := make(chan struct{})
	go func() { a.Lock(); b.Unlock(); a.Unlock(); close(holderDone) }() // holds b, gated on a
	waitFor(t, "the holder to wait at the gate", func() bool { return sw.b.Waiting() > 0 || sw.b.IsOpen() })
	if sw.b.IsOpen() {
		t.Fatal("the switch ended before the holder reached the gate")
	}
	select {
	case err := <-switched:
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("Switch: %v, want ErrBusy", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Switch hung on a drain that cannot finish")
	}
	a.Unlock()
	for _, ch := range []chan struct{}{holderDone, waiterDone} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("a goroutine never got its lock after the abort")
		}
	}
}

// TestGatedWaiterTakesFreeLock: a goroutine held at the closed gate still
// takes its lock when it becomes free, before the gate opens.
func TestGatedWaiterTakesFreeLock(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	mustSwitch(t, Paravirt)
	defer SetDrainBound(mustSetBound(t, 2*time.Second))
	var stuck, c SpinLock
	stuck.Lock()
	go func() { stuck.Lock(); stuck.Unlock() }() // a waiter that keeps the drain busy
	waitFor(t, "a counted waiter", func() bool { return sw.b.Active() > 0 })
	switched := make(chan error, 1)
	go func() { switched <- Switch(context.Background(), Native) }()
	waitFor(t, "the gate to close", func() bool { return !sw.b.IsOpen() })

	c.Lock()
	got := make(chan bool, 1)
	go func() { c.Lock(); got <- sw.b.IsOpen(); c.Unlock() }()
	waitFor(t, "the goroutine to wait at the gate", func() bool { return sw.b.Waiting() > 0 })
	c.Unlock()
	select {
	case open := <-got:
		if open {
			t.Fatal("the gated goroutine got its lock only after the gate opened")
		}
	case <-time.After(time.Second):
		t.Fatal("a gated goroutine did not take a free lock")
	}
	stuck.Unlock()
	if err := <-switched; err != nil {
		t.Fatalf("Switch after the waiter left: %v", err)
	}
}

// TestSwitchTorture: many goroutines hammer 4 locks with random, sleeping,
// yielding and nested holds, GC churn and threads above the CPU count,
// while another goroutine switches modes as fast as Switch allows.
func TestSwitchTorture(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	d := 6 * time.Second // 12 s in all
	if testing.Short() {
		d = 700 * time.Millisecond
	}
	if race.Enabled {
		d = min(d, 2*time.Second)
	}
	for _, procs := range []int{2, 8} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			before, st := ReadStats(), ReadStatus()
			locks := make([]SpinLock, 4)
			var lk []sync.Locker
			for i := range locks {
				lk = append(lk, publicLocker{&locks[i]})
			}
			var switches, busy atomic.Int64
			ops := torture(t, tortureConfig{
				locks:      lk,
				goroutines: 4 * procs,
				duration:   d,
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
			t.Logf("%d critical sections, %d switches, %d busy; slow=%d parks=%d kicks=%d rescues=%d; last switch %v, worst %v, traps %d",
				ops, switches.Load(), busy.Load(), d.SlowAcquires, d.Parks,
				d.Kicks, d.Rescues, st2.LastSwitch, st2.WorstSwitch, st2.Traps-st.Traps)
			if r := d.Rescues; r != 0 {
				t.Fatalf("%d rescues: a wakeup was lost", r)
			}
			min := int64(100)
			if testing.Short() || race.Enabled {
				min = 10
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
		before := ReadStats().SlowAcquires
		var l SpinLock
		var wg sync.WaitGroup
		begin := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-begin
				for range 20000 {
					l.Lock()
					busy(100) // short: a holder that yielded here would leave native spinners burning its P
					l.Unlock()
				}
			}()
		}
		close(begin)
		wg.Wait()
		if ReadStats().SlowAcquires == before {
			t.Fatalf("mode %v: no slow path ran", m)
		}
		if !sw.b.Drained() {
			t.Fatalf("mode %v: barrier count not zero on every shard with no op running (sum %d)", m, sw.b.Active())
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
