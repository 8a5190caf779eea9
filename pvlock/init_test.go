package pvlock_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxInitAllocs bounds the heap allocations that the module's packages
// together make at init in a program that imports pvlock. The time they
// take is a speed target, so BenchmarkInit reports it and no test asserts
// it.
const maxInitAllocs = 100

// modulePath prefixes the packages whose init is counted.
const modulePath = "github.com/pvswitch/pvswitch"

// startModes are the start modes init is measured in: the default, the
// built mode (paravirt) and the other (native, whose sites are written in
// the background once the patcher is ready: ready.go). In every one the
// patcher is made ready after init, not during it.
//
// "default" follows the hypervisor's hints (hints.go): paravirt in a VM
// without KVM_HINTS_REALTIME, native on bare metal or with the hint.
// "auto" also starts the auto policy's goroutine.
var startModes = []struct{ name, env string }{
	{"default", ""},
	{"auto", "PVLOCK_MODE=auto"},
	{"built", "PVLOCK_MODE=paravirt"},
	{"native", "PVLOCK_MODE=native"},
}

// TestInitCost builds testdata/initprog, runs it with GODEBUG=inittrace=1
// (one line per package with init work: "init <pkg> @.. ms, X ms clock,
// Y bytes, Z allocs") in each start mode and sums the module's packages:
// their allocations are deterministic and bounded by maxInitAllocs; their
// time and bytes are logged.
func TestInitCost(t *testing.T) {
	prog := buildInitProg(t)
	for _, m := range startModes {
		t.Run(m.name, func(t *testing.T) {
			c := runInitProg(t, prog, m.env)
			for _, l := range c.lines {
				t.Log(l)
			}
			t.Logf("module packages at init: %.3f ms, %d bytes, %d allocs (at most %d allowed)", c.ms, c.bytes, c.allocs, maxInitAllocs)
			if c.allocs > maxInitAllocs {
				t.Errorf("the module's packages make %d allocations at init, want at most %d", c.allocs, maxInitAllocs)
			}
		})
	}
}

// BenchmarkInit reports, as init-ms/op, the milliseconds that the module's
// packages together spend at init in testdata/initprog, per start mode
// (each iteration starts the program once; the target is 0.2 ms). Building
// the program is not timed.
func BenchmarkInit(b *testing.B) {
	prog := buildInitProg(b)
	for _, m := range startModes {
		b.Run("start="+m.name, func(b *testing.B) {
			var ms float64
			var allocs int
			for b.Loop() {
				c := runInitProg(b, prog, m.env)
				ms += c.ms
				allocs = c.allocs
			}
			b.ReportMetric(ms/float64(b.N), "init-ms/op")
			b.ReportMetric(float64(allocs), "init-allocs")
		})
	}
}

// initCost is the module's share of a GODEBUG=inittrace=1 report.
type initCost struct {
	ms     float64
	bytes  int
	allocs int
	lines  []string // the module's lines
}

// buildInitProg builds testdata/initprog into a temporary directory: a
// plain build (GOFLAGS cleared), whatever flags the test runs with.
func buildInitProg(tb testing.TB) string {
	tb.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		tb.Skipf("measuring init needs the go command on PATH to build testdata/initprog: %v", err)
	}
	prog := filepath.Join(tb.TempDir(), "initprog")
	cmd := exec.Command(gobin, "build", "-o", prog, "./testdata/initprog")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./testdata/initprog: %v\n%s", err, out)
	}
	return prog
}

var initLine = regexp.MustCompile(`^init (\S+) @\S+ ms, ([0-9.]+) ms clock, ([0-9]+) bytes, ([0-9]+) allocs$`)

// runInitProg runs prog once with GODEBUG=inittrace=1, no PVLOCK_*
// variable of the test's environment, and env (if not empty), and sums the
// module's init lines.
func runInitProg(tb testing.TB, prog, env string) initCost {
	tb.Helper()
	cmd := exec.Command(prog)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PVLOCK_") && !strings.HasPrefix(kv, "GODEBUG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1")
	if env != "" {
		cmd.Env = append(cmd.Env, env)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s: %v\n%s", prog, err, stderr.Bytes())
	}
	var c initCost
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil || (m[1] != modulePath && !strings.HasPrefix(m[1], modulePath+"/")) {
			continue
		}
		ms, err1 := strconv.ParseFloat(m[2], 64)
		n, err2 := strconv.Atoi(m[3])
		a, err3 := strconv.Atoi(m[4])
		if err1 != nil || err2 != nil || err3 != nil {
			tb.Fatalf("cannot parse %q", sc.Text())
		}
		c.ms += ms
		c.bytes += n
		c.allocs += a
		c.lines = append(c.lines, sc.Text())
	}
	if len(c.lines) == 0 {
		tb.Fatalf("%s printed no init line of %s with GODEBUG=inittrace=1:\n%s", prog, modulePath, stderr.Bytes())
	}
	return c
}
