package signals

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/prometheus/procfs"
)

// TestParsersAgreeWithProcfs reads the live files with the hand-written
// parsers and with github.com/prometheus/procfs, the well-kept reader they
// stand in for (procfile.go says why), and wants the same values: steal
// and procs_running of /proc/stat (procs_running read twice, as it moves),
// PSI's some total (monotonic: procfs's read falls between two of ours),
// and one thread's schedstat.
func TestParsersAgreeWithProcfs(t *testing.T) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := parseStat(b)
	steal, cpus := ps.steal, ps.cpus
	if err != nil {
		t.Fatal(err)
	}
	st, err := fs.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := steal, uint64(st.CPUTotal.Steal*userHZ+0.5); got > want || want-got > 1000 {
		// procfs read later: its steal may have grown, never shrunk.
		t.Errorf("steal: ours %d ticks, procfs %d ticks", got, want)
	}
	if cpus != len(st.CPU) {
		t.Errorf("cpus: ours %d, procfs %d", cpus, len(st.CPU))
	}

	if _, err := os.Stat("/proc/pressure/cpu"); err == nil {
		b1, _ := os.ReadFile("/proc/pressure/cpu")
		p, err := fs.PSIStatsForResource("cpu")
		b2, _ := os.ReadFile("/proc/pressure/cpu")
		if err != nil {
			t.Fatal(err)
		}
		lo, err1 := parsePSISome(b1)
		hi, err2 := parsePSISome(b2)
		if err1 != nil || err2 != nil || p.Some == nil {
			t.Fatalf("PSI: %v, %v, procfs some %v", err1, err2, p.Some)
		}
		if p.Some.Total < lo || p.Some.Total > hi {
			t.Errorf("PSI some total: procfs %d not between our reads %d and %d", p.Some.Total, lo, hi)
		}
	} else {
		t.Logf("no /proc/pressure/cpu here (%v): PSI not compared", err)
	}

	tid := strconv.Itoa(os.Getpid()) // the main thread: it sleeps in the test runner
	b, err = os.ReadFile(filepath.Join("/proc/self/task", tid, "schedstat"))
	if err != nil {
		t.Fatal(err)
	}
	run, wait, err := parseSchedstat(b)
	if err != nil {
		t.Fatal(err)
	}
	self, err := fs.Self()
	if err != nil {
		t.Fatal(err)
	}
	th, err := fs.Thread(self.PID, self.PID)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := th.Schedstat()
	if err != nil {
		t.Fatal(err)
	}
	if ss.RunningNanoseconds < run || ss.WaitingNanoseconds < wait {
		t.Errorf("schedstat of the main thread: ours run %d wait %d, procfs (read later) run %d wait %d", run, wait, ss.RunningNanoseconds, ss.WaitingNanoseconds)
	}
}

// TestProcParsersReject: malformed files are errors, not zeros.
func TestProcParsersReject(t *testing.T) {
	for _, s := range []string{"", "cpu 1 2 3\nprocs_running 1\n", "cpu 1 2 3 4 5 6 7 x\nprocs_running 1\n", "cpu 1 2 3 4 5 6 7 8\n"} {
		if _, err := parseStat([]byte(s)); err == nil {
			t.Errorf("parseStat(%q): no error", s)
		}
	}
	for _, s := range []string{"", "full avg10=0.00 total=5\n", "some avg10=0.00\n", "some total=x\n"} {
		if _, err := parsePSISome([]byte(s)); err == nil {
			t.Errorf("parsePSISome(%q): no error", s)
		}
	}
	for _, s := range []string{"", "1", "x 2 3", "1 y 3"} {
		if _, _, err := parseSchedstat([]byte(s)); err == nil {
			t.Errorf("parseSchedstat(%q): no error", s)
		}
	}
	if st, err := parseStat([]byte("cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8\ncpu1 1 2 3 4 5 6 7 8\nprocs_running 3\n")); err != nil || st.cpus != 2 || st.running != 3 || st.steal != 8 || st.busy != 1+2+3+6+7 {
		t.Errorf("parseStat of a good file: %+v err %v", st, err)
	}
	for _, s := range []string{"", "1 (x) R", "1 (x) R 1 1 1 0 -1 0 0 0 0 0 x 3", "1 (x R 1 1 1 0 -1 0 0 0 0 0 2 3"} {
		if _, err := parseProcStatCPU([]byte(s)); err == nil {
			t.Errorf("parseProcStatCPU(%q): no error", s)
		}
	}
	// A command name with spaces and parentheses: fields count after the last ")".
	if v, err := parseProcStatCPU([]byte("7 (a) b) (c) S 1 1 1 0 -1 0 0 0 0 0 20 22 0 0 20 0 1 0")); err != nil || v != 42 {
		t.Errorf("parseProcStatCPU of an odd name = %d, %v, want 42", v, err)
	}
}
