package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// build compiles pkg into dir and returns the binary's path.
func build(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// pvswitch runs the pvswitch binary with the endpoint directory and
// returns its stdout, stderr and exit code.
func pvswitch(t *testing.T, bin, ctlDir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PVLOCK_CONTROL_DIR="+ctlDir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

type status struct {
	Mode         string `json:"mode"`
	Switches     int64  `json:"switches"`
	SlowAcquires int64  `json:"slow_acquires"`
	Rescues      int64  `json:"rescues"`
}

func readStatus(t *testing.T, bin, ctlDir string, pid int) status {
	t.Helper()
	out, errOut, code := pvswitch(t, bin, ctlDir, "status", "-json", "-p", strconv.Itoa(pid))
	if code != 0 {
		t.Fatalf("status -json: exit %d: %s", code, errOut)
	}
	var s status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status -json output %q: %v", out, err)
	}
	return s
}

// metric returns the value of one sample line of /metrics.
func metric(t *testing.T, url, sample string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics:\n%s", sample, body)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVMService builds and starts vmservice, loads it over loopback,
// switches it with the pvswitch binary both ways, and reads each change in
// status -json and /metrics.
func TestVMService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	dir := t.TempDir()
	ctlDir := filepath.Join(dir, "ctl")
	if err := os.Mkdir(ctlDir, 0o700); err != nil {
		t.Fatal(err)
	}
	svc := build(t, dir, "vmservice", "github.com/pvswitch/pvswitch/examples/vmservice")
	pvs := build(t, dir, "pvswitch", "github.com/pvswitch/pvswitch/cmd/pvswitch")

	cmd := exec.Command(svc, "-addr", "127.0.0.1:0", "-load", "2")
	cmd.Env = append(os.Environ(), "PVLOCK_CONTROL_DIR="+ctlDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatal("vmservice printed nothing")
	}
	line := sc.Text()
	m := regexp.MustCompile(`pid (\d+), (http://\S+),`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("vmservice said %q", line)
	}
	pid, _ := strconv.Atoi(m[1])
	url := m[2]
	if pid != cmd.Process.Pid {
		t.Fatalf("vmservice says pid %d, started %d", pid, cmd.Process.Pid)
	}

	// Load over loopback while it is switched.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reqs, bad atomic.Int64
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("%s/kv/w%d-%d", url, w, i%32)
				req, _ := http.NewRequest(http.MethodPut, key, strings.NewReader("x"))
				resp, err := c.Do(req)
				if err != nil || resp.StatusCode != http.StatusNoContent {
					bad.Add(1)
				} else {
					resp.Body.Close()
				}
				resp, err = c.Get(key)
				if err != nil || resp.StatusCode != http.StatusOK {
					bad.Add(1)
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				reqs.Add(2)
			}
		}()
	}

	out, _, code := pvswitch(t, pvs, ctlDir, "list", "-json")
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`"pid": %d`, pid)) {
		t.Fatalf("list -json: exit %d, %s", code, out)
	}
	s0 := readStatus(t, pvs, ctlDir, pid)
	modes := []string{"paravirt", "native"}
	if s0.Mode == "paravirt" {
		modes = []string{"native", "paravirt"}
	}
	switches := metric(t, url, "pvlock_switches_total")
	for i, to := range modes {
		time.Sleep(100 * time.Millisecond) // let the load run in each mode
		out, errOut, code := pvswitch(t, pvs, ctlDir, to, "-p", strconv.Itoa(pid))
		if code != 0 {
			t.Fatalf("pvswitch %s: exit %d: %s", to, code, errOut)
		}
		t.Logf("pvswitch %s: %s", to, strings.TrimSpace(out))
		s := readStatus(t, pvs, ctlDir, pid)
		if s.Mode != to || s.Switches != s0.Switches+int64(i+1) {
			t.Fatalf("after %s: status %+v (started at %+v)", to, s, s0)
		}
		if v := metric(t, url, fmt.Sprintf(`pvlock_mode{mode="%s"}`, to)); v != 1 {
			t.Fatalf("after %s: pvlock_mode{mode=%q} = %v", to, to, v)
		}
		if v := metric(t, url, "pvlock_switches_total"); v != switches+float64(i+1) {
			t.Fatalf("after %s: pvlock_switches_total = %v, want %v", to, v, switches+float64(i+1))
		}
		if v := metric(t, url, "pvlock_switch_duration_seconds_count"); v != float64(i+1) {
			t.Fatalf("after %s: switch histogram count %v, want %d", to, v, i+1)
		}
	}
	stop.Store(true)
	wg.Wait()
	if reqs.Load() == 0 || bad.Load() != 0 {
		t.Fatalf("%d requests over loopback, %d failed", reqs.Load(), bad.Load())
	}
	if s := readStatus(t, pvs, ctlDir, pid); s.SlowAcquires == 0 || s.Rescues != 0 {
		t.Errorf("final status %+v: want contended locks and no rescue", s)
	}
	t.Logf("%d requests over loopback", reqs.Load())

	// A clean stop removes the socket; then the pid has no endpoint.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vmservice on SIGTERM: %v", err)
	}
	exited = true
	if _, err := os.Lstat(filepath.Join(ctlDir, strconv.Itoa(pid)+".sock")); !os.IsNotExist(err) {
		t.Errorf("socket left after a clean stop: %v", err)
	}
	if _, errOut, code := pvswitch(t, pvs, ctlDir, "status", "-p", strconv.Itoa(pid)); code != 3 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("status of the exited service: exit %d, stderr %q; want 3 and one line", code, errOut)
	}
}
