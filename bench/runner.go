package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Case is one workload and the locks measured on it.
type Case struct {
	Workload Workload `json:"workload"`
	Locks    []Lock   `json:"locks"`
	// Plot names the sweep the case belongs to ("threads", "oversub",
	// "cs", "switch", or empty), and X is its position on that sweep's
	// x axis.
	Plot string  `json:"plot,omitempty"`
	X    float64 `json:"x,omitempty"`
}

// Suite is a list of cases, each measured Reps times.
type Suite struct {
	Name  string `json:"name"`
	Reps  int    `json:"reps"`
	Cases []Case `json:"cases"`
}

// Validate checks every case.
func (s Suite) Validate() error {
	if s.Reps < 1 {
		return fmt.Errorf("bench: suite %q: reps must be at least 1", s.Name)
	}
	if len(s.Cases) == 0 {
		return fmt.Errorf("bench: suite %q has no cases", s.Name)
	}
	names := map[string]bool{}
	for _, c := range s.Cases {
		if err := c.Workload.Validate(); err != nil {
			return fmt.Errorf("case %q: %w", c.Workload.Name, err)
		}
		if names[c.Workload.Name] {
			return fmt.Errorf("bench: suite %q: two cases named %q", s.Name, c.Workload.Name)
		}
		names[c.Workload.Name] = true
		if len(c.Locks) == 0 {
			return fmt.Errorf("bench: case %q has no locks", c.Workload.Name)
		}
		for _, l := range c.Locks {
			if _, err := ParseLock(string(l)); err != nil {
				return err
			}
			if l == Switched && c.Workload.SwitchEvery <= 0 {
				return fmt.Errorf("bench: case %q: the switched row needs a switch period", c.Workload.Name)
			}
		}
	}
	return nil
}

// Runner runs suites. Rows that need the process-wide pvlock mode run as
// child processes of Exe (a binary whose first act is ChildMain), one run
// per child, alternating between the locks of a case (A B A B ...);
// sync.Mutex and the TTAS reference run in the Runner's own process between
// them. Antagonists are children of Exe too; they run for the whole of a
// case's repetition and are always killed: when the case is done, when the
// run fails, when ctx is canceled, and (Pdeathsig) when this process dies.
type Runner struct {
	// Exe and Args start a copy of a binary that calls ChildMain.
	Exe  string
	Args []string
	// FlagExe and FlagArgs start the same binary built with
	// -tags pvswitch_flagdispatch; when FlagExe is empty, the flag rows
	// are skipped and FlagSkip says why.
	FlagExe  string
	FlagArgs []string
	FlagSkip string
	// Progress, if set, is called before each run.
	Progress func(done, total int, what string)
	// OnAntagonists, if set, is called with the antagonists' pids each
	// time they have been started.
	OnAntagonists func(pids []int)

	probed   bool
	autoSkip string
}

// skipReason says why lock l cannot be measured by r, or "". Whether
// pvlock knows PVLOCK_MODE=auto is asked of a probe child, once.
func (r *Runner) skipReason(ctx context.Context, l Lock) string {
	switch l {
	case Auto:
		if !r.probed {
			r.probed, r.autoSkip = true, proc{r.Exe, r.Args}.probeAuto(ctx)
		}
		return r.autoSkip
	case FlagNative, FlagParavirt:
		if r.FlagExe == "" {
			if r.FlagSkip != "" {
				return r.FlagSkip
			}
			return "no pvswitch_flagdispatch binary given"
		}
	}
	return ""
}

// Run runs suite s and returns its report. It stops at the first failed
// run (the report so far is returned with the error) and when ctx is done.
func (r *Runner) Run(ctx context.Context, s Suite) (*Report, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if r.Exe == "" {
		return nil, fmt.Errorf("bench: Runner.Exe is empty")
	}
	rep := &Report{Schema: SchemaVersion, Suite: s.Name, Reps: s.Reps, Started: time.Now().UTC(), Env: ReadEnvironment()}
	rows := map[[2]string]*Row{}
	total := 0
	for _, c := range s.Cases {
		for _, l := range c.Locks {
			row := &Row{Case: c.Workload.Name, Plot: c.Plot, X: c.X, Workload: c.Workload, Lock: l, Skipped: r.skipReason(ctx, l)}
			rows[[2]string{c.Workload.Name, string(l)}] = row
			rep.Rows = append(rep.Rows, row)
			if row.Skipped == "" {
				total += s.Reps
			}
		}
	}
	for _, row := range rep.Rows {
		if row.Skipped != "" && !slices.Contains(rep.Notes, "skipped "+string(row.Lock)+": "+row.Skipped) {
			rep.Notes = append(rep.Notes, "skipped "+string(row.Lock)+": "+row.Skipped)
		}
	}
	periods := map[int][]string{}
	var order []int
	for _, c := range s.Cases {
		p := c.Workload.SampleEvery
		if p == 0 {
			p = DefaultSampleEvery
		}
		if periods[p] == nil {
			order = append(order, p)
		}
		periods[p] = append(periods[p], c.Workload.Name)
	}
	// The most common period is "every other case"; the rest are named.
	common := order[0]
	for _, p := range order {
		if len(periods[p]) > len(periods[common]) {
			common = p
		}
	}
	for _, p := range order {
		what := "every case"
		if len(order) > 1 {
			what = strings.Join(periods[p], ", ")
			if p == common {
				what = "every other case"
			}
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("latency (%s): one acquisition in %d per worker is timed, from the call of Lock to its return, so that reading the clock does not dominate the op", what, p))
	}
	rep.Notes = append(rep.Notes,
		"machine load (/proc/loadavg) at the start: "+rep.Env.LoadAvg,
		"steal, CPU pressure (PSI some), run delay: read by internal/signals just before each run's workers start and just after they stop; a row shows the medians over its runs")
	self := proc{r.Exe, r.Args}
	flag := proc{r.FlagExe, r.FlagArgs}
	done := 0
	err := func() error {
		for i := range s.Reps {
			for _, c := range s.Cases {
				if err := r.runCase(ctx, self, flag, c, i, rows, &done, total); err != nil {
					return err
				}
			}
		}
		return nil
	}()
	rep.Wall = time.Since(rep.Started)
	for _, row := range rep.Rows {
		row.summarize()
	}
	rep.computeRatios()
	rep.Targets = EvaluateTargets(rep)
	for _, m := range missingInputs(rep.Rows) {
		rep.Notes = append(rep.Notes, "signal not recorded: "+m)
	}
	if err != nil {
		return rep, err
	}
	return rep, nil
}

// runCase runs one repetition of case c: antagonists up, each lock once,
// antagonists down.
func (r *Runner) runCase(ctx context.Context, self, flag proc, c Case, repN int, rows map[[2]string]*Row, done *int, total int) error {
	var h *hogs
	defer func() { h.stop() }()
	if n := c.Workload.Antagonists; n > 0 {
		var err error
		if h, err = self.startHogs(ctx, n); err != nil {
			return err
		}
		if r.OnAntagonists != nil {
			r.OnAntagonists(h.pids())
		}
	}
	for _, l := range c.Locks {
		row := rows[[2]string{c.Workload.Name, string(l)}]
		if row.Skipped != "" {
			continue
		}
		if r.Progress != nil {
			r.Progress(*done, total, fmt.Sprintf("%s %s (rep %d)", c.Workload.Name, l, repN+1))
		}
		var (
			smp Sample
			err error
		)
		switch {
		case l == FlagNative || l == FlagParavirt:
			smp, err = flag.runChildRow(ctx, c.Workload, l)
		case l.ProcessWide():
			smp, err = self.runChildRow(ctx, c.Workload, l)
		default:
			smp, err = Measure(ctx, c.Workload, l)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", c.Workload.Name, l, err)
		}
		row.Samples = append(row.Samples, smp)
		*done++
	}
	if r.Progress != nil && *done == total {
		r.Progress(*done, total, "done")
	}
	return nil
}

// Row is one lock on one case: its runs and their medians.
type Row struct {
	Case     string   `json:"case"`
	Plot     string   `json:"plot,omitempty"`
	X        float64  `json:"x,omitempty"`
	Workload Workload `json:"workload"`
	Lock     Lock     `json:"lock"`
	// Skipped says why the row was not measured ("" if it was).
	Skipped string   `json:"skipped,omitempty"`
	Samples []Sample `json:"samples"`
	// OpsPerSec is the median throughput over the samples, OpsPerSecMin
	// and OpsPerSecMax the spread.
	OpsPerSec    float64 `json:"ops_per_sec"`
	OpsPerSecMin float64 `json:"ops_per_sec_min"`
	OpsPerSecMax float64 `json:"ops_per_sec_max"`
	// VsMutex is OpsPerSec over sync.Mutex's on the same case (0 when
	// the case has no sync.Mutex row).
	VsMutex float64 `json:"vs_mutex"`
	// Latency is the median of each percentile over the samples.
	Latency Percentiles `json:"latency"`
	// Fairness is the median over samples of fewest/most ops per worker
	// (1 = perfectly even).
	Fairness float64 `json:"fairness"`
	// Switch summarises every switch of the row's samples.
	Switch SwitchSummary `json:"switch"`
	// LockNsPerOp, on uncontended rows, is the median over samples of the
	// time per op minus the loop's time without a lock (Sample.LoopNsPerOp).
	LockNsPerOp float64 `json:"lock_ns_per_op,omitempty"`
	// PairNsPerOp, on uncontended rows, is the median over samples of
	// Sample.PairNsPerOp: one Lock+Unlock in a tight loop.
	PairNsPerOp float64 `json:"pair_ns_per_op,omitempty"`
	// Signals are the medians over samples of each signal.
	Signals *Signals `json:"signals"`
	// Traps is the sum over samples.
	Traps uint64 `json:"traps"`
}

// SwitchSummary is the distribution of switch wall times.
type SwitchSummary struct {
	N    int           `json:"n"`
	Busy int           `json:"busy"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quantileDur returns the q-quantile (nearest rank) of sorted d.
func quantileDur(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func (row *Row) summarize() {
	if len(row.Samples) == 0 {
		return
	}
	var ops, p50, p99, p999, pmax, fair []float64
	var sw []time.Duration
	var lockNs, pairNs []float64
	row.Traps = 0
	for _, s := range row.Samples {
		ops = append(ops, s.OpsPerSec)
		p50 = append(p50, float64(s.Latency.P50))
		p99 = append(p99, float64(s.Latency.P99))
		p999 = append(p999, float64(s.Latency.P999))
		pmax = append(pmax, float64(s.Latency.Max))
		if s.FairMax > 0 {
			fair = append(fair, float64(s.FairMin)/float64(s.FairMax))
		}
		sw = append(sw, s.Switches...)
		if s.PairNsPerOp > 0 {
			pairNs = append(pairNs, s.PairNsPerOp)
		}
		if s.LoopNsPerOp > 0 && s.OpsPerSec > 0 {
			lockNs = append(lockNs, 1e9/s.OpsPerSec-s.LoopNsPerOp)
		}
		row.Switch.Busy += s.SwitchBusy
		row.Traps += s.Traps
	}
	row.OpsPerSec = median(ops)
	row.OpsPerSecMin, row.OpsPerSecMax = slices.Min(ops), slices.Max(ops)
	row.Latency = Percentiles{
		Samples: row.Samples[0].Latency.Samples,
		P50:     int64(median(p50)), P99: int64(median(p99)), P999: int64(median(p999)), Max: int64(median(pmax)),
	}
	row.Fairness = median(fair)
	row.LockNsPerOp = median(lockNs)
	row.PairNsPerOp = median(pairNs)
	row.Signals = medianSignals(row.Samples)
	slices.Sort(sw)
	row.Switch.N = len(sw)
	row.Switch.P50, row.Switch.P99 = quantileDur(sw, 0.5), quantileDur(sw, 0.99)
	if len(sw) > 0 {
		row.Switch.Max = sw[len(sw)-1]
	}
}
