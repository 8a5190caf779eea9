package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
)

// ChildEnv is the environment variable that makes a re-executed binary a
// bench child: "run" measures one row (the workload in SpecEnv) and writes
// its Sample as JSON to stdout; "hog" is an antagonist that burns one CPU
// until it is killed; "probe" exits at once (the parent reads what pvlock
// logged at start about PVLOCK_MODE). Binaries that host a Runner call ChildMain first
// thing (pvswitch bench does; a test binary does it in TestMain).
const ChildEnv = "PVSWITCH_BENCH_CHILD"

// SpecEnv carries a child's row as JSON ({"workload":..., "lock":...}).
const SpecEnv = "PVSWITCH_BENCH_SPEC"

// childSpec is what a "run" child measures.
type childSpec struct {
	Workload Workload `json:"workload"`
	Lock     Lock     `json:"lock"`
}

// IsChild reports whether this process was started as a bench child.
func IsChild() bool { return os.Getenv(ChildEnv) != "" }

// ChildMain runs this process's part as a bench child (see ChildEnv) and
// returns the exit code; it returns ok=false, doing nothing, when the
// process is not a child. A "hog" child never returns.
func ChildMain(stdout, stderr io.Writer) (code int, ok bool) {
	switch os.Getenv(ChildEnv) {
	case "":
		return 0, false
	case "hog":
		hog()
	case "probe":
		return 0, true // pvlock's init has read PVLOCK_MODE: the parent reads what it logged
	case "run":
		if err := runChild(stdout); err != nil {
			fmt.Fprintf(stderr, "bench child: %v\n", err)
			return 1, true
		}
		return 0, true
	}
	fmt.Fprintf(stderr, "bench child: %s=%q is not \"run\", \"probe\" or \"hog\"\n", ChildEnv, os.Getenv(ChildEnv))
	return 2, true
}

// hog burns one CPU forever.
func hog() {
	runtime.GOMAXPROCS(1)
	x := uint64(1)
	for {
		for range 1 << 20 {
			x = x*6364136223846793005 + 1
		}
		sink.Store(x)
	}
}

func runChild(stdout io.Writer) error {
	var spec childSpec
	if err := json.Unmarshal([]byte(os.Getenv(SpecEnv)), &spec); err != nil {
		return fmt.Errorf("bad %s: %w", SpecEnv, err)
	}
	if !spec.Lock.ProcessWide() {
		return fmt.Errorf("lock %q does not need a child", spec.Lock)
	}
	if want := spec.Lock.pvlockMode(); want != "auto" && pvlock.CurrentMode().String() != want {
		return fmt.Errorf("started in mode %v, want %s (%s=%q)", pvlock.CurrentMode(), want, pvlock.EnvMode, os.Getenv(pvlock.EnvMode))
	}
	ctx, stop := interruptContext()
	defer stop()
	s, err := Measure(ctx, spec.Workload, spec.Lock)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(s)
}

// interruptContext is canceled on SIGINT or SIGTERM.
func interruptContext() (context.Context, context.CancelFunc) {
	return signalContext(context.Background())
}

// proc is how a Runner starts a copy of a binary.
type proc struct {
	exe  string
	args []string
}

// command returns a child command of p with extra environment. The child
// is killed if this process dies (Pdeathsig) and when ctx is done.
func (p proc) command(ctx context.Context, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.exe, p.args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// cleanEnv is this process's environment without the variables a child
// gets set explicitly.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case ChildEnv, SpecEnv, pvlock.EnvMode, "GOMAXPROCS":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runChildRow measures one process-wide row in a child of p.
func (p proc) runChildRow(ctx context.Context, w Workload, l Lock) (Sample, error) {
	spec, err := json.Marshal(childSpec{Workload: w, Lock: l})
	if err != nil {
		return Sample{}, err
	}
	cmd := p.command(ctx, ChildEnv+"=run", SpecEnv+"="+string(spec), pvlock.EnvMode+"="+l.pvlockMode())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Sample{}, ctx.Err()
		}
		return Sample{}, fmt.Errorf("bench: child for %s %s: %v: %s", w.Name, l, err, strings.TrimSpace(errb.String()))
	}
	var s Sample
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		return Sample{}, fmt.Errorf("bench: child for %s %s wrote bad JSON: %v", w.Name, l, err)
	}
	return s, nil
}

// hogs are running antagonist processes.
type hogs struct{ cmds []*exec.Cmd }

// startHogs starts n antagonists from p. On error the ones started are
// stopped.
func (p proc) startHogs(ctx context.Context, n int) (*hogs, error) {
	h := &hogs{}
	for range n {
		cmd := p.command(ctx, ChildEnv+"=hog")
		if err := cmd.Start(); err != nil {
			h.stop()
			return nil, fmt.Errorf("bench: start antagonist: %w", err)
		}
		h.cmds = append(h.cmds, cmd)
	}
	return h, nil
}

// pids returns the antagonists' process ids.
func (h *hogs) pids() []int {
	var p []int
	for _, c := range h.cmds {
		p = append(p, c.Process.Pid)
	}
	return p
}

// stop kills every antagonist and waits for it (so none is left, not even
// as a zombie). It is safe to call twice and on nil.
func (h *hogs) stop() {
	if h == nil {
		return
	}
	for _, c := range h.cmds {
		c.Process.Kill()
	}
	for _, c := range h.cmds {
		c.Wait() // killed: the error only says so
	}
	h.cmds = nil
}

// probeAuto starts a child with PVLOCK_MODE=auto and returns why the auto
// row cannot run ("" if it can): pvlock logs that it ignored a mode it
// does not know.
func (p proc) probeAuto(ctx context.Context) string {
	cmd := p.command(ctx, ChildEnv+"=probe", pvlock.EnvMode+"=auto")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("the PVLOCK_MODE=auto probe failed: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	if msg := errb.String(); strings.Contains(msg, pvlock.EnvMode+`="auto" ignored`) {
		return "pvlock does not support PVLOCK_MODE=auto yet (it logged: " + strings.TrimSpace(msg) + ")"
	}
	return ""
}
