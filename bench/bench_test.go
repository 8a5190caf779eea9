package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/pvswitch/pvswitch/internal/race"
	"time"
)

func TestMain(m *testing.M) {
	if code, ok := ChildMain(os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	if os.Getenv(testRunnerEnv) != "" {
		os.Exit(testRunnerMain())
	}
	os.Exit(m.Run())
}

// testRunnerEnv makes the test binary a runner process (for the signal
// tests): it runs a minute-long case with two antagonists, prints their
// pids, and stops on SIGINT or SIGTERM.
const testRunnerEnv = "PVSWITCH_BENCH_TEST_RUNNER"

func testRunnerMain() int {
	exe, _ := os.Executable()
	r := &Runner{Exe: exe, Args: []string{"-test.run=^$"}}
	r.OnAntagonists = func(p []int) { fmt.Println("hogs", p[0], p[1]) }
	ctx, stop := signalContext(context.Background())
	defer stop()
	_, err := r.Run(ctx, Suite{Name: "signal", Reps: 1, Cases: []Case{{
		Workload: Workload{Name: "long", Threads: 2, GOMAXPROCS: 2, CS: 20, Locks: 1, WritePct: 100, Antagonists: 2, Duration: time.Minute},
		Locks:    []Lock{Mutex},
	}}})
	fmt.Println("run:", err)
	return 0
}

// startTestRunner starts the test binary as a runner and returns it and
// its antagonists' pids.
func startTestRunner(t *testing.T) (*exec.Cmd, []int) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), testRunnerEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var a, b int
	if _, err := fmt.Fscanf(out, "hogs %d %d\n", &a, &b); err != nil {
		t.Fatalf("runner did not report its antagonists: %v", err)
	}
	go io.Copy(io.Discard, out)
	return cmd, []int{a, b}
}

// waitDead waits up to 5 s for every pid to be dead: gone, or a zombie
// (an orphan is reaped by whatever reaper the machine has, if any).
func waitDead(t *testing.T, pids []int) {
	t.Helper()
	t.Cleanup(func() {
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL) // never leave one behind, even when the test failed
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		for !dead(p) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !dead(p) {
			t.Errorf("antagonist %d still running 5 s after its runner died", p)
		}
	}
}

// dead reports whether pid is gone or a zombie.
func dead(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && strings.HasPrefix(rest, "Z")
}

// TestSIGINTStopsAntagonists: Ctrl-C (SIGINT) to a runner stops its run and
// kills its antagonists before it exits.
func TestSIGINTStopsAntagonists(t *testing.T) {
	cmd, pids := startTestRunner(t)
	checkAlive(t, pids)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("runner after SIGINT: %v", err)
	}
	checkGone(t, pids) // the runner waited for them: no delay needed
}

// TestRunnerDeathKillsAntagonists: a runner killed outright (SIGKILL, no
// chance to clean up) still leaves no antagonist (Pdeathsig).
func TestRunnerDeathKillsAntagonists(t *testing.T) {
	cmd, pids := startTestRunner(t)
	checkAlive(t, pids)
	cmd.Process.Kill()
	cmd.Wait()
	waitDead(t, pids)
}

func checkAlive(t *testing.T, pids []int) {
	t.Helper()
	for _, p := range pids {
		if err := syscall.Kill(p, 0); err != nil {
			t.Fatalf("antagonist %d not running: %v", p, err)
		}
	}
}

// testRunner re-executes this test binary for children and antagonists.
func testRunner(t *testing.T) *Runner {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{Exe: exe, Args: []string{"-test.run=^$"}, FlagSkip: "not built in tests"}
}

// checkRow checks the invariants every measured row keeps.
func checkRow(t *testing.T, r *Row) {
	t.Helper()
	for _, s := range r.Samples {
		if s.Ops <= 0 || s.Elapsed <= 0 || s.OpsPerSec <= 0 {
			t.Errorf("%s %s: empty sample %+v", r.Case, r.Lock, s)
		}
		if l := s.Latency; !(l.Samples > 0 && 0 < l.P50 && l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
			t.Errorf("%s %s: latency percentiles not ordered: %+v", r.Case, r.Lock, l)
		}
		// Rates are only checked for sign: over a 50 ms run, PSI's and
		// steal's coarse counters can overshoot 1.
		if g := s.Signals; g == nil || g.Steal < 0 || g.Pressure < 0 || g.RunDelay < 0 {
			t.Errorf("%s %s: signals not recorded or out of range: %+v", r.Case, r.Lock, g)
		}
		if s.FairMin < 0 || s.FairMin > s.FairMax || s.FairMin*int64(r.Workload.Threads) > s.Ops || s.FairMax > s.Ops {
			t.Errorf("%s %s: fairness %d..%d inconsistent with %d ops", r.Case, r.Lock, s.FairMin, s.FairMax, s.Ops)
		}
	}
	if r.Skipped == "" && !(r.OpsPerSecMin <= r.OpsPerSec && r.OpsPerSec <= r.OpsPerSecMax) {
		t.Errorf("%s %s: median %v outside spread %v..%v", r.Case, r.Lock, r.OpsPerSec, r.OpsPerSecMin, r.OpsPerSecMax)
	}
}

// TestMeasureCountsEveryOp runs the workload in process: the ops counted
// under the locks must equal the ops the workers report (measure checks it
// and fails otherwise), and the latency percentiles must be ordered.
func TestMeasureCountsEveryOp(t *testing.T) {
	for _, l := range []Lock{Mutex, TTAS, Native} {
		w := Workload{Name: "t", Threads: 4, GOMAXPROCS: 2, CS: 20, Outside: 5, Locks: 3, WritePct: 30, Duration: 30 * time.Millisecond, SampleEvery: 4}
		s, err := Measure(context.Background(), w, l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		checkRow(t, &Row{Case: "t", Lock: l, Workload: w, Samples: []Sample{s}})
	}
}

// TestMeasureUncontendedPair: an uncontended row also times Lock+Unlock
// pairs in a tight loop, and only an uncontended row does.
func TestMeasureUncontendedPair(t *testing.T) {
	for _, l := range []Lock{Mutex, TTAS, Native} {
		w := Workload{Name: "uncontended", Threads: 1, Locks: 1, WritePct: 100, Duration: 20 * time.Millisecond, SampleEvery: 1024}
		s, err := Measure(context.Background(), w, l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		// A Lock+Unlock pair costs a few nanoseconds, never under one
		// cycle and never a microsecond uncontended.
		if s.PairNsPerOp < 0.3 || s.PairNsPerOp > 1000 {
			t.Errorf("%s: PairNsPerOp = %v", l, s.PairNsPerOp)
		}
		t.Logf("%s: %.2f ns per Lock+Unlock in a tight loop; harness loop %.2f ns per op", l, s.PairNsPerOp, s.LoopNsPerOp)
		row := &Row{Case: w.Name, Lock: l, Workload: w, Samples: []Sample{s, s}}
		row.summarize()
		if row.PairNsPerOp != s.PairNsPerOp {
			t.Errorf("%s: row PairNsPerOp %v, sample %v", l, row.PairNsPerOp, s.PairNsPerOp)
		}
	}
	w := Workload{Name: "t", Threads: 2, GOMAXPROCS: 2, CS: 20, Locks: 1, WritePct: 100, Duration: 10 * time.Millisecond}
	if s, err := Measure(context.Background(), w, Mutex); err != nil || s.PairNsPerOp != 0 {
		t.Errorf("contended row: PairNsPerOp %v, err %v; want 0", s.PairNsPerOp, err)
	}
}

// TestMeasureDetectsBrokenLock: a lock that excludes nothing must be caught.
func TestMeasureDetectsBrokenLock(t *testing.T) {
	if race.Enabled {
		t.Skip("the broken lock races by design; the race detector would report it")
	}
	old := newLockerHook
	newLockerHook = func(Lock) sync.Locker { return noLock{} }
	defer func() { newLockerHook = old }()
	w := Workload{Name: "t", Threads: 4, GOMAXPROCS: 2, CS: 50, Locks: 1, WritePct: 100, Duration: 50 * time.Millisecond}
	if _, err := Measure(context.Background(), w, Mutex); err == nil {
		t.Fatal("measure accepted a lock that does not exclude")
	}
}

type noLock struct{}

func (noLock) Lock()   {}
func (noLock) Unlock() {}

// TestTinySuite runs the harness end to end: children, an antagonist,
// switches, and the files.
func TestTinySuite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the tiny suite starts child processes for about 3 s")
	}
	r := testRunner(t)
	var pids []int
	r.OnAntagonists = func(p []int) { pids = append(pids, p...) }
	rep, err := r.Run(context.Background(), TinySuite())
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) == 0 {
		t.Error("no antagonist was started")
	}
	checkGone(t, pids)
	for _, row := range rep.Rows {
		if row.Skipped != "" {
			// Only auto may be skipped, when pvlock does not know it.
			if row.Lock != Auto || !strings.Contains(row.Skipped, "auto") {
				t.Errorf("%s %s skipped: %s", row.Case, row.Lock, row.Skipped)
			}
			t.Logf("%s %s skipped: %s", row.Case, row.Lock, row.Skipped)
			continue
		}
		if len(row.Samples) != rep.Reps {
			t.Errorf("%s %s: %d samples, want %d", row.Case, row.Lock, len(row.Samples), rep.Reps)
		}
		checkRow(t, row)
	}
	if sw := rep.Row("switch-8g", Switched); sw == nil || sw.Switch.N == 0 {
		t.Errorf("switched row made no switch: %+v", sw)
	} else if sw.Switch.P50 > sw.Switch.P99 || sw.Switch.P99 > sw.Switch.Max {
		t.Errorf("switch percentiles not ordered: %+v", sw.Switch)
	}
	if m := rep.Row("gor-4-cs20", Mutex); m.VsMutex != 1 {
		t.Errorf("sync.Mutex vs itself = %v", m.VsMutex)
	}
	dir := t.TempDir()
	files, err := WriteFiles(rep, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, files)
}

// checkGone fails if any of pids is still a process (running or zombie).
func checkGone(t *testing.T, pids []int) {
	t.Helper()
	for _, p := range pids {
		if err := syscall.Kill(p, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("antagonist %d still exists (kill 0: %v)", p, err)
		}
	}
}

// TestInterruptStopsAntagonists cancels a run while its antagonists are
// up: Run must return the cancellation and no antagonist may be left.
func TestInterruptStopsAntagonists(t *testing.T) {
	r := testRunner(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pids []int
	r.OnAntagonists = func(p []int) {
		pids = append(pids, p...)
		for _, pid := range p {
			if err := syscall.Kill(pid, 0); err != nil {
				t.Errorf("antagonist %d not running: %v", pid, err)
			}
		}
		time.AfterFunc(100*time.Millisecond, cancel)
	}
	s := Suite{Name: "interrupt", Reps: 1, Cases: []Case{{
		Workload: Workload{Name: "long", Threads: 2, GOMAXPROCS: 2, CS: 20, Locks: 1, WritePct: 100, Antagonists: 2, Duration: time.Minute},
		Locks:    []Lock{Mutex},
	}}}
	start := time.Now()
	_, err := r.Run(ctx, s)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("interrupted run took %v", d)
	}
	if len(pids) != 2 {
		t.Fatalf("antagonists %v, want 2", pids)
	}
	checkGone(t, pids)
}

// TestJSONSchema: results.json decodes into Report with no unknown field
// and carries the documented version and the required fields.
func TestJSONSchema(t *testing.T) {
	w := Workload{Name: "uncontended", Threads: 1, CS: 0, Locks: 1, WritePct: 100, Duration: 20 * time.Millisecond}
	s, err := Measure(context.Background(), w, Mutex)
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{Schema: SchemaVersion, Suite: "t", Reps: 1, Env: ReadEnvironment(),
		Rows: []*Row{{Case: w.Name, Workload: w, Lock: Mutex, Samples: []Sample{s}}}}
	rep.Rows[0].summarize()
	rep.computeRatios()
	rep.Targets = EvaluateTargets(rep)
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	checkSchema(t, buf.Bytes())
}

// checkSchema checks a results.json against the documented schema.
func checkSchema(t *testing.T, b []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("results.json does not match Report: %v", err)
	}
	if rep.Schema != SchemaVersion {
		t.Errorf("schema %q, want %q", rep.Schema, SchemaVersion)
	}
	if rep.Env.CPUs < 1 || rep.Env.GoVersion == "" || rep.Env.Kernel == "" {
		t.Errorf("environment incomplete: %+v", rep.Env)
	}
	var raw map[string]any
	json.Unmarshal(b, &raw)
	for _, k := range []string{"schema", "suite", "reps", "env", "rows", "targets", "notes"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("results.json lacks %q", k)
		}
	}
	rows, _ := raw["rows"].([]any)
	if len(rows) == 0 {
		t.Fatal("no rows")
	}
	row := rows[0].(map[string]any)
	for _, k := range []string{"case", "lock", "workload", "samples", "ops_per_sec", "vs_mutex", "latency", "fairness", "switch", "traps", "signals"} {
		if _, ok := row[k]; !ok {
			t.Errorf("row lacks %q", k)
		}
	}
}

// checkFiles decodes every file WriteFiles wrote: PNGs as images, SVGs as
// XML with an svg root, the JSON against the schema, the CSV's header.
func checkFiles(t *testing.T, dir string, files []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range files {
		seen[filepath.Base(f)] = true
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(f) {
		case ".png":
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Errorf("%s: %v", f, err)
			} else if r := img.Bounds(); r.Dx() < 100 || r.Dy() < 100 {
				t.Errorf("%s: %v image", f, r)
			}
		case ".svg":
			var root struct{ XMLName xml.Name }
			if err := xml.Unmarshal(b, &root); err != nil || root.XMLName.Local != "svg" {
				t.Errorf("%s: not an SVG document: %v %v", f, root.XMLName, err)
			}
		case ".json":
			checkSchema(t, b)
		case ".csv":
			recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			if err != nil || len(recs) < 2 || !slices.Equal(recs[0], CSVHeader) {
				t.Errorf("%s: bad CSV (%v): %q", f, err, recs)
			}
		}
	}
	for _, want := range []string{"results.json", "results.csv", "table.md", "threads-cs20.png", "oversub.svg", "timeline.png", "switch-cdf.png", "latency.svg"} {
		if !seen[want] {
			t.Errorf("%s not written (wrote %v)", want, files)
		}
	}
}

// TestSuites: every suite is valid, and the quick suite has every case a
// target is read from, with the lock the target names.
func TestSuites(t *testing.T) {
	for _, name := range []string{"quick", "full", "tiny"} {
		s, err := SuiteByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("suite %s: %v", name, err)
		}
	}
	if _, err := SuiteByName("huge"); err == nil {
		t.Error("SuiteByName accepted an unknown suite")
	}
	q := QuickSuite()
	rep := &Report{}
	for _, c := range q.Cases {
		for _, l := range c.Locks {
			rep.Rows = append(rep.Rows, &Row{Case: c.Workload.Name, Lock: l, OpsPerSec: 1, VsMutex: 1, LockNsPerOp: 1, PairNsPerOp: 1,
				Switch: SwitchSummary{N: 1, P50: time.Microsecond, P99: time.Microsecond}})
		}
	}
	for _, tg := range EvaluateTargets(rep) {
		if tg.Measured == "not measured" {
			t.Errorf("the quick suite cannot measure target %q", tg.Name)
		}
	}
}
