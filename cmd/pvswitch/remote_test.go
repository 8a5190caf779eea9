package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pvswitch/pvswitch/pvlock"
	"github.com/pvswitch/pvswitch/pvlock/control"
)

func runCmd(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestHelpEveryCommand(t *testing.T) {
	for _, c := range []string{"demo", "stress", "sites", "status", "bench", "list", "native", "paravirt", "auto", "watch", "version"} {
		if _, errOut, code := runCmd(c, "-h"); code != 0 || !strings.Contains(errOut, "Usage") {
			t.Errorf("%s -h: exit %d, stderr %q; want 0 and the usage", c, code, errOut)
		}
	}
	if _, _, code := runCmd("-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestRemoteBadInput(t *testing.T) {
	dir := t.TempDir()
	self := strconv.Itoa(os.Getpid())
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"frobnicate"}, exitUsage},
		{[]string{"native"}, exitUsage},
		{[]string{"paravirt", "-p", "-4"}, exitUsage},
		{[]string{"watch", "-p", "abc"}, exitUsage},
		{[]string{"status", "-p", self, "extra"}, exitUsage},
		{[]string{"status", "-json"}, exitUsage},
		{[]string{"list", "stray"}, exitUsage},
		{[]string{"version", "stray"}, exitUsage},
		{[]string{"watch", "-p", self, "-interval", "1ms"}, exitUsage},
		{[]string{"status", "-p", strconv.Itoa(deadPid(t)), "-dir", dir}, exitNoEndpoint},
		{[]string{"native", "-p", self, "-dir", dir}, exitNoEndpoint}, // alive, no endpoint
		{[]string{"sites", "-p", "999999999", "-dir", dir}, exitNoEndpoint},
	} {
		out, errOut, code := runCmd(c.args...)
		if code != c.code {
			t.Errorf("%q: exit %d, want %d (stdout %q, stderr %q)", c.args, code, c.code, out, errOut)
		}
		if strings.TrimSpace(errOut) == "" {
			t.Errorf("%q: nothing said on stderr", c.args)
		}
		if c.code == exitNoEndpoint && strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%q: want one line on stderr, got %q", c.args, errOut)
		}
	}
}

func TestRemoteStaleSocket(t *testing.T) {
	dir := t.TempDir()
	path := control.SocketPath(dir, os.Getpid())
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	_, errOut, code := runCmd("status", "-p", strconv.Itoa(os.Getpid()), "-dir", dir)
	if code != exitNoEndpoint || !strings.Contains(errOut, "stale") {
		t.Fatalf("status against a stale socket: exit %d, %q", code, errOut)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("stale socket not removed: %v", err)
	}
	if out, _, code := runCmd("list", "-dir", dir); code != 0 || !strings.Contains(out, "no processes") {
		t.Fatalf("list of an empty directory: exit %d, %q", code, out)
	}
}

// TestRemoteInProcess drives this test process's own endpoint through the
// commands.
func TestRemoteInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctl")
	os.Mkdir(dir, 0o700)
	srv, err := control.Start(control.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	start := pvlock.CurrentMode()
	defer pvlock.Switch(t.Context(), start)
	self := strconv.Itoa(os.Getpid())

	status := func() map[string]any {
		out, errOut, code := runCmd("status", "-json", "-p", self, "-dir", dir)
		if code != 0 {
			t.Fatalf("status -json: exit %d, %s", code, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("status -json %q: %v", out, err)
		}
		return m
	}
	for _, to := range []string{"paravirt", "native", "paravirt"} {
		out, errOut, code := runCmd(to, "-p", self, "-dir", dir)
		if code != 0 || !strings.Contains(out, "pid "+self) {
			t.Fatalf("%s: exit %d, %q %q", to, code, out, errOut)
		}
		if m := status(); m["mode"] != to || pvlock.CurrentMode().String() != to {
			t.Fatalf("after %s: status mode %v, process %v", to, m["mode"], pvlock.CurrentMode())
		}
	}
	out, errOut, code := runCmd("native", "-json", "-p", self, "-dir", dir)
	var sw struct {
		From, To  string
		LatencyNS int64 `json:"latency_ns"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &sw) != nil || sw.From != "paravirt" || sw.To != "native" || sw.LatencyNS <= 0 {
		t.Fatalf("native -json: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = runCmd("list", "-dir", dir)
	if code != 0 || !strings.Contains(out, self) || !strings.Contains(out, "native") {
		t.Fatalf("list: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = runCmd("watch", "-p", self, "-dir", dir, "-interval", "20ms", "-n", "3")
	if code != 0 || strings.Count(out, "\n") != 5 {
		t.Fatalf("watch -n 3: exit %d, want a header of 2 lines and 3 lines, got %q %q", code, out, errOut)
	}
	// status -json carries the hints; auto hands control to the policy,
	// an operator's switch holds it, auto hands it back.
	if h, ok := status()["hypervisor"].(map[string]any); !ok || h["start_mode"] == nil {
		t.Fatalf("status -json has no hypervisor object with start_mode: %v", status()["hypervisor"])
	}
	defer pvlock.StopAuto()
	autoState := func() map[string]any {
		a, ok := status()["auto"].(map[string]any)
		if !ok {
			t.Fatalf("status -json has no auto object")
		}
		return a
	}
	out, errOut, code = runCmd("auto", "-p", self, "-dir", dir)
	if code != 0 || !strings.Contains(out, "auto policy in control") {
		t.Fatalf("auto: exit %d, %q %q", code, out, errOut)
	}
	if a := autoState(); a["enabled"] != true || a["held_by_operator"] != false {
		t.Fatalf("after auto: auto state %v", a)
	}
	to := "native"
	if pvlock.CurrentMode() == pvlock.Native {
		to = "paravirt"
	}
	if _, errOut, code := runCmd(to, "-p", self, "-dir", dir); code != 0 {
		t.Fatalf("%s under auto: exit %d, %q", to, code, errOut)
	}
	if a := autoState(); a["enabled"] != true || a["held_by_operator"] != true {
		t.Fatalf("after an operator's switch: auto state %v, want held", a)
	}
	out, _, _ = runCmd("status", "-p", self, "-dir", dir)
	if !strings.Contains(out, "held by an operator") || !strings.Contains(out, "hypervisor ") {
		t.Fatalf("status text does not say the policy is held or show the hints: %q", out)
	}
	if _, errOut, code := runCmd("auto", "-p", self, "-dir", dir); code != 0 {
		t.Fatalf("auto again: exit %d, %q", code, errOut)
	}
	if a := autoState(); a["held_by_operator"] != false {
		t.Fatalf("after auto again: auto state %v, want control handed back", a)
	}
	pvlock.StopAuto()
	if _, _, code := runCmd("auto", "-dir", dir); code != exitUsage {
		t.Fatalf("auto without -p: exit %d, want %d", code, exitUsage)
	}

	if len(pvlock.Sites()) > 0 {
		out, errOut, code = runCmd("sites", "-p", self, "-dir", dir)
		if code != 0 || strings.Count(out, "* ") != len(pvlock.Sites()) || strings.Contains(out, "note:") {
			t.Fatalf("sites -p: exit %d, want one live variant per site: %q %q", code, out, errOut)
		}
		if !strings.Contains(out, "native") || !strings.Contains(out, "/proc/"+self+"/mem") {
			t.Fatalf("sites -p: %q", out)
		}
	}
}
