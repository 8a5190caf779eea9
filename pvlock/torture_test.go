package pvlock

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// guarded is one lock and the two fields it guards; every critical section
// checks a == b on entry, then increments both with work in between, so an
// exclusion violation shows up as a mismatch or a lost increment.
type guarded struct {
	mu   sync.Locker
	a, b int64
	_    [40]byte
}

// tortureConfig describes one torture run.
type tortureConfig struct {
	locks      []sync.Locker // one per guarded pair
	goroutines int
	duration   time.Duration
	// between, if set, runs in its own goroutine for the whole run and
	// stops when stop is closed (a live switcher, for example).
	between func(stop <-chan struct{})
	// enough, if set, is asked every 10 ms once duration has passed: the
	// run goes on until it reports true, or until maxDuration in all.
	// A run that needs some number of events (completed switches) then
	// waits for them on a slow machine rather than failing on the clock.
	enough      func() bool
	maxDuration time.Duration
}

// torture hammers the locks from many goroutines with random hold times:
// busy holds, holds that Gosched or sleep, nested holds of two locks in a
// fixed order, a few goroutines locked to OS threads, and GC churn. A
// watchdog fails the run, with all stacks, if no critical section completes
// for 10 s. It returns the number of critical sections.
func torture(t *testing.T, cfg tortureConfig) int64 {
	t.Helper()
	g := make([]guarded, len(cfg.locks))
	for i, l := range cfg.locks {
		g[i].mu = l
	}
	var (
		ops       atomic.Int64
		progress  atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		violation atomic.Pointer[string]
	)
	fail := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		violation.CompareAndSwap(nil, &s)
	}
	perLock := make([]atomic.Int64, len(g))

	for w := range cfg.goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w%8 == 7 {
				// Some workers own an OS thread, so the OS (not only Go)
				// has more runnable threads than CPUs.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := r.IntN(len(g))
				nested := r.IntN(16) == 0 && len(g) > 1
				j := i
				if nested {
					for j == i {
						j = r.IntN(len(g))
					}
					if j < i { // fixed order: lower index first
						i, j = j, i
					}
				}
				g[i].mu.Lock()
				if nested {
					g[j].mu.Lock()
				}
				enter(&g[i], fail)
				if nested {
					enter(&g[j], fail)
				}
				hold(r)
				leave(&g[i])
				perLock[i].Add(1)
				if nested {
					leave(&g[j])
					perLock[j].Add(1)
					g[j].mu.Unlock()
				}
				g[i].mu.Unlock()
				ops.Add(1)
				progress.Add(1)
			}
		}()
	}

	// GC churn: garbage at a steady rate, so collections (and their
	// stop-the-world phases) happen while waiters spin and sleep.
	wg.Add(1)
	go func() {
		defer wg.Done()
		var keep [][]byte
		for {
			select {
			case <-stop:
				return
			default:
			}
			keep = append(keep, make([]byte, 64<<10))
			if len(keep) > 64 {
				keep = keep[:0]
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	if cfg.between != nil {
		wg.Add(1)
		go func() { defer wg.Done(); cfg.between(stop) }()
	}

	// Watchdog.
	done := make(chan struct{})
	go func() {
		last, lastChange := progress.Load(), time.Now()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if p := progress.Load(); p != last {
				last, lastChange = p, time.Now()
			} else if time.Since(lastChange) > 10*time.Second {
				buf := make([]byte, 1<<22)
				buf = buf[:runtime.Stack(buf, true)]
				fmt.Fprintf(os.Stderr, "torture: no critical section completed for 10 s\n%sall goroutines:\n%s\n", stateReport(), buf)
				panic("torture: hang")
			}
		}
	}()

	time.Sleep(cfg.duration)
	if cfg.enough != nil {
		for end := time.Now().Add(cfg.maxDuration - cfg.duration); !cfg.enough() && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	close(done)

	if v := violation.Load(); v != nil {
		t.Fatalf("mutual exclusion violated: %s", *v)
	}
	for i := range g {
		if g[i].a != g[i].b || g[i].a != perLock[i].Load() {
			t.Fatalf("lock %d: a=%d b=%d, want both = %d critical sections", i, g[i].a, g[i].b, perLock[i].Load())
		}
	}
	return ops.Load()
}

func enter(g *guarded, fail func(string, ...any)) {
	if g.a != g.b {
		fail("entered with a=%d b=%d", g.a, g.b)
	}
	g.a++
}

func leave(g *guarded) { g.b++ }

// hold simulates a critical section: mostly short busy work, sometimes a
// yield, rarely a sleep.
func hold(r *rand.Rand) {
	switch n := r.IntN(1000); {
	case n < 2:
		time.Sleep(time.Duration(r.IntN(50)) * time.Microsecond)
	case n < 30:
		runtime.Gosched()
	default:
		busy(r.IntN(200))
	}
}

var sink atomic.Uint64

//go:noinline
func busy(n int) {
	x := uint64(n)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink.Add(x & 1)
}

func tortureDuration() time.Duration {
	if testing.Short() {
		return 700 * time.Millisecond
	}
	return 4 * time.Second
}

func TestTorture(t *testing.T) {
	for _, m := range []Mode{Native, Paravirt} {
		for _, procs := range []int{2 * runtime.NumCPU(), 4 * runtime.NumCPU()} {
			t.Run(fmt.Sprintf("variant=%v/GOMAXPROCS=%d", m, procs), func(t *testing.T) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				before := ReadStats()
				locks := make([]SpinLock, 4)
				var lk []sync.Locker
				for i := range locks {
					lk = append(lk, variantLocker{&locks[i], m})
				}
				ops := torture(t, tortureConfig{
					locks:      lk,
					goroutines: 4 * procs,
					duration:   tortureDuration(),
				})
				d := ReadStats().Sub(before)
				t.Logf("%d critical sections; slow=%d parks=%d kicks=%d rescues=%d untracked=%d",
					ops, d.SlowAcquires, d.Parks, d.Kicks, d.Rescues, d.Untracked)
				if ops == 0 {
					t.Fatal("no critical section completed")
				}
				if r := d.Rescues; r != 0 {
					t.Fatalf("%d rescues: a wakeup was lost", r)
				}
				if m == Native && d.Parks != 0 {
					t.Fatalf("native waiters parked %d times", d.Parks)
				}
				for i := range locks {
					if locks[i].key != free {
						t.Fatalf("lock %d left in state %d", i, locks[i].key)
					}
				}
			})
		}
	}
}
