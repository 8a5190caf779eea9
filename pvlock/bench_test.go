package pvlock

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/pvswitch/pvswitch/internal/ttas"
)

// Benchmarks compare, in one run, the two variants, a static reference
// TTAS lock written entirely in assembly (nothing patchable), and
// sync.Mutex. Sub-benchmark names follow benchstat's key=value convention.
// Compare ratios within one run: absolute numbers on a shared 2-vCPU VM do
// not travel.

type benchLock struct {
	name string
	new  func() sync.Locker
}

var benchLocks = []benchLock{
	{"variant=native", func() sync.Locker { return variantLocker{new(SpinLock), Native} }},
	{"variant=paravirt", func() sync.Locker { return variantLocker{new(SpinLock), Paravirt} }},
	{"lock=ttas", func() sync.Locker { return new(ttas.Lock) }},
	{"lock=sync.Mutex", func() sync.Locker { return new(sync.Mutex) }},
}

// BenchmarkUncontended is one Lock+Unlock pair with no other goroutine
// near the lock. The variants are called directly (not through the
// sync.Locker interface) so the number is the lock's own cost.
func BenchmarkUncontended(b *testing.B) {
	b.Run("variant=native", func(b *testing.B) {
		var l SpinLock
		for b.Loop() {
			lockVariant(&l, Native)
			unlockVariant(&l, Native)
		}
	})
	b.Run("variant=paravirt", func(b *testing.B) {
		var l SpinLock
		for b.Loop() {
			lockVariant(&l, Paravirt)
			unlockVariant(&l, Paravirt)
		}
	})
	b.Run("lock=ttas", func(b *testing.B) {
		var l ttas.Lock
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	})
	b.Run("lock=sync.Mutex", func(b *testing.B) {
		var l sync.Mutex
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	})
	b.Run("lock=SpinLock", func(b *testing.B) { // the public methods, process mode
		var l SpinLock
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	})
}

// contend runs b.N critical sections split over g goroutines, each
// critical section a short update of shared data. lockThreads makes every
// goroutine own an OS thread, so the OS has g runnable threads.
func contend(b *testing.B, mk func() sync.Locker, g int, lockThreads bool) {
	l := mk()
	var shared [8]uint64
	per := max(b.N/g, 1)
	runWorkers(b, g, lockThreads, func() {
		for range per {
			l.Lock()
			for k := range shared {
				shared[k]++
			}
			l.Unlock()
		}
	})
	b.StopTimer()
	if shared[0] != uint64(per*g) {
		b.Fatalf("lost updates: %d, want %d", shared[0], per*g)
	}
}

// runWorkers runs body on g goroutines (each locked to an OS thread if
// lockThreads), all released at once after the benchmark timer is reset,
// and returns when every one has finished.
func runWorkers(b *testing.B, g int, lockThreads bool, body func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if lockThreads {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			<-start
			body()
		}()
	}
	b.ResetTimer()
	close(start)
	wg.Wait()
}

// BenchmarkContended: goroutines = GOMAXPROCS (every goroutine has a P) and
// 16 x GOMAXPROCS (Go-level oversubscription).
func BenchmarkContended(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, g := range []int{procs, 16 * procs} {
		for _, bl := range benchLocks {
			b.Run(fmt.Sprintf("goroutines=%d/%s", g, bl.name), func(b *testing.B) {
				contend(b, bl.new, g, false)
			})
		}
	}
}

// BenchmarkOversubscribed is the VM case: 32 goroutines, each locked to an
// OS thread, GOMAXPROCS=32, on however many CPUs the machine has (2 on the
// reference VM). The OS preempts lock holders; spinners burn their slices.
func BenchmarkOversubscribed(b *testing.B) {
	const threads = 32
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	for _, bl := range benchLocks {
		b.Run(fmt.Sprintf("threads=%d/%s", threads, bl.name), func(b *testing.B) {
			contend(b, bl.new, threads, true)
		})
	}
}

// BenchmarkPublicUncontended is Lock+Unlock through the public methods in
// each mode: in the normal build through the patched sites, in the
// pvswitch_flagdispatch build through a mode flag. Compare the two builds
// with benchstat (bench/abtest.sh).
func BenchmarkPublicUncontended(b *testing.B) {
	for _, m := range []Mode{Native, Paravirt} {
		b.Run("mode="+m.String(), func(b *testing.B) {
			if !flagDispatch {
				start := CurrentMode()
				defer mustSwitch(b, start)
				mustSwitch(b, m)
			} else if CurrentMode() != m {
				b.Skipf("flag-dispatch build: the mode is fixed at start (%s=%v)", EnvMode, m)
			}
			var l SpinLock
			for b.Loop() {
				l.Lock()
				l.Unlock()
			}
		})
	}
}

// BenchmarkVsMutex compares the variants with sync.Mutex on the shapes the
// paravirt variant must win (ns per critical section, lower is better):
// cs multiply-adds inside the lock and 50 outside, with goroutines locked to
// OS threads at GOMAXPROCS = threads (the OS oversubscribes a 2-CPU
// machine), and plain goroutines at GOMAXPROCS=2. Read the ratios within
// one run (benchstat on lock=...).
func BenchmarkVsMutex(b *testing.B) {
	shapes := []struct {
		workers, procs int
		locked         bool
	}{
		{8, 8, true}, {32, 32, true}, {128, 128, true}, {32, 2, false}, {2, 2, false},
	}
	locks := []benchLock{benchLocks[0], benchLocks[1], benchLocks[3]} // native, paravirt, sync.Mutex
	for _, sh := range shapes {
		for _, cs := range []int{20, 200} {
			kind := "goroutines"
			if sh.locked {
				kind = "threads"
			}
			for _, bl := range locks {
				b.Run(fmt.Sprintf("%s=%d/procs=%d/cs=%d/%s", kind, sh.workers, sh.procs, cs, bl.name), func(b *testing.B) {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(sh.procs))
					work(b, bl.new(), sh.workers, sh.locked, cs, 50)
				})
			}
		}
	}
}

// work runs b.N critical sections of cs multiply-adds over g goroutines,
// each followed by outside multiply-adds without the lock.
func work(b *testing.B, l sync.Locker, g int, lockThreads bool, cs, outside int) {
	var shared uint64
	per := max(b.N/g, 1)
	runWorkers(b, g, lockThreads, func() {
		x := uint64(1)
		for range per {
			l.Lock()
			for range cs {
				shared = shared*6364136223846793005 + 1
			}
			l.Unlock()
			for range outside {
				x = x*6364136223846793005 + 1
			}
		}
		sink.Add(x & 1)
	})
}
