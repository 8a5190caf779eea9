package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pvswitch/pvswitch/internal/ttas"
	"github.com/pvswitch/pvswitch/pvlock"
)

// Lock names a lock a row measures.
type Lock string

// The locks compared. Native, Paravirt, Auto, Switched, FlagNative and
// FlagParavirt need the process-wide pvlock mode, so each of their runs is
// a child process (see Runner); TTAS and Mutex run in the runner's own
// process.
const (
	Native       Lock = "native"        // pvlock.SpinLock, PVLOCK_MODE=native (patched sites)
	Paravirt     Lock = "paravirt"      // pvlock.SpinLock, PVLOCK_MODE=paravirt (patched sites)
	Auto         Lock = "auto"          // pvlock.SpinLock, PVLOCK_MODE=auto (when pvlock supports it)
	Switched     Lock = "switched"      // pvlock.SpinLock, switched native<->paravirt every Workload.SwitchEvery
	FlagNative   Lock = "flag-native"   // the pvswitch_flagdispatch build, PVLOCK_MODE=native
	FlagParavirt Lock = "flag-paravirt" // the pvswitch_flagdispatch build, PVLOCK_MODE=paravirt
	TTAS         Lock = "ttas"          // internal/ttas, the static reference TTAS lock in assembly
	Mutex        Lock = "sync.Mutex"    // sync.Mutex, the baseline of every ratio
)

// AllLocks lists every Lock in the order rows are run and shown.
var AllLocks = []Lock{Native, Paravirt, Auto, Switched, FlagNative, FlagParavirt, TTAS, Mutex}

// ProcessWide reports whether l needs a child process of its own (it
// depends on the process-wide pvlock mode or on another build).
func (l Lock) ProcessWide() bool {
	switch l {
	case TTAS, Mutex:
		return false
	}
	return true
}

// pvlockMode is the PVLOCK_MODE a child for l starts with.
func (l Lock) pvlockMode() string {
	switch l {
	case Paravirt, FlagParavirt:
		return "paravirt"
	case Auto:
		return "auto"
	}
	return "native"
}

// ParseLock returns the Lock named s.
func ParseLock(s string) (Lock, error) {
	for _, l := range AllLocks {
		if string(l) == s {
			return l, nil
		}
	}
	return "", fmt.Errorf("bench: unknown lock %q (want one of %v)", s, AllLocks)
}

// Workload is the shape of one measured run. Every worker loops: work
// outside the lock (Outside multiply-adds on local data), take one of the
// Locks (worker i starts at lock i and moves on by one each op), run the
// critical section (CS dependent multiply-adds over the lock's 8 shared
// words, written back in WritePct percent of the ops and only read in the
// others), count the op under the lock, release.
type Workload struct {
	// Name identifies the workload in tables, plots and files.
	Name string `json:"name"`
	// Threads is the number of workers (at least 1).
	Threads int `json:"threads"`
	// LockThreads locks every worker to its own OS thread and raises
	// GOMAXPROCS to Threads, so that the OS, not the Go scheduler, runs
	// more threads than there are CPUs (as a VM whose host overcommits).
	LockThreads bool `json:"lock_threads"`
	// GOMAXPROCS, when above 0 and LockThreads is false, sets GOMAXPROCS
	// for the run (goroutine rows, e.g. 32 goroutines at GOMAXPROCS=2).
	GOMAXPROCS int `json:"gomaxprocs,omitempty"`
	// CS is the critical section's length in multiply-adds (0: only the
	// op count).
	CS int `json:"cs"`
	// Outside is the work between two acquisitions, in multiply-adds.
	Outside int `json:"outside"`
	// Locks is the number of locks (at least 1).
	Locks int `json:"locks"`
	// WritePct is the percentage of critical sections that write the
	// shared words back (100: write; low: read-mostly).
	WritePct int `json:"write_pct"`
	// Antagonists is the number of CPU-hog processes (each one busy loop)
	// that run during the measurement.
	Antagonists int `json:"antagonists"`
	// Duration is how long the workers run.
	Duration time.Duration `json:"duration_ns"`
	// SwitchEvery is the period of the Switched row's switches.
	SwitchEvery time.Duration `json:"switch_every_ns,omitempty"`
	// SampleEvery: every worker times one acquisition (from the call of
	// Lock to its return) in SampleEvery, so that reading the clock does
	// not dominate the op. 0 means DefaultSampleEvery.
	SampleEvery int `json:"sample_every"`
}

// DefaultSampleEvery is the latency sampling period used when
// Workload.SampleEvery is 0: one acquisition in 32 is timed.
const DefaultSampleEvery = 32

// Validate returns an error naming the first field out of range.
func (w Workload) Validate() error {
	switch {
	case w.Threads < 1:
		return errors.New("bench: threads must be at least 1")
	case w.Locks < 1:
		return errors.New("bench: locks must be at least 1")
	case w.CS < 0 || w.Outside < 0:
		return errors.New("bench: critical section and outside work must not be negative")
	case w.WritePct < 0 || w.WritePct > 100:
		return errors.New("bench: write percentage must be in 0..100")
	case w.Antagonists < 0:
		return errors.New("bench: antagonists must not be negative")
	case w.Duration <= 0:
		return errors.New("bench: duration must be positive")
	case w.GOMAXPROCS < 0 || w.SampleEvery < 0 || w.SwitchEvery < 0:
		return errors.New("bench: gomaxprocs, sample period and switch period must not be negative")
	}
	return nil
}

// Percentiles of the sampled acquisition latencies, in nanoseconds.
type Percentiles struct {
	Samples int64 `json:"samples"`
	P50     int64 `json:"p50_ns"`
	P99     int64 `json:"p99_ns"`
	P999    int64 `json:"p999_ns"`
	Max     int64 `json:"max_ns"`
}

// TimePoint is one point of a run's timeline.
type TimePoint struct {
	T         time.Duration `json:"t_ns"`
	OpsPerSec float64       `json:"ops_per_sec"`
}

// ModeChange marks a completed switch in a run's timeline.
type ModeChange struct {
	T    time.Duration `json:"t_ns"`
	Mode string        `json:"mode"`
}

// Sample is what one run measured.
type Sample struct {
	Lock      Lock          `json:"lock"`
	Ops       int64         `json:"ops"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	OpsPerSec float64       `json:"ops_per_sec"`
	// Latency is over the sampled acquisitions (Workload.SampleEvery).
	Latency Percentiles `json:"latency"`
	// FairMin and FairMax are the fewest and most ops one worker did.
	FairMin int64 `json:"fair_min"`
	FairMax int64 `json:"fair_max"`
	// Switches are the wall times of the run's completed switches
	// (Switched rows), SwitchBusy the ones refused with ErrBusy.
	Switches   []time.Duration `json:"switches_ns,omitempty"`
	SwitchBusy int             `json:"switch_busy,omitempty"`
	// ModeSwitches counts the switches pvlock completed during the run
	// (any caller: the Switched row's, or the auto policy's), and EndMode
	// is the mode at the end (pvlock rows).
	ModeSwitches int64  `json:"mode_switches"`
	EndMode      string `json:"end_mode,omitempty"`
	// Traps are pvlock's trap-emulated site executions during the run.
	Traps uint64 `json:"traps"`
	// Stats are pvlock's statistics during the run (pvlock rows).
	Stats     pvlock.Stats `json:"stats"`
	Mechanism string       `json:"mechanism,omitempty"`
	Timeline  []TimePoint  `json:"timeline,omitempty"`
	Modes     []ModeChange `json:"modes,omitempty"`
	Signals   *Signals     `json:"signals,omitempty"`
	// LoopNsPerOp, on an uncontended row (one worker, no critical
	// section, no outside work), is the time per op of the same loop
	// with no lock, measured right after the run in the same process;
	// the lock's own cost is 1e9/OpsPerSec minus it.
	LoopNsPerOp float64 `json:"loop_ns_per_op,omitempty"`
	// PairNsPerOp, on an uncontended row, is the time of one Lock+Unlock
	// pair in a tight loop of nothing else (tightPairs): the lock's own
	// cost, without the harness's counting, sampling and clock reads,
	// whose noise is larger than the lock's cost.
	PairNsPerOp float64 `json:"pair_ns_per_op,omitempty"`
	SignalNote  string  `json:"signal_note,omitempty"`
}

// guarded is one lock and the data it guards, padded to its own lines.
// The lock is called through its concrete type (lock and unlock switch on
// it), not through sync.Locker, so that every lock's fast path can be
// inlined as in real use; mu serves only locks of other types (tests).
type guarded struct {
	mu    sync.Locker
	nop   bool // no locking: the loop baseline
	spin  *pvlock.SpinLock
	mutex *sync.Mutex
	tt    *ttas.Lock
	words [8]uint64
	count int64
	owner int64 // the holder's id+1, checked at the end of each critical section
	_     [64]byte
}

func (g *guarded) lock() {
	switch {
	case g.nop:
	case g.spin != nil:
		g.spin.Lock()
	case g.mutex != nil:
		g.mutex.Lock()
	case g.tt != nil:
		g.tt.Lock()
	default:
		g.mu.Lock()
	}
}

func (g *guarded) unlock() {
	switch {
	case g.nop:
	case g.spin != nil:
		g.spin.Unlock()
	case g.mutex != nil:
		g.mutex.Unlock()
	case g.tt != nil:
		g.tt.Unlock()
	default:
		g.mu.Unlock()
	}
}

// counter is one worker's published op count, on its own cache line.
type counter struct {
	n atomic.Int64
	_ [56]byte
}

// newLockerHook, when set (by tests), makes every lock.
var newLockerHook func(Lock) sync.Locker

// newLocker returns a fresh lock of kind l for this process.
func newLocker(l Lock) (sync.Locker, error) {
	if newLockerHook != nil {
		return newLockerHook(l), nil
	}
	switch l {
	case TTAS:
		return new(ttas.Lock), nil
	case Mutex:
		return new(sync.Mutex), nil
	case Native, Paravirt, Auto, Switched, FlagNative, FlagParavirt:
		return new(pvlock.SpinLock), nil
	}
	return nil, fmt.Errorf("bench: unknown lock %q", l)
}

// timelineTick is the period of a switched run's timeline (other rows
// record none).
const timelineTick = 20 * time.Millisecond

// Measure runs w in this process with fresh locks of kind l and returns
// what it measured. For the pvlock kinds it measures the mode the process
// is in (a Runner's child sets it with PVLOCK_MODE); for Switched it
// switches the mode every w.SwitchEvery. It returns an error if two workers
// were ever inside one critical section, if the ops counted under the
// locks do not equal the ops the workers did, if a wakeup was lost, or if
// ctx was done before the run ended. Antagonists are a Runner's job:
// Measure ignores w.Antagonists.
func Measure(ctx context.Context, w Workload, l Lock) (Sample, error) {
	s, err := measureWith(ctx, w, l, false)
	if err == nil && w.Threads == 1 && w.CS == 0 && w.Outside == 0 {
		// The uncontended row: time the same loop with no lock, so that
		// the lock's own cost can be told from the harness's.
		b := w
		b.Duration = min(w.Duration, 100*time.Millisecond)
		if bs, err := measureWith(ctx, b, l, true); err == nil {
			s.LoopNsPerOp = 1e9 / bs.OpsPerSec
		}
		if ns, err := tightPairs(l); err == nil {
			s.PairNsPerOp = ns
		}
	}
	return s, err
}

// tightPairs times Lock+Unlock pairs of one fresh lock of kind l, called
// through its concrete type in a loop that does nothing else: the median
// over tightChunks chunks of tightPairsPerChunk pairs, so that a chunk the
// OS or the hypervisor interrupted does not count.
func tightPairs(l Lock) (float64, error) {
	mu, err := newLocker(l)
	if err != nil {
		return 0, err
	}
	var chunk func()
	switch m := mu.(type) {
	case *pvlock.SpinLock:
		chunk = func() {
			for range tightPairsPerChunk {
				m.Lock()
				m.Unlock()
			}
		}
	case *sync.Mutex:
		chunk = func() {
			for range tightPairsPerChunk {
				m.Lock()
				m.Unlock()
			}
		}
	case *ttas.Lock:
		chunk = func() {
			for range tightPairsPerChunk {
				m.Lock()
				m.Unlock()
			}
		}
	default:
		chunk = func() {
			for range tightPairsPerChunk {
				mu.Lock()
				mu.Unlock()
			}
		}
	}
	chunk() // warm up
	ns := make([]float64, tightChunks)
	for i := range ns {
		t0 := time.Now()
		chunk()
		ns[i] = float64(time.Since(t0).Nanoseconds()) / tightPairsPerChunk
	}
	return median(ns), nil
}

const (
	tightChunks        = 9
	tightPairsPerChunk = 1 << 20
)

// measureWith is Measure; nop replaces the locks with no locking at all
// (for the loop baseline: one worker only).
func measureWith(ctx context.Context, w Workload, l Lock, nop bool) (Sample, error) {
	if err := w.Validate(); err != nil {
		return Sample{}, err
	}
	procs := w.GOMAXPROCS
	if w.LockThreads {
		procs = max(w.Threads, runtime.GOMAXPROCS(0))
	}
	if procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	}
	every := w.SampleEvery
	if every == 0 {
		every = DefaultSampleEvery
	}
	gs := make([]guarded, w.Locks)
	for i := range gs {
		mu, err := newLocker(l)
		if err != nil {
			return Sample{}, err
		}
		gs[i].mu = mu
		if nop {
			gs[i].nop = true
			continue
		}
		switch m := mu.(type) {
		case *pvlock.SpinLock:
			gs[i].spin = m
		case *sync.Mutex:
			gs[i].mutex = m
		case *ttas.Lock:
			gs[i].tt = m
		}
		for k := range gs[i].words {
			gs[i].words[k] = uint64(k + 1)
		}
	}
	counts := make([]counter, w.Threads)
	hists := make([]*hdrhistogram.Histogram, w.Threads)
	var (
		stop    atomic.Bool
		overlap atomic.Bool
		wg      sync.WaitGroup
		ready   sync.WaitGroup
		start   = make(chan struct{})
	)
	worker := func(id int) {
		defer wg.Done()
		if w.LockThreads {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		h := hdrhistogram.New(1, int64(100*time.Second), 2)
		hists[id] = h
		ready.Done()
		<-start
		local := uint64(id + 1)
		me := int64(id + 1)
		rnd := local * 0x9E3779B97F4A7C15
		var n int64
		li := id % len(gs)
		sampleIn := 1 + id%every // workers sample out of step
		for !stop.Load() {
			for range w.Outside {
				local = local*6364136223846793005 + 1442695040888963407
			}
			g := &gs[li]
			if li++; li == len(gs) {
				li = 0
			}
			if sampleIn--; sampleIn == 0 {
				sampleIn = every
				t0 := time.Now()
				g.lock()
				h.RecordValue(int64(time.Since(t0)))
			} else {
				g.lock()
			}
			g.owner = me
			if w.CS > 0 {
				write := true
				if w.WritePct < 100 {
					rnd = rnd*6364136223846793005 + 1
					write = int((rnd>>33)%100) < w.WritePct
				}
				x := g.words[0]
				for k := range w.CS {
					x = x*g.words[k&7] + 1442695040888963407
				}
				if write {
					g.words[n&7] = x
				} else {
					local ^= x
				}
			}
			if g.owner != me {
				overlap.Store(true)
			}
			g.count++
			g.unlock()
			n++
			if n&63 == 0 {
				counts[id].n.Store(n)
			}
		}
		counts[id].n.Store(n)
		sink.Add(local)
	}
	ready.Add(w.Threads)
	for i := range w.Threads {
		wg.Add(1)
		go worker(i)
	}
	ready.Wait()
	beforeStats, beforeStatus := pvlock.Stats{}, pvlock.Status{}
	pv := l.ProcessWide()
	if pv {
		beforeStats, beforeStatus = pvlock.ReadStats(), pvlock.ReadStatus()
	}
	sig := startSignals()
	var s Sample
	s.Lock = l
	t0 := time.Now()
	close(start)

	// The switcher (Switched rows) and the timeline run here.
	total := func() int64 {
		var t int64
		for i := range counts {
			t += counts[i].n.Load()
		}
		return t
	}
	nextTick, nextSwitch := t0.Add(timelineTick), t0.Add(w.SwitchEvery)
	lastT, lastOps := t0, int64(0)
	var runErr error
	for {
		now := time.Now()
		if now.Sub(t0) >= w.Duration || ctx.Err() != nil {
			break
		}
		if l == Switched && !now.Before(nextTick) {
			o := total()
			s.Timeline = append(s.Timeline, TimePoint{T: now.Sub(t0), OpsPerSec: float64(o-lastOps) / now.Sub(lastT).Seconds()})
			lastT, lastOps = now, o
			nextTick = nextTick.Add(timelineTick)
		}
		if l == Switched && w.SwitchEvery > 0 && !now.Before(nextSwitch) {
			to := pvlock.Paravirt
			if pvlock.CurrentMode() == pvlock.Paravirt {
				to = pvlock.Native
			}
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			ts := time.Now()
			err := pvlock.Switch(sctx, to)
			d := time.Since(ts)
			cancel()
			switch {
			case err == nil:
				s.Switches = append(s.Switches, d)
				s.Modes = append(s.Modes, ModeChange{T: time.Since(t0), Mode: to.String()})
			case errors.Is(err, pvlock.ErrBusy):
				s.SwitchBusy++
			case ctx.Err() == nil:
				runErr = fmt.Errorf("bench: switch to %v: %w", to, err)
			}
			if runErr != nil {
				break
			}
			nextSwitch = time.Now().Add(w.SwitchEvery)
		}
		wait := min(time.Millisecond, time.Until(t0.Add(w.Duration)))
		if l == Switched {
			wait = min(wait, time.Until(nextTick), time.Until(nextSwitch))
		}
		if wait > 0 {
			time.Sleep(wait)
		}
	}
	stop.Store(true)
	wg.Wait()
	s.Elapsed = time.Since(t0)
	s.Signals = sig.stop()
	if pv {
		st := pvlock.ReadStatus()
		s.Stats = pvlock.ReadStats().Sub(beforeStats)
		s.Traps = st.Traps - beforeStatus.Traps
		s.ModeSwitches = st.Switches - beforeStatus.Switches
		s.EndMode = st.Mode.String()
		s.Mechanism = st.Mechanism.String()
	}
	if runErr != nil {
		return s, runErr
	}
	if err := ctx.Err(); err != nil {
		return s, err
	}
	all := hdrhistogram.New(1, int64(100*time.Second), 2)
	s.FairMin = -1
	for i := range counts {
		n := counts[i].n.Load()
		s.Ops += n
		if s.FairMin < 0 || n < s.FairMin {
			s.FairMin = n
		}
		s.FairMax = max(s.FairMax, n)
		all.Merge(hists[i])
	}
	s.OpsPerSec = float64(s.Ops) / s.Elapsed.Seconds()
	s.Latency = Percentiles{
		Samples: all.TotalCount(),
		P50:     all.ValueAtQuantile(50),
		P99:     all.ValueAtQuantile(99),
		P999:    all.ValueAtQuantile(99.9),
		Max:     all.Max(),
	}
	var counted int64
	for i := range gs {
		counted += gs[i].count
	}
	if overlap.Load() {
		return s, errors.New("bench: two workers were inside one critical section: mutual exclusion violated")
	}
	if counted != s.Ops {
		return s, fmt.Errorf("bench: %d ops counted under the locks, %d done: mutual exclusion violated", counted, s.Ops)
	}
	if s.Stats.Rescues != 0 {
		return s, fmt.Errorf("bench: %d lost wakeups rescued by pvlock's backstop", s.Stats.Rescues)
	}
	return s, nil
}

// sink keeps the workers' local work from being optimised away.
var sink atomic.Uint64
