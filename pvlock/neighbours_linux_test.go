//go:build linux && amd64 && !pvswitch_flagdispatch

package pvlock

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The neighbours: tests that run testdata/neighbour (contending locks,
// switching back to back) under a debugger, a uprobe, a hardened kernel
// policy or a seccomp filter, each in a process of its own.

var neighbourProg struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// buildNeighbour builds testdata/neighbour once per test binary (GOFLAGS
// cleared: a plain build, whatever flags the test runs with).
func buildNeighbour(t *testing.T) string {
	t.Helper()
	p := &neighbourProg
	p.once.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			p.err = err
			return
		}
		p.dir, p.err = os.MkdirTemp("", "pvlock-neighbour-")
		if p.err != nil {
			return
		}
		p.path = filepath.Join(p.dir, "neighbour")
		cmd := exec.Command(gobin, "build", "-o", p.path, "./testdata/neighbour")
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		p.out, p.err = cmd.CombinedOutput()
	})
	if p.err != nil {
		if _, err := exec.LookPath("go"); err != nil {
			t.Skipf("this test needs the go command on PATH to build testdata/neighbour: %v", err)
		}
		t.Fatalf("go build ./testdata/neighbour: %v\n%s", p.err, p.out)
	}
	return p.path
}

// neighbourEnv is the environment of a neighbour run: no PVLOCK_* or
// PVSWITCH_* from the test's own environment, then extra.
func neighbourEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PVLOCK_") && !strings.HasPrefix(kv, "PVSWITCH_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// report is what a neighbour run printed: its "key value" lines.
type report struct {
	out   string
	lines map[string][]string
}

func parseReport(out []byte) report {
	r := report{out: string(out), lines: map[string][]string{}}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		r.lines[k] = append(r.lines[k], v)
	}
	return r
}

func (r report) get(key string) string {
	if v := r.lines[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// switches returns the run's successful and failed switch counts.
func (r report) switches() (ok, failed int) {
	f := strings.Fields(r.get("switches"))
	if len(f) == 2 {
		ok, _ = strconv.Atoi(f[0])
		failed, _ = strconv.Atoi(f[1])
	}
	return ok, failed
}

// runNeighbour runs cmd with a hard timeout and returns its report.
func runNeighbour(t *testing.T, cmd *exec.Cmd, timeout time.Duration) (report, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return parseReport(out.Bytes()), err
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v: no exit within %v (a hang):\n%s", cmd.Args, timeout, out.Bytes())
	}
	panic("unreachable")
}

// TestGDBPassesTraps runs testdata/neighbour under gdb with the recipe
// pvlock documents (PVSWITCH_ALLOW_TRACER=1; handle SIGTRAP nostop
// noprint pass), switching every 5 ms. gdb rewinds the PC of every
// SI_KERNEL SIGTRAP to the INT3 byte before it passes the signal on; the
// trap handler must recognize the site there (it used to look only at
// RIP-1, and the process died with SIGTRAP at pvlock.release+5).
func TestGDBPassesTraps(t *testing.T) {
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		t.Skip("gdb is not installed (apt-get install gdb): the debugger test needs it")
	}
	prog := buildNeighbour(t)
	cmd := exec.Command(gdb, "-batch", "-nx",
		"-ex", "handle SIGTRAP nostop noprint pass",
		"-ex", "run",
		"--args", prog, "-dur", "1s", "-every", "5ms")
	cmd.Env = neighbourEnv("PVSWITCH_ALLOW_TRACER=1")
	r, err := runNeighbour(t, cmd, 2*time.Minute)
	if err != nil || !strings.HasPrefix(r.get("DONE"), "true") || strings.Contains(r.out, "SIGTRAP: trace trap") || strings.Contains(r.out, "SIGILL") {
		t.Fatalf("under gdb: %v\n%s", err, r.out)
	}
	ok, failed := r.switches()
	if ok == 0 {
		t.Fatalf("under gdb: no switch succeeded (%d failed):\n%s", failed, r.out)
	}
	t.Logf("under gdb: %d switches (%d failed, busy), %s traps arrived with the PC rewound; status: %s", ok, failed, r.get("rewound"), r.get("status"))
}
