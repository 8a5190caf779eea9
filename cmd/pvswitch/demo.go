package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
)

// envHog makes the pvswitch binary (or a test binary of this package) a
// CPU hog: it burns one CPU until killed. The demo starts its hogs this way
// and kills them on every exit path (Pdeathsig covers a parent killed
// outright); envHogMax bounds a hog's life whatever happens.
const (
	envHog    = "PVSWITCH_HOG"
	hogMaxAge = 10 * time.Minute
)

func init() {
	if os.Getenv(envHog) == "1" {
		runtime.GOMAXPROCS(1)
		end := time.Now().Add(hogMaxAge)
		for x := uint64(1); ; x = x*6364136223846793005 + 1 {
			if x&(1<<20-1) == 0 && time.Now().After(end) {
				os.Exit(0)
			}
		}
	}
}

// demoKinds are the locks each phase plan runs with, in this order on
// even repetitions and reversed on odd ones (alternating runs).
var demoKinds = []string{"auto", "native", "paravirt", "sync.Mutex"}

// demo runs the README's main job: a workload through three phases (CPUs
// free, CPU-hog processes started by the demo, free again), once with the
// auto policy choosing the mode and once each with static native, static
// paravirt and sync.Mutex. It prints a progress line per tick, then per
// phase the throughput of each lock and the switches auto made, with its
// reaction times. It exits 1 if auto never switched.
//
// The policy's timing is scaled to -phase (Interval phase/40 but at least
// 10 ms, Sustain phase/8, Calm phase/5, MinDwell phase/4), so that each
// phase is much longer than the policy's reaction time.
func demo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr)
	threads := fs.Int("threads", runtime.NumCPU(), "goroutines locked to their own OS thread")
	locks := fs.Int("locks", 1, "number of locks")
	hogs := fs.Int("hogs", 2*runtime.NumCPU(), "CPU-hog processes in the middle phase")
	phase := fs.Duration("phase", 4*time.Second, "how long each phase runs")
	tick := fs.Duration("tick", 250*time.Millisecond, "how often to print the progress line")
	runs := fs.Int("runs", 1, "repetitions of the four runs (alternating order)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *threads < 1 || *locks < 1 || *hogs < 1 || *runs < 1 || *phase <= 0 || *tick <= 0 || *tick > *phase {
		fmt.Fprintln(stderr, "pvswitch demo: -threads, -locks, -hogs and -runs must be at least 1; -tick positive and at most -phase")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := demoPolicy(*phase)
	st := pvlock.ReadStatus()
	fmt.Fprintf(stdout, "pvswitch demo: %d locked threads on %d lock(s), %d usable CPUs; mechanism %s\n", *threads, *locks, runtime.NumCPU(), mechanism(st))
	fmt.Fprintf(stdout, "%v\n", st.Hypervisor)
	fmt.Fprintf(stdout, "phases of %v: free, %d CPU hogs, free; runs: %s (x%d); policy interval %v, sustain %v, calm %v, dwell %v\n\n",
		*phase, *hogs, strings.Join(demoKinds, ", "), *runs, cfg.Interval, cfg.Sustain, cfg.Calm, cfg.MinDwell)

	rates := map[string][3][]float64{}
	var toPV, toNative []time.Duration
	autoSwitches := 0
	var rescues int64
	defer pvlock.StopAuto()
	for rep := range *runs {
		kinds := append([]string(nil), demoKinds...)
		if rep%2 == 1 {
			slices.Reverse(kinds)
		}
		for _, k := range kinds {
			r, err := demoRun(ctx, k, *threads, *locks, *hogs, *phase, *tick, cfg, stdout)
			if err != nil {
				fmt.Fprintf(stderr, "pvswitch demo: %s: %v\n", k, err)
				return 1
			}
			v := rates[k]
			for i := range v {
				v[i] = append(v[i], r.rate[i])
			}
			rates[k] = v
			rescues += r.stats.Rescues
			if k != "auto" {
				continue
			}
			autoSwitches += len(r.switches)
			for _, s := range r.switches {
				fmt.Fprintf(stdout, "    auto switched to %v at %.2fs\n", s.to, s.at.Seconds())
			}
			if d, ok := r.reaction(pvlock.Paravirt, *phase); ok {
				toPV = append(toPV, d)
			}
			if d, ok := r.reaction(pvlock.Native, 2**phase); ok {
				toNative = append(toNative, d)
			}
		}
	}
	fmt.Fprintf(stdout, "\nthroughput per phase, Mops/s (median of %d run(s)):\n", *runs)
	fmt.Fprintf(stdout, "%-14s %10s %10s %10s %10s %12s\n", "phase", "native", "paravirt", "sync.Mutex", "auto", "auto/best")
	names := [3]string{"1 free", fmt.Sprintf("2 %d hogs", *hogs), "3 free"}
	for i, n := range names {
		nat, pv, mu, au := median(rates["native"][i]), median(rates["paravirt"][i]), median(rates["sync.Mutex"][i]), median(rates["auto"][i])
		best := max(nat, pv)
		ratio := 0.0
		if best > 0 {
			ratio = au / best
		}
		fmt.Fprintf(stdout, "%-14s %10.2f %10.2f %10.2f %10.2f %11.2fx\n", n, nat/1e6, pv/1e6, mu/1e6, au/1e6, ratio)
	}
	if nat, pv := median(rates["native"][1]), median(rates["paravirt"][1]); nat > 0 {
		fmt.Fprintf(stdout, "under the hogs: paravirt/native %.2fx\n", pv/nat)
	}
	fmt.Fprintf(stdout, "\nauto made %d switch(es); reaction, median: hogs start -> paravirt %s, hogs end -> native %s; rescues=%d\n",
		autoSwitches, medianDur(toPV), medianDur(toNative), rescues)
	fmt.Fprintf(stdout, "status: %v\n", pvlock.ReadStatus())
	if rescues != 0 {
		fmt.Fprintf(stderr, "pvswitch demo: %d lost wakeups rescued by the backstop\n", rescues)
		return 1
	}
	if autoSwitches == 0 {
		a := pvlock.ReadAuto()
		last := "none"
		if a.LastDecision != nil {
			last = a.LastDecision.Err
		}
		fmt.Fprintf(stderr, "pvswitch demo: auto never switched: the switch to paravirt planned at %v never happened (%d attempts failed; last: %v)\n",
			*phase, a.Failed, last)
		return 1
	}
	return 0
}

// demoPolicy scales the auto policy's timing to the phase length.
func demoPolicy(phase time.Duration) pvlock.AutoConfig {
	c := pvlock.DefaultAutoConfig
	c.Interval = max(phase/40, 10*time.Millisecond)
	c.Sustain = phase / 8
	c.Calm = phase / 5
	c.MinDwell = phase / 4
	return c
}

// autoSwitch is a mode change seen during an auto run, at a time from the
// run's start.
type autoSwitch struct {
	at time.Duration
	to pvlock.Mode
}

// runResult is one run of the three phases.
type runResult struct {
	rate     [3]float64 // ops/s per phase
	switches []autoSwitch
	stats    pvlock.Stats
}

// reaction is the time from `from` (a phase boundary) to the first switch
// to m after it.
func (r runResult) reaction(m pvlock.Mode, from time.Duration) (time.Duration, bool) {
	for _, s := range r.switches {
		if s.to == m && s.at >= from {
			return s.at - from, true
		}
	}
	return 0, false
}

// demoRun runs the three phases with one kind of lock.
func demoRun(ctx context.Context, kind string, threads, locks, hogs int, phase, tick time.Duration, cfg pvlock.AutoConfig, stdout io.Writer) (runResult, error) {
	var res runResult
	var lk func(i int) sync.Locker
	switch kind {
	case "auto":
		// Start each auto run in native (the plan begins with the CPUs
		// free), then let the policy decide.
		pvlock.StopAuto()
		if err := switchRetry(ctx, pvlock.Native); err != nil {
			return res, err
		}
		if err := pvlock.StartAuto(cfg); err != nil {
			return res, err
		}
		defer pvlock.StopAuto()
		ls := make([]paddedSpin, locks)
		lk = func(i int) sync.Locker { return &ls[i%locks].mu }
	case "native", "paravirt":
		pvlock.StopAuto()
		m, _ := pvlock.ParseMode(kind)
		if err := switchRetry(ctx, m); err != nil {
			return res, err
		}
		ls := make([]paddedSpin, locks)
		lk = func(i int) sync.Locker { return &ls[i%locks].mu }
	default:
		ls := make([]paddedMutex, locks)
		lk = func(i int) sync.Locker { return &ls[i%locks].mu }
	}
	if runtime.GOMAXPROCS(0) < threads {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	}
	counts := make([]int64, locks) // guarded by lock i
	var ops atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	before := pvlock.ReadStats()
	for w := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			n := int64(0)
			for i := w; !stop.Load(); i++ {
				l := lk(i)
				l.Lock()
				counts[i%locks]++
				for j := 0; j < 20; j++ { // a short critical section
					counts[i%locks] += int64(j) & 0
				}
				l.Unlock()
				if n++; n == 256 {
					ops.Add(n)
					n = 0
				}
			}
			ops.Add(n)
		}()
	}
	var h *hogSet
	defer func() {
		stop.Store(true)
		wg.Wait()
		h.stop()
	}()
	start := time.Now()
	mode := pvlock.CurrentMode()
	lastT, lastOps := start, int64(0)
	phaseStartOps := int64(0)
	cur := 0
	for cur < 3 {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("interrupted: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
		now := time.Now()
		el := now.Sub(start)
		if kind == "auto" {
			if m := pvlock.CurrentMode(); m != mode {
				res.switches = append(res.switches, autoSwitch{el, m})
				mode = m
			}
		}
		if el >= time.Duration(cur+1)*phase {
			o := ops.Load()
			res.rate[cur] = float64(o-phaseStartOps) / phase.Seconds()
			phaseStartOps = o
			cur++
			switch cur {
			case 1:
				var err error
				if h, err = startHogs(hogs); err != nil {
					return res, err
				}
			case 2:
				h.stop()
				h = nil
			}
		}
		if now.Sub(lastT) >= tick {
			o := ops.Load()
			name := [...]string{"free", "hogs", "free", "done"}[cur]
			fmt.Fprintf(stdout, "  %-10s phase %d/3 %-4s %6.2fs %8.2f Mops/s  mode=%v\n", kind, min(cur+1, 3), name, el.Seconds(),
				float64(o-lastOps)/now.Sub(lastT).Seconds()/1e6, pvlock.CurrentMode())
			lastT, lastOps = now, o
		}
	}
	if kind == "auto" && mode != pvlock.Native {
		// The promised switch back did not happen: say what the policy saw.
		fmt.Fprintf(stdout, "    auto did not switch back to native in phase 3; its last sample: %s\n", pvlock.ReadAuto().Verdict)
	}
	stop.Store(true)
	wg.Wait()
	res.stats = pvlock.ReadStats().Sub(before)
	var total int64
	for _, c := range counts {
		total += c
	}
	if total != ops.Load() {
		return res, fmt.Errorf("mutual exclusion violated: %d updates for %d critical sections", total, ops.Load())
	}
	return res, nil
}

type paddedSpin struct {
	mu pvlock.SpinLock
	_  [56]byte
}

type paddedMutex struct {
	mu sync.Mutex
	_  [56]byte
}

// switchRetry switches to m, retrying ErrBusy for up to 5 s.
func switchRetry(ctx context.Context, m pvlock.Mode) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := pvlock.Switch(ctx, m)
		if err == nil || !errors.Is(err, pvlock.ErrBusy) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hogSet is a set of CPU-hog processes.
type hogSet struct{ cmds []*exec.Cmd }

// startHogs starts n hogs: this binary re-executed with envHog=1, each
// killed with its parent (Pdeathsig) if stop is never called.
func startHogs(n int) (*hogSet, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("starting hogs: %w", err)
	}
	h := &hogSet{}
	for range n {
		c := exec.Command(exe)
		c.Env = append(os.Environ(), envHog+"=1")
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			h.stop()
			return nil, fmt.Errorf("starting hog: %w", err)
		}
		h.cmds = append(h.cmds, c)
	}
	return h, nil
}

// stop kills and reaps the hogs; nil-safe.
func (h *hogSet) stop() {
	if h == nil {
		return
	}
	for _, c := range h.cmds {
		c.Process.Kill()
	}
	for _, c := range h.cmds {
		c.Wait()
	}
	h.cmds = nil
}

// mechanism names the switch mechanism, with how patched sites are written
// or why the dispatch fallback is in use.
func mechanism(s pvlock.Status) string {
	switch {
	case s.Why != nil:
		return fmt.Sprintf("%v (%v)", s.Mechanism, s.Why)
	case s.Writer != "":
		return fmt.Sprintf("%v via %s", s.Mechanism, s.Writer)
	}
	return s.Mechanism.String()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func medianDur(v []time.Duration) string {
	if len(v) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("%v (n=%d)", s[len(s)/2].Round(time.Millisecond), len(s))
}
