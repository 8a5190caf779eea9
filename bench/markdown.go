package bench

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// ReadmeBegin and ReadmeEnd delimit the generated part of a README:
// UpdateReadme replaces what lies between them with Markdown's output.
const (
	ReadmeBegin = "<!-- pvswitch bench: begin generated measurements -->"
	ReadmeEnd   = "<!-- pvswitch bench: end generated measurements -->"
)

// Markdown renders rep for a README: the environment, every target beside
// what was measured (a missed target says MISSED), a table of median
// throughput per case as a ratio to sync.Mutex's, notes, and the plots
// (their paths prefixed with imgPrefix, e.g. "docs/bench/"; none when
// imgPrefix is empty).
func Markdown(rep *Report, imgPrefix string) string {
	var b strings.Builder
	e := rep.Env
	hv := "no hypervisor flag"
	if e.Hypervisor {
		hv = "hypervisor flag set"
	}
	if e.HypervisorSignature != "" {
		hv += ", CPUID signature " + strings.TrimRight(e.HypervisorSignature, "\x00")
	}
	if len(e.HypervisorHints) > 0 {
		hv += ", " + strings.Join(e.HypervisorHints, ", ")
	} else if e.HypervisorSignature != "" {
		hv += ", no KVM_HINTS_REALTIME"
	}
	fmt.Fprintf(&b, "Suite `%s`, %d repetitions, measured %s in %v on %s (%d CPUs, %s), Linux %s, %s.\n\n",
		rep.Suite, rep.Reps, rep.Started.Format("2006-01-02 15:04 UTC"), rep.Wall.Round(time.Second), e.CPUModel, e.CPUs, hv, e.Kernel, e.GoVersion)
	if f := strings.Fields(e.LoadAvg); len(f) > 0 {
		var load float64
		if _, err := fmt.Sscan(f[0], &load); err == nil && load > float64(e.CPUs) {
			fmt.Fprintf(&b, "**The machine was busy with other work when this ran (load average %.1f on %d CPUs): runs were interrupted unevenly, the spreads below show by how much, and ratios are unreliable.**\n\n", load, e.CPUs)
		}
	}
	b.WriteString("**Targets** (from the project's issues; medians of interleaved runs):\n\n| target | want | measured | |\n| --- | --- | --- | --- |\n")
	for _, t := range rep.Targets {
		verdict := "met"
		if !t.Met {
			verdict = "**MISSED**"
			if t.Measured == "not measured" {
				verdict = "**not measured**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Want, t.Measured, verdict)
	}
	locks := []Lock{}
	present := map[Lock]bool{}
	for _, r := range rep.Rows {
		if r.Skipped == "" && len(r.Samples) > 0 {
			present[r.Lock] = true
		}
	}
	for _, l := range AllLocks {
		if present[l] && l != Mutex {
			locks = append(locks, l)
		}
	}
	b.WriteString("\n**Throughput relative to sync.Mutex** (median ops/s of the lock / median ops/s of sync.Mutex on the same case, higher is better; small print: the lock's slowest and fastest run over the same median; then sync.Mutex's median in Mops/s, and the median over the case's runs of the steal time and CPU pressure (fractions of the run) and of the measuring process's run delay (threads waiting for a CPU, on average)):\n\n| case | ")
	for _, l := range locks {
		b.WriteString(string(l) + " | ")
	}
	b.WriteString("sync.Mutex Mops/s | steal, CPU pressure, run delay |\n| --- |" + strings.Repeat(" --- |", len(locks)+2) + "\n")
	var cases []string
	for _, r := range rep.Rows {
		if len(cases) == 0 || cases[len(cases)-1] != r.Case {
			cases = append(cases, r.Case)
		}
	}
	for _, c := range cases {
		fmt.Fprintf(&b, "| %s | ", describeCase(rep, c))
		for _, l := range locks {
			r := rep.Row(c, l)
			switch {
			case r == nil || len(r.Samples) == 0:
				b.WriteString(" | ")
			case r.VsMutex > 0:
				m := r.OpsPerSec / r.VsMutex // sync.Mutex's median
				fmt.Fprintf(&b, "%.2fx <sub>%.2f-%.2f</sub>", r.VsMutex, r.OpsPerSecMin/m, r.OpsPerSecMax/m)
				if l == Auto {
					fmt.Fprintf(&b, " <sub>%s</sub>", autoModes(r))
				}
				b.WriteString(" | ")
			default:
				fmt.Fprintf(&b, "%.2f Mops/s | ", r.OpsPerSec/1e6)
			}
		}
		if m := rep.Row(c, Mutex); m != nil && len(m.Samples) > 0 {
			fmt.Fprintf(&b, "%.2f | ", m.OpsPerSec/1e6)
		} else {
			b.WriteString(" | ")
		}
		var all []Sample
		for _, r := range rep.Rows {
			if r.Case == c {
				all = append(all, r.Samples...)
			}
		}
		if g := medianSignals(all); g != nil {
			fmt.Fprintf(&b, "%.0f%%, %.0f%%, %.2f |\n", 100*g.Steal, 100*g.Pressure, g.RunDelay)
		} else {
			b.WriteString(" |\n")
		}
	}
	b.WriteString("\n")
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n")
	if imgPrefix != "" {
		built := map[string]bool{}
		for _, n := range plotNames(rep) {
			built[n] = true
		}
		for _, p := range []struct{ file, alt string }{
			{"threads-cs20", "throughput vs locked threads, CS 20"}, {"threads-cs200", "throughput vs locked threads, CS 200"},
			{"oversub", "oversubscription sweep"}, {"cs", "critical-section sweep"}, {"timeline", "phase timeline"},
			{"switch-cdf", "switch latency CDF"}, {"latency", "acquisition latency percentiles"},
		} {
			if built[p.file] {
				fmt.Fprintf(&b, "![%s](%s%s.png)\n", p.alt, imgPrefix, p.file)
			}
		}
	}
	return b.String()
}

// describeCase names a case's shape in words.
func describeCase(rep *Report, c string) string {
	for _, r := range rep.Rows {
		if r.Case != c {
			continue
		}
		w := r.Workload
		var parts []string
		if w.LockThreads {
			parts = append(parts, plural(w.Threads, "locked thread"))
		} else {
			g := plural(w.Threads, "goroutine")
			if w.GOMAXPROCS > 0 {
				g += fmt.Sprintf(" at GOMAXPROCS=%d", w.GOMAXPROCS)
			}
			parts = append(parts, g)
		}
		parts = append(parts, fmt.Sprintf("CS %d", w.CS))
		if w.Outside > 0 {
			parts = append(parts, fmt.Sprintf("outside %d", w.Outside))
		}
		if w.Locks > 1 {
			parts = append(parts, fmt.Sprintf("%d locks", w.Locks))
		}
		if w.WritePct < 100 {
			parts = append(parts, fmt.Sprintf("%d%% writes", w.WritePct))
		}
		if w.Antagonists > 0 {
			parts = append(parts, plural(w.Antagonists, "antagonist"))
		}
		if w.SwitchEvery > 0 {
			parts = append(parts, fmt.Sprintf("switched every %v", w.SwitchEvery))
		}
		return "`" + c + "`: " + strings.Join(parts, ", ")
	}
	return c
}

// UpdateReadme replaces the text between ReadmeBegin and ReadmeEnd in the
// file at path with body. Both markers must be present.
func UpdateReadme(path, body string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, ReadmeBegin), strings.Index(s, ReadmeEnd)
	if i < 0 || j < i {
		return fmt.Errorf("bench: %s lacks the markers %q and %q", path, ReadmeBegin, ReadmeEnd)
	}
	s = s[:i+len(ReadmeBegin)] + "\n" + body + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// autoModes says what the auto policy did over a row's runs: the modes
// the runs ended in and the switches it made.
func autoModes(r *Row) string {
	var n int64
	var ends []string
	for _, s := range r.Samples {
		n += s.ModeSwitches
		ends = append(ends, s.EndMode)
	}
	return fmt.Sprintf("ended %s, %d switches", strings.Join(ends, "/"), n)
}
