//go:build linux && amd64

package patch_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

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
