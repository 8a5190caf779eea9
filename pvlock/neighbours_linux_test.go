//go:build linux && amd64 && !pvswitch_flagdispatch

package pvlock

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// seccompUnavailable reports whether the run could not install its filter.
func seccompUnavailable(r report) bool { return len(r.lines["seccomp-error"]) > 0 }

// TestMDWEAtStart: under a memory-deny-write-execute policy (prctl
// PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN), set before exec, with the
// mprotect writer (PVSWITCH_PATCH_WRITER=mprotect, as where /proc is
// read-only), no page may become writable and executable. The writer must
// prove itself at start and fail there: the process runs by dispatch and
// every switch works (it used to report "patched" and fail every switch
// with "retry later", forever).
func TestMDWEAtStart(t *testing.T) {
	prog := buildNeighbour(t)
	cmd := exec.Command(prog, "-mdwe", "-dur", "300ms")
	cmd.Env = neighbourEnv("PVSWITCH_PATCH_WRITER=mprotect", "PVLOCK_MODE=paravirt") // paravirt: no switch at start
	r, err := runNeighbour(t, cmd, time.Minute)
	if m := r.get("mdwe-error"); m != "" {
		t.Skipf("this kernel has no memory-deny-write-execute (prctl PR_SET_MDWE, Linux 6.3): %s", m)
	}
	if err != nil || !strings.HasPrefix(r.get("DONE"), "true") {
		t.Fatalf("under MDWE: %v\n%s", err, r.out)
	}
	ok, failed := r.switches()
	if r.get("mechanism") != "dispatch" || failed != 0 || ok == 0 || !strings.Contains(r.get("status"), "PR_SET_MDWE") {
		t.Fatalf("under MDWE with the mprotect writer: want the dispatch fallback naming PR_SET_MDWE and every switch working, got %d ok, %d failed:\n%s", ok, failed, r.out)
	}
	t.Logf("status: %s", r.get("status"))
}

// TestSeccompDeniesMembarrierParavirt: a seccomp filter installed after
// start denies membarrier (EPERM) while the sites hold the paravirt
// variants. The first switch must move the process to the dispatch
// fallback (the paravirt release is correct in both modes), with one log
// line and a status saying why, and every switch must work from then on
// (each used to fail with "retry later", forever, while the status said
// "patched").
func TestSeccompDeniesMembarrierParavirt(t *testing.T) {
	r := runUnderSeccomp(t, "PVLOCK_MODE=paravirt")
	ok, failed := r.switches()
	st := r.get("status")
	if r.get("mechanism") != "dispatch" || failed != 0 || ok == 0 || !strings.Contains(st, "membarrier") || !strings.Contains(st, "operation not permitted") {
		t.Fatalf("membarrier denied after start, sites paravirt: want the dispatch fallback naming membarrier's EPERM and every switch working, got %d ok, %d failed:\n%s", ok, failed, r.out)
	}
	n := 0
	for _, l := range strings.Split(r.out, "\n") {
		if !strings.HasPrefix(l, "status ") && strings.Contains(l, "switching by dispatch from now on") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("want one log line for the move to dispatch, got %d:\n%s", n, r.out)
	}
	t.Logf("status: %s", st)
}

// TestSeccompDeniesMembarrierNative: the same filter while the sites hold
// the native variants. Dispatch is not an option (the native release is
// wrong under paravirt) and paravirt cannot be reached without a write:
// the process stays native, every switch is refused with
// ErrSwitchDisabled (not ErrBusy, not "retry later"), and the status
// says so.
func TestSeccompDeniesMembarrierNative(t *testing.T) {
	r := runUnderSeccomp(t, "PVLOCK_MODE=native")
	ok, failed := r.switches()
	disabled := 0
	for _, l := range r.lines["switch-error"] {
		if strings.Contains(l, ErrSwitchDisabled.Error()) && !strings.Contains(l, "retry later") {
			n, _ := strconv.Atoi(strings.Fields(l)[0])
			disabled += n
		} else if !strings.Contains(l, ErrBusy.Error()) {
			t.Errorf("a refused switch says neither that switching is disabled nor busy: %s", l)
		}
	}
	st := r.get("status")
	if ok != 0 || disabled == 0 || !strings.HasPrefix(st, "mode=native") || !strings.Contains(st, "switching disabled") {
		t.Fatalf("membarrier denied after start, sites native: want every switch refused for good and status saying so, got %d ok, %d failed (%d disabled):\n%s", ok, failed, disabled, r.out)
	}
	t.Logf("status: %s", st)
}

// tracefs returns the tracefs directory with uprobe_events, mounting
// tracefs at /sys/kernel/tracing if nothing is mounted there, or "" with
// the reason it is unavailable.
func tracefs() (string, string) {
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(d, "uprobe_events")); err == nil {
			return d, ""
		}
	}
	d := "/sys/kernel/tracing"
	if err := syscall.Mount("nodev", d, "tracefs", 0, ""); err != nil {
		return "", fmt.Sprintf("no uprobe_events under /sys/kernel/tracing or /sys/kernel/debug/tracing, and mounting tracefs failed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d, "uprobe_events")); err != nil {
		return "", fmt.Sprintf("tracefs has no uprobe_events (kernel without CONFIG_UPROBE_EVENTS?): %v", err)
	}
	return d, ""
}

// fileOffset returns the offset in the ELF file prog of the code at
// virtual address addr (Go binaries are not position-independent by
// default, so the address the program printed is the link address).
func fileOffset(prog string, addr uint64) (uint64, error) {
	f, err := elf.Open(prog)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("%#x is in no executable segment of %s", addr, prog)
}

func appendFile(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// TestUprobeOnSlowEntry places a real uprobe on the lockSlowEntry site of
// a running process whose sites hold the native variants. The kernel then
// runs the instruction of the binary file (the paravirt JMP) at every
// contended Lock: the contending goroutines must still finish in bounded
// time (they used to livelock), and a switch must be refused with an
// error that names the breakpoint as the likely cause, not the build.
func TestUprobeOnSlowEntry(t *testing.T) {
	dir, why := tracefs()
	if dir == "" {
		t.Skip("uprobes unavailable: " + why)
	}
	prog := buildNeighbour(t)
	cmd := exec.Command(prog, "-wait", "-every", "0", "-dur", "500ms", "-watchdog", "10s")
	cmd.Env = neighbourEnv("PVLOCK_MODE=native")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Read the output in the background; the first line is the sites.
	var out bytes.Buffer
	first := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if out.Len() == 0 {
				first <- sc.Text()
			}
			out.WriteString(sc.Text() + "\n")
		}
		close(first)
	}()
	var sites string
	select {
	case sites = <-first:
	case <-time.After(time.Minute):
	}
	if sites == "" {
		t.Fatalf("no site addresses from %s", prog)
	}
	var addr uint64
	for _, f := range strings.Fields(strings.Trim(strings.TrimPrefix(sites, "sites "), "[]\n")) {
		if v, ok := strings.CutPrefix(f, "lockSlowEntry="); ok {
			addr, _ = strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
		}
	}
	off, err := fileOffset(prog, addr)
	if addr == 0 || err != nil {
		t.Fatalf("no file offset for lockSlowEntry (%q): %v", sites, err)
	}
	group := fmt.Sprintf("pvswitch_test_%d", os.Getpid())
	events := filepath.Join(dir, "uprobe_events")
	if err := appendFile(events, fmt.Sprintf("p:%s/slowentry %s:%#x", group, prog, off)); err != nil {
		t.Skipf("cannot add a uprobe (%s): %v", events, err)
	}
	enable := filepath.Join(dir, "events", group, "slowentry", "enable")
	defer func() {
		// The process must be gone first: removing the uprobe from a
		// live process writes the file's bytes back over the site.
		cmd.Process.Kill()
		appendFile(enable, "0")
		if err := appendFile(events, "-:"+group+"/slowentry"); err != nil {
			t.Errorf("removing the uprobe: %v", err)
		}
	}()
	if err := os.WriteFile(enable, []byte("1\n"), 0); err != nil {
		t.Fatalf("enabling the uprobe: %v", err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-copied:
	case <-time.After(time.Minute):
		t.Fatalf("no exit within a minute (a hang)")
	}
	err = cmd.Wait()
	r := parseReport(out.Bytes())
	if strings.Contains(r.out, "LIVELOCK") || err != nil || !strings.HasPrefix(r.get("DONE"), "true") {
		t.Fatalf("contending goroutines under a uprobe on lockSlowEntry: %v\n%s", err, r.out)
	}
	msg := r.get("switch-error")
	if !strings.Contains(msg, "pvlock.lockSlowEntry") || !strings.Contains(msg, "uprobe") || strings.Contains(msg, "go generate") || strings.Contains(msg, "rebuild") {
		t.Fatalf("switch with a uprobe on the site: want a refusal naming the site and a uprobe, not the build; got %q\n%s", msg, r.out)
	}
	// uprobe_profile: "<file> <event> <hits> <misses>" per uprobe.
	hits := -1
	if b, err := os.ReadFile(filepath.Join(dir, "uprobe_profile")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == prog && f[1] == "slowentry" {
				hits, _ = strconv.Atoi(f[2])
			}
		}
	}
	if hits == 0 {
		t.Fatalf("the uprobe was never hit: no contended Lock reached lockSlowEntry, the test proved nothing\n%s", r.out)
	}
	t.Logf("uprobe hits: %d (-1: unknown); refused: %s", hits, msg)
}

// runUnderSeccomp runs the neighbour program with env under a seccomp
// filter that denies membarrier after its start, skipping the test where no
// filter can be installed, and fails the test unless the program finished.
func runUnderSeccomp(t *testing.T, env string) report {
	t.Helper()
	prog := buildNeighbour(t)
	cmd := exec.Command(prog, "-seccomp", "-dur", "300ms")
	cmd.Env = neighbourEnv(env)
	r, err := runNeighbour(t, cmd, time.Minute)
	if seccompUnavailable(r) {
		t.Skipf("cannot install a seccomp filter here: %s", r.get("seccomp-error"))
	}
	if err != nil || !strings.HasPrefix(r.get("DONE"), "true") {
		t.Fatalf("under seccomp: %v\n%s", err, r.out)
	}
	return r
}

// TestStartModeWrittenInBackground: a process started in each mode runs
// it from init on, and once the patcher is ready (Sites and ReadStatus
// wait for it) both lock-op sites hold that mode's variant, patched: a
// native start writes the sites in the background (ready.go) instead of
// at init.
func TestStartModeWrittenInBackground(t *testing.T) {
	prog := buildNeighbour(t)
	for _, m := range []Mode{Native, Paravirt} {
		cmd := exec.Command(prog, "-sites")
		cmd.Env = neighbourEnv("PVLOCK_MODE=" + m.String())
		r, err := runNeighbour(t, cmd, time.Minute)
		if err != nil {
			t.Fatalf("%v: %v\n%s", m, err, r.out)
		}
		want := fmt.Sprintf("%v patched %v,%v", m, m, m)
		if got := r.get("start"); got != want {
			t.Errorf("PVLOCK_MODE=%v: start %q, want %q\n%s", m, got, want, r.out)
		}
	}
}
