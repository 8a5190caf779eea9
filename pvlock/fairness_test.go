package pvlock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fairness runs the shape of Go's TestMutexFairness on mu: one goroutine
// holds the lock about 100 us, releases it and re-takes it at once, for as
// long as the test runs; another needs it 10 times, 100 us apart. It
// returns the longest time the second one waited for the lock, or an error
// if it did not get it 10 times within limit.
func fairness(mu sync.Locker, limit time.Duration) (time.Duration, error) {
	var stop atomic.Bool
	go func() {
		for !stop.Load() {
			mu.Lock()
			time.Sleep(100 * time.Microsecond)
			mu.Unlock()
		}
	}()
	defer stop.Store(true)
	done := make(chan time.Duration, 1)
	go func() {
		var longest time.Duration
		for range 10 {
			time.Sleep(100 * time.Microsecond)
			t0 := time.Now()
			mu.Lock()
			longest = max(longest, time.Since(t0))
			mu.Unlock()
		}
		done <- longest
	}()
	select {
	case d := <-done:
		return d, nil
	case <-time.After(limit):
		// The waiter still waits: let the holder stop, and give the
		// waiter a moment to finish, but do not wait for a lock that
		// may never come (the goroutines leak in a failing test).
		stop.Store(true)
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		return 0, fmt.Errorf("the waiter did not get the lock 10 times in %v", limit)
	}
}

// TestFairness: under paravirt no waiter starves against a holder that
// re-takes the lock at once, at GOMAXPROCS 1, 2 and 8: after it has waited
// starveAfter, the release hands the lock to a sleeper (Stats.Handoffs).
// The longest wait is reported. (The native variant does not promise this:
// see the package doc, and TestStarvation for what it does promise.)
func TestFairness(t *testing.T) {
	for _, procs := range []int{1, 2, 8} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			before := ReadStats()
			var l SpinLock
			longest, err := fairness(variantLocker{&l, Paravirt}, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			d := ReadStats().Sub(before)
			t.Logf("longest wait %v; handoffs %d, parks %d, kicks %d", longest, d.Handoffs, d.Parks, d.Kicks)
			if d.Rescues != 0 {
				t.Fatalf("%d rescues: a wakeup was lost", d.Rescues)
			}
		})
	}
}

// TestFairnessWhileSwitching: the same through the public methods while
// the mode is switched every 2 ms: bounded waiting must survive handoffs
// that meet a switch (a reserved word when the sleepers back out).
func TestFairnessWhileSwitching(t *testing.T) {
	start := CurrentMode()
	defer mustSwitch(t, start)
	before := ReadStats()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m := Paravirt; ; m = other(m) {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if err := Switch(context.Background(), m); err != nil && !isBusy(err) {
				t.Errorf("Switch: %v", err)
				return
			}
		}
	}()
	var l SpinLock
	longest, err := fairness(publicLocker{&l}, 20*time.Second)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	d := ReadStats().Sub(before)
	t.Logf("longest wait %v; handoffs %d, switch wakes %d, switches %d", longest, d.Handoffs, d.SwitchWakes, ReadStatus().Switches)
	if d.Rescues != 0 {
		t.Fatalf("%d rescues: a wakeup was lost", d.Rescues)
	}
}

func isBusy(err error) bool { return errors.Is(err, ErrBusy) }
