package bench

import (
	"fmt"
	"time"
)

// standardLocks are the locks of most cases.
var standardLocks = []Lock{Native, Paravirt, Auto, TTAS, Mutex}

// withFlag adds the flag-dispatch build's rows.
var withFlag = []Lock{Native, Paravirt, Auto, FlagNative, FlagParavirt, TTAS, Mutex}

// suiteParams size a suite.
type suiteParams struct {
	name     string
	reps     int
	dur      time.Duration
	threads  []int
	cs       []int
	antag    []int
	switchD  time.Duration
	switchEv time.Duration
}

// QuickSuite is the suite behind the README's measurements: every target
// case, a threads sweep, an oversubscription sweep (antagonists 0..4
// against 2 locked threads), a critical-section sweep, a read-mostly and a
// several-locks case, and switches every 10 ms under 8 goroutines; 3
// repetitions of 200 ms runs. It takes under 3 minutes on 2 CPUs.
func QuickSuite() Suite {
	return makeSuite(suiteParams{name: "quick", reps: 3, dur: 200 * time.Millisecond,
		threads: []int{2, 8, 32, 128}, cs: []int{0, 20, 200, 2000}, antag: []int{0, 1, 2, 4},
		switchD: time.Second, switchEv: 10 * time.Millisecond})
}

// FullSuite is QuickSuite's shape with denser sweeps, 1 s runs and 5
// repetitions (about 15 minutes on 2 CPUs).
func FullSuite() Suite {
	return makeSuite(suiteParams{name: "full", reps: 5, dur: time.Second,
		threads: []int{2, 4, 8, 16, 32, 64, 128}, cs: []int{0, 5, 20, 50, 200, 1000, 5000}, antag: []int{0, 1, 2, 3, 4, 6, 8},
		switchD: 3 * time.Second, switchEv: 5 * time.Millisecond})
}

// TinySuite is a few-second suite for tests and smoke runs: one goroutine
// case, one locked-thread case with an antagonist, one switched case.
func TinySuite() Suite {
	d := 50 * time.Millisecond
	return Suite{Name: "tiny", Reps: 2, Cases: []Case{
		{Workload: Workload{Name: "gor-4-cs20", Threads: 4, GOMAXPROCS: 2, CS: 20, Locks: 1, WritePct: 100, Duration: d}, Locks: []Lock{Native, Paravirt, Auto, TTAS, Mutex}, Plot: "threads-cs20", X: 4},
		{Workload: Workload{Name: "locked-4-cs20-antag1", Threads: 4, LockThreads: true, CS: 20, Outside: 10, Locks: 2, WritePct: 50, Antagonists: 1, Duration: d}, Locks: []Lock{Paravirt, Mutex}, Plot: "oversub", X: 1},
		{Workload: Workload{Name: "switch-8g", Threads: 8, GOMAXPROCS: 2, CS: 20, Locks: 1, WritePct: 100, Duration: 200 * time.Millisecond, SwitchEvery: 10 * time.Millisecond}, Locks: []Lock{Switched, Mutex}, Plot: "switch"},
	}}
}

// SuiteByName returns "quick", "full" or "tiny".
func SuiteByName(name string) (Suite, error) {
	switch name {
	case "quick":
		return QuickSuite(), nil
	case "full":
		return FullSuite(), nil
	case "tiny":
		return TinySuite(), nil
	}
	return Suite{}, fmt.Errorf("bench: unknown suite %q (want quick, full or tiny)", name)
}

func makeSuite(p suiteParams) Suite {
	s := Suite{Name: p.name, Reps: p.reps}
	add := func(c Case) { s.Cases = append(s.Cases, c) }
	w := func(name string, threads int, locked bool, procs, cs int) Workload {
		return Workload{Name: name, Threads: threads, LockThreads: locked, GOMAXPROCS: procs, CS: cs, Locks: 1, WritePct: 100, Duration: p.dur}
	}
	un := w("uncontended", 1, false, 0, 0)
	un.SampleEvery = 1024 // two clock reads cost more than the op: keep them under 0.2 ns per op
	add(Case{Workload: un, Locks: withFlag})
	for _, cs := range []int{20, 200} {
		locks := standardLocks
		if cs == 20 {
			locks = withFlag
		}
		add(Case{Workload: w(fmt.Sprintf("gor-2-cs%d", cs), 2, false, 2, cs), Locks: locks})
		add(Case{Workload: w(fmt.Sprintf("gor-32-cs%d", cs), 32, false, 2, cs), Locks: standardLocks})
	}
	for _, cs := range []int{20, 200} {
		for _, n := range p.threads {
			locks := standardLocks
			if n == 32 && cs == 20 {
				locks = withFlag
			}
			add(Case{Workload: w(fmt.Sprintf("locked-%d-cs%d", n, cs), n, true, 0, cs), Locks: locks, Plot: fmt.Sprintf("threads-cs%d", cs), X: float64(n)})
		}
	}
	for _, a := range p.antag {
		wl := w(fmt.Sprintf("oversub-antag%d", a), 2, true, 0, 20)
		wl.Antagonists = a
		add(Case{Workload: wl, Locks: standardLocks, Plot: "oversub", X: float64(a)})
	}
	for _, cs := range p.cs {
		add(Case{Workload: w(fmt.Sprintf("cs-%d", cs), 8, true, 0, cs), Locks: standardLocks, Plot: "cs", X: float64(cs)})
	}
	rm := w("read-mostly-8", 8, true, 0, 200)
	rm.WritePct = 10
	add(Case{Workload: rm, Locks: standardLocks})
	ml := w("locks4-outside200-8", 8, true, 0, 200)
	ml.Locks, ml.Outside = 4, 200
	add(Case{Workload: ml, Locks: standardLocks})
	sw := w("switch-8g", 8, false, 2, 20)
	sw.Duration, sw.SwitchEvery = p.switchD, p.switchEv
	add(Case{Workload: sw, Locks: []Lock{Switched, Native, Paravirt, Mutex}, Plot: "switch"})
	return s
}
