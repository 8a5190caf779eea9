//go:build linux && amd64

package patch_test

import (
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/race"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

var sink atomic.Pointer[[]byte]

// churn allocates until stop is closed, so GCs run during the test.
func churn(stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		default:
		}
		b := make([]byte, 32<<10)
		sink.Store(&b)
		runtime.Gosched()
	}
}

// TestStressFlip flips a JMP, a CALL, a store and a store/JMP site between two variants,
// and the same in slots longer than 5 bytes (a 4-byte store/JMP of 6 bytes,
// a 6-byte CALL, a 9-byte JMP: JMP/CALL behind DS prefixes),
// 100,000 times (5,000 with -short, a tenth under -race) while 8 goroutines
// run them in loops, with GC churn and a CPU profile: every execution must
// run exactly one variant (exact counts) and nothing may crash.
func TestStressFlip(t *testing.T) {
	flips := 100000
	if testing.Short() {
		flips = 5000
	}
	if race.Enabled {
		flips /= 10
	}
	sites := []*asm.Site{testsite.CountSite, testsite.TickSite, testsite.FlagSite, testsite.ReleaseSite,
		testsite.Release32Site, testsite.Tick6Site, testsite.Count9Site}
	mustSwitch(t, 0, sites...)
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Fatal(err)
	}
	defer pprof.StopCPUProfile()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go churn(stop, &wg)

	const workers = 8
	var stopped atomic.Bool
	type result struct {
		c    testsite.Counter
		c9   testsite.Counter
		n    uint64
		bad  uint8
		done bool
	}
	results := make([]result, workers)
	tick0 := testsite.TickA.Load() + testsite.TickB.Load()
	tick60 := testsite.Tick6A.Load() + testsite.Tick6B.Load()
	var traps0 uint64
	for _, s := range sites {
		traps0 += patch.Traps(s)
	}
	for w := range workers {
		wg.Add(1)
		go func(r *result) {
			defer wg.Done()
			var f uint8
			for !stopped.Load() {
				testsite.Count(&r.c)
				testsite.Tick()
				f = 0
				testsite.Flag(&f)
				if f != 1 && f != 2 {
					r.bad = f
				}
				l := uint8(1)
				testsite.Release(&l)
				if l != 0 {
					r.bad = 100 + l
				}
				// Either variant must clear all 4 bytes.
				l32 := uint32(0xdeadbeef)
				testsite.Release32(&l32)
				if l32 != 0 {
					r.bad = 200
				}
				testsite.Tick6()
				testsite.Count9(&r.c9)
				r.n++
				if r.n%1024 == 0 {
					runtime.Gosched()
				}
			}
			r.done = true
		}(&results[w])
	}
	start := time.Now()
	for i := range flips {
		if err := patch.Switch(to(sites, (i+1)%2)); err != nil {
			stopped.Store(true)
			t.Fatalf("flip %d: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	stopped.Store(true)
	close(stop)
	wg.Wait()
	var total uint64
	for i, r := range results {
		if r.c.A+r.c.B != r.n || r.c9.A+r.c9.B != r.n || r.bad != 0 {
			t.Errorf("worker %d: %d iterations but Count: countA %d + countB %d, Count9: countA %d + countB %d; bad store %d",
				i, r.n, r.c.A, r.c.B, r.c9.A, r.c9.B, r.bad)
		}
		total += r.n
	}
	if got := uint64(testsite.TickA.Load() + testsite.TickB.Load() - tick0); got != total {
		t.Errorf("Tick targets ran %d times for %d executions", got, total)
	}
	if got := uint64(testsite.Tick6A.Load() + testsite.Tick6B.Load() - tick60); got != total {
		t.Errorf("Tick6 targets ran %d times for %d executions", got, total)
	}
	traps := -traps0
	perSite := make([]string, len(sites))
	for i, s := range sites {
		traps += patch.Traps(s)
		perSite[i] = fmt.Sprintf("%s %d", s.Name(), patch.Traps(s))
	}
	t.Logf("emulated traps per site (whole run of the binary): %v", perSite)
	st := patch.ReadStats()
	t.Logf("%d flips in %v (%v/flip), %d site executions, %d emulated traps, last window %v, max %v, writer %s",
		flips, elapsed, elapsed/time.Duration(flips), uint64(len(sites))*total, traps, st.LastWindow, st.MaxWindow, st.Mechanism)
	t.Logf("SIGTRAP handler unchecked: longest stretch between two checks %v, longest from the last check to a window's end %v", st.MaxCheckGap, st.MaxCheckToEnd)
	mustSwitch(t, 0, sites...)
}

// TestBatchAtomic switches 64 sites as one batch, back and forth, while a
// goroutine runs them all in order: within one pass that overlaps at most
// one commit, it must never see a site in the new variant followed by one
// in the old.
func TestBatchAtomic(t *testing.T) {
	const n = 64
	switches := 400
	if testing.Short() {
		switches = 100
	}
	sites := testsite.BatchSites[:n]
	fns := testsite.Batch()[:n]
	mustSwitch(t, 0, sites...)
	var started, completed, passes atomic.Int64
	var stopped atomic.Bool
	var failure atomic.Pointer[string]
	var checked atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var vals [n]uint8
		for !stopped.Load() {
			c0 := completed.Load()
			for i := range fns {
				fns[i](&vals[i])
			}
			s1 := started.Load()
			passes.Add(1)
			if s1-c0 > 1 {
				continue // two commits may have happened during the pass
			}
			changes := 0
			for i := 1; i < n; i++ {
				if vals[i] != vals[i-1] {
					changes++
				}
			}
			// The last started switch (number s1) goes to variant s1%2,
			// which stores s1%2+1.
			latest := uint8(s1%2 + 1)
			// No switch in flight (s1 == c0): no commit can fall in the pass.
			if changes > 1 || (changes == 1 && (vals[n-1] != latest || s1 == c0)) {
				msg := fmt.Sprintf("pass saw %v (switch %d, target stores %d)", vals, s1, latest)
				failure.Store(&msg)
			}
			checked.Add(1)
		}
	}()
	for i := 1; i <= switches && failure.Load() == nil; i++ {
		started.Add(1)
		if err := patch.Switch(to(sites, i%2)); err != nil {
			t.Fatal(err)
		}
		completed.Add(1)
		for p := passes.Load(); passes.Load() < p+2; {
			runtime.Gosched()
		}
	}
	stopped.Store(true)
	<-done
	if m := failure.Load(); m != nil {
		t.Fatal(*m)
	}
	t.Logf("%d batch switches of %d sites, %d passes checked", switches, n, checked.Load())
	mustSwitch(t, 0, sites...)
}
