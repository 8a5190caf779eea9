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
				lat = append(lat, time.Since(t0))
				last = time.Now()
			}
			b.StopTimer()
			stop.Store(true)
			wg.Wait()
			b.ReportMetric(float64(quantile(lat, 0.5).Microseconds()), "median-us")
			b.ReportMetric(float64(quantile(lat, 0.99).Microseconds()), "p99-us")
			b.ReportMetric(float64(busy), "busy")
			b.ReportMetric(100*float64(first)/float64(len(lat)), "first-try-%")
			b.ReportMetric(0, "ns/op")
		})
	}
}
