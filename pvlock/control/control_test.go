package control

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
)

func startTest(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

func call(t *testing.T, dir string, req Request) (Response, error) {
	t.Helper()
	c, err := Dial(dir, os.Getpid(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Call(req)
}

func TestStatusAndSwitch(t *testing.T) {
	s := startTest(t, Options{})
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	dir := s.opts.Dir
	start := pvlock.CurrentMode()
	defer pvlock.Switch(t.Context(), start)
	for _, to := range []pvlock.Mode{pvlock.Paravirt, pvlock.Native, pvlock.Paravirt} {
		resp, err := call(t, dir, Request{Op: OpSwitch, Mode: to.String()})
		if err != nil {
			t.Fatalf("switch to %v: %v", to, err)
		}
		if resp.Status.Mode != to.String() || pvlock.CurrentMode() != to {
			t.Fatalf("after switch to %v: reply mode %q, process mode %v", to, resp.Status.Mode, pvlock.CurrentMode())
		}
		t.Logf("switch to %v: %v", to, time.Duration(resp.Switch.LatencyNS))
		st, err := call(t, dir, Request{Op: OpStatus})
		if err != nil {
			t.Fatal(err)
		}
		if st.Status.Mode != to.String() || st.Status.PID != os.Getpid() {
			t.Fatalf("status %+v after switch to %v", st.Status, to)
		}
	}
	resp, err := call(t, dir, Request{Op: OpSites})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Sites) != len(pvlock.Sites()) {
		t.Fatalf("%d sites, want %d", len(resp.Sites), len(pvlock.Sites()))
	}
}

// TestBadRequests: each bad request gets an error reply and a closed
// connection, and the endpoint keeps serving.
func TestBadRequests(t *testing.T) {
	s := startTest(t, Options{ReadTimeout: 200 * time.Millisecond})
	for name, send := range map[string]string{
		"not json":       "hello\n",
		"wrong version":  `{"v":2,"op":"status"}` + "\n",
		"unknown op":     `{"v":1,"op":"reboot"}` + "\n",
		"bad mode":       `{"v":1,"op":"switch","mode":"fast"}` + "\n",
		"auto with mode": `{"v":1,"op":"auto","mode":"native"}` + "\n",
		"unknown field":  `{"v":1,"op":"status","x":1}` + "\n",
		"oversized":      `{"v":1,"op":"status","mode":"` + strings.Repeat("a", 2*MaxRequest) + "\"}\n",
		"slow":           `{"v":1,"op":"sta`,
	} {
		c, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(send)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: no reply: %v", name, err)
		}
		if !strings.Contains(line, `"ok":false`) || !strings.Contains(line, `"error"`) {
			t.Errorf("%s: reply %q, want an error reply", name, line)
		}
		if _, err := r.ReadByte(); err == nil {
			t.Errorf("%s: connection still open after the error reply", name)
		}
		c.Close()
	}
	if _, err := call(t, s.opts.Dir, Request{Op: OpStatus}); err != nil {
		t.Fatalf("endpoint broken after bad requests: %v", err)
	}
}

func TestBadPid(t *testing.T) {
	dir := t.TempDir()
	for _, pid := range []int{0, -5} {
		if _, err := Dial(dir, pid, time.Second); err == nil {
			t.Errorf("Dial(pid %d) succeeded", pid)
		}
	}
	// A live process with no endpoint (this one, none started).
	if _, err := Dial(dir, os.Getpid(), time.Second); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("Dial to a process with no endpoint: %v, want ErrNoEndpoint", err)
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

func TestDeadProcess(t *testing.T) {
	dir := t.TempDir()
	pid := deadPid(t)
	if _, err := Dial(dir, pid, time.Second); !errors.Is(err, ErrNoEndpoint) || !strings.Contains(err.Error(), "no such process") {
		t.Errorf("Dial to dead pid %d: %v, want ErrNoEndpoint, no such process", pid, err)
	}
}

// staleSocket leaves a socket file that no one listens on at path.
func staleSocket(t *testing.T, path string) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatal(err)
	}
}

func TestStaleSockets(t *testing.T) {
	dir := t.TempDir()
	dead := SocketPath(dir, deadPid(t))
	staleSocket(t, dead)
	live := startTest(t, Options{Dir: dir})
	eps, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 1 || eps[0].PID != os.Getpid() || eps[0].Path != live.Path() {
		t.Fatalf("List = %+v, want only this process", eps)
	}
	if _, err := os.Lstat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale socket of a dead process not removed: %v", err)
	}
	// A socket of a live pid with no listener (this process after Stop,
	// left behind): Dial removes it. And Start replaces one.
	live.Stop()
	self := SocketPath(dir, os.Getpid())
	staleSocket(t, self)
	if _, err := Dial(dir, os.Getpid(), time.Second); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("Dial to a stale socket: %v, want ErrNoEndpoint", err)
	}
	if _, err := os.Lstat(self); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale socket not removed by Dial")
	}
	staleSocket(t, self)
	s := startTest(t, Options{Dir: dir})
	if _, err := call(t, dir, Request{Op: OpStatus}); err != nil {
		t.Fatalf("Start over a stale socket: %v", err)
	}
	// Start refuses while a live endpoint holds the socket.
	if _, err := Start(Options{Dir: dir}); err == nil {
		t.Fatal("second Start on the same pid succeeded")
	}
	s.Stop()
	if _, err := os.Lstat(self); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop left the socket file")
	}
}

func TestStopIdempotentWithOpenConn(t *testing.T) {
	s := startTest(t, Options{})
	c, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan struct{})
	go func() { s.Stop(); s.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hung with an idle connection open")
	}
}

func TestDefaultDirChecks(t *testing.T) {
	d := t.TempDir()
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkDir(d); err == nil {
		t.Fatal("checkDir accepted a 0755 directory")
	}
	t.Setenv(DirEnv, "")
	t.Setenv("XDG_RUNTIME_DIR", d)
	if got := DefaultDir(); got != d+"/pvswitch" {
		t.Fatalf("DefaultDir = %q", got)
	}
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	fi, err := os.Stat(d + "/pvswitch")
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created directory: %v %v, want mode 0700", fi.Mode(), err)
	}
}
