//go:build linux && amd64

package patch_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

// armed leaves INT3 on s with variant v current (a roll-forward failure
// injected at the tails step) and returns a func that finishes the switch.
func armed(b *testing.B, s *asm.Site, v int) func() {
	mustSwitch(b, 1-v, s)
	patch.SetInject(func(step string, i int) syscall.Errno {
		if step == "tails" {
			return syscall.EIO
		}
		return 0
	})
	err := patch.Switch(to([]*asm.Site{s}, v))
	patch.SetInject(nil)
	if s.Live()[0] != 0xCC {
		b.Fatalf("site not armed: %v", err)
	}
	return func() { mustSwitch(b, v, s) }
}

// BenchmarkTrap measures one execution of a site through the INT3 trap
// handler (kernel signal delivery, emulation, rt_sigreturn), against the
// site running natively.
func BenchmarkTrap(b *testing.B) {
	b.Run("variant=native", func(b *testing.B) {
		mustSwitch(b, 0, testsite.FlagSite)
		var x uint8
		for range b.N {
			testsite.Flag(&x)
		}
	})
	b.Run("variant=store", func(b *testing.B) {
		defer armed(b, testsite.FlagSite, 0)()
		var x uint8
		b.ResetTimer()
		for range b.N {
			testsite.Flag(&x)
		}
	})
	b.Run("variant=jmp", func(b *testing.B) {
		defer armed(b, testsite.CountSite, 0)()
		var c testsite.Counter
		b.ResetTimer()
		for range b.N {
			testsite.Count(&c)
		}
	})
	b.Run("variant=call", func(b *testing.B) {
		defer armed(b, testsite.TickSite, 0)()
		b.ResetTimer()
		for range b.N {
			testsite.Tick()
		}
	})
}

// BenchmarkSwitch measures the latency of one batch switch of n sites
// while 8 goroutines run those sites in loops.
func BenchmarkSwitch(b *testing.B) {
	for _, n := range []int{1, 8, 64, 512} {
		b.Run(fmt.Sprintf("sites=%d", n), func(b *testing.B) {
			sites := testsite.BatchSites[:n]
			fns := testsite.Batch()[:n]
			mustSwitch(b, 0, sites...)
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var vals [512]uint8
					for !stop.Load() {
						for i, f := range fns {
							f(&vals[i])
						}
						runtime.Gosched()
					}
				}()
			}
			var maxW time.Duration
			b.ResetTimer()
			for i := range b.N {
				if err := patch.Switch(to(sites, (i+1)%2)); err != nil {
					b.Fatal(err)
				}
				maxW = max(maxW, patch.ReadStats().LastWindow)
			}
			b.StopTimer()
			stop.Store(true)
			wg.Wait()
			b.ReportMetric(float64(maxW.Microseconds()), "max-window-us")
			mustSwitch(b, 0, sites...)
		})
	}
}

// BenchmarkSyncCore measures membarrier(PRIVATE_EXPEDITED_SYNC_CORE) with
// the other CPU idle and with it running one of our threads (an IPI).
func BenchmarkSyncCore(b *testing.B) {
	b.Run("other=idle", func(b *testing.B) {
		for range b.N {
			if e := patch.SyncCore(); e != 0 {
				b.Fatal(e)
			}
		}
	})
	b.Run("other=busy", func(b *testing.B) {
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for x := 0; !stop.Load(); x++ {
			}
		}()
		time.Sleep(time.Millisecond)
		b.ResetTimer()
		for range b.N {
			if e := patch.SyncCore(); e != 0 {
				b.Fatal(e)
			}
		}
		b.StopTimer()
		stop.Store(true)
		<-done
	})
}
