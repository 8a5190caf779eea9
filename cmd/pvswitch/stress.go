package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
)

// workload is the stress configuration shared by demo and stress.
type workload struct {
	threads    int           // goroutines each locked to an OS thread
	goroutines int           // further goroutines, not locked to a thread
	locks      int           // number of locks, each guarding a pair
	duration   time.Duration // how long to run
}

func (w *workload) flags(fs interface {
	IntVar(*int, string, int, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.IntVar(&w.threads, "threads", 32, "goroutines locked to their own OS thread (GOMAXPROCS is raised to fit)")
	fs.IntVar(&w.goroutines, "goroutines", 0, "further goroutines not locked to a thread")
	fs.IntVar(&w.locks, "locks", 1, "number of locks")
	fs.DurationVar(&w.duration, "duration", 2*time.Second, "how long to run")
}

func (w *workload) validate() error {
	switch {
	case w.threads < 0 || w.goroutines < 0:
		return errors.New("-threads and -goroutines must not be negative")
	case w.threads+w.goroutines == 0:
		return errors.New("need at least one of -threads or -goroutines above 0")
	case w.locks < 1:
		return errors.New("-locks must be at least 1")
	case w.duration <= 0:
		return errors.New("-duration must be positive")
	}
	return nil
}

// result is what one run measured.
type result struct {
	ops     int64
	elapsed time.Duration
	stats   pvlock.Stats
}

func (r result) opsPerSec() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// pair is a lock and two fields it guards, which must stay equal.
type pair struct {
	mu   pvlock.SpinLock
	a, b int64
	_    [48]byte
}

// stress runs the workload and returns what it measured, or an error if
// mutual exclusion was violated or a wakeup was lost.
func stress(w workload) (result, error) {
	return stressLive(w, 0, nil, nil)
}

// stressLive is stress with a control loop: every tick it reports the
// throughput since the last tick, and between ticks (every millisecond) it
// calls control, which may switch the mode and says how long that took.
func stressLive(w workload, tick time.Duration,
	report func(elapsed time.Duration, ops int64, rate float64),
	control func(elapsed time.Duration) (time.Duration, bool)) (result, error) {
	if n := w.threads + w.goroutines; runtime.GOMAXPROCS(0) < n {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	}
	pairs := make([]pair, w.locks)
	before := pvlock.ReadStats()
	var (
		ops       atomic.Int64
		violation atomic.Bool
		stop      atomic.Bool
		wg        sync.WaitGroup
	)
	worker := func(id int, lockThread bool) {
		defer wg.Done()
		if lockThread {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		n := int64(0)
		for i := id; !stop.Load(); i++ {
			p := &pairs[i%len(pairs)]
			p.mu.Lock()
			if p.a != p.b {
				violation.Store(true)
			}
			p.a++
			p.b++
			p.mu.Unlock()
			if n++; n == 256 {
				ops.Add(n)
				n = 0
			}
		}
		ops.Add(n)
	}
	start := time.Now()
	for i := range w.threads + w.goroutines {
		wg.Add(1)
		go worker(i, i < w.threads)
	}
	if tick <= 0 {
		time.Sleep(w.duration)
	} else {
		lastT, lastOps := start, int64(0)
		for {
			now := time.Now()
			if now.Sub(start) >= w.duration {
				break
			}
			if control != nil {
				control(now.Sub(start))
			}
			if now.Sub(lastT) >= tick {
				o := ops.Load()
				report(now.Sub(start), o, float64(o-lastOps)/now.Sub(lastT).Seconds())
				lastT, lastOps = now, o
			}
			time.Sleep(time.Millisecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	r := result{ops: ops.Load(), elapsed: time.Since(start)}
	r.stats = pvlock.ReadStats().Sub(before)
	var total int64
	for i := range pairs {
		if pairs[i].a != pairs[i].b {
			violation.Store(true)
		}
		total += pairs[i].a
	}
	switch {
	case violation.Load() || total != r.ops:
		return r, fmt.Errorf("pvswitch: mutual exclusion violated (%d updates for %d critical sections)", total, r.ops)
	case r.stats.Rescues != 0:
		return r, fmt.Errorf("pvswitch: %d lost wakeups rescued by the backstop", r.stats.Rescues)
	}
	return r, nil
}

func stressCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("stress", stderr)
	var w workload
	w.flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := w.validate(); err != nil {
		fmt.Fprintf(stderr, "pvswitch stress: %v\n", err)
		return 2
	}
	r, err := stress(w)
	fmt.Fprintf(stdout, "mode=%v threads=%d goroutines=%d locks=%d cpus=%d: %.0f ops/s (%d ops in %v)\n",
		pvlock.CurrentMode(), w.threads, w.goroutines, w.locks, runtime.NumCPU(), r.opsPerSec(), r.ops, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "stats: slow=%d parks=%d kicks=%d rescues=%d untracked=%d\n",
		r.stats.SlowAcquires, r.stats.Parks, r.stats.Kicks, r.stats.Rescues, r.stats.Untracked)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
