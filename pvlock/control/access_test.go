package control

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv names the socket the test binary, re-run as nobody, connects to.
const childEnv = "PVLOCK_CONTROL_TEST_CONNECT"

// TestHelperConnect is not a test: run as a child with childEnv set, it
// connects to the socket, asks for the status and prints what happened.
func TestHelperConnect(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Printf("CONNECT-ERROR uid=%d %v\n", os.Getuid(), err)
		os.Exit(0)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "{\"v\":1,\"op\":\"status\"}\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	fmt.Printf("REPLY uid=%d %s %v\n", os.Getuid(), strings.TrimSpace(line), err)
	os.Exit(0)
}

// asNobody runs this test binary as uid/gid 65534 against the socket at
// path and returns its output.
func asNobody(t *testing.T, bin, path string) string {
	cmd := exec.Command(bin, "-test.run=^TestHelperConnect$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	return string(out)
}

// TestAccessControl: another user is refused at connect by the 0600
// socket; with a test socket of wider mode it reaches the server and is
// refused by the peer-credential check, which counts it.
func TestAccessControl(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as nobody")
	}
	// A directory nobody can search, holding a copy of the test binary
	// nobody can run.
	dir, err := os.MkdirTemp("", "pvlock-control-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "control.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()

	s := startTest(t, Options{Dir: dir}) // 0600
	out := asNobody(t, bin, s.Path())
	if !strings.Contains(out, "CONNECT-ERROR uid=65534") || !strings.Contains(out, "permission denied") {
		t.Fatalf("nobody against the 0600 socket: %q, want a refused connect", out)
	}
	if s.Refused() != 0 {
		t.Fatalf("refused %d at the server, want 0 (refused at connect)", s.Refused())
	}
	s.Stop()

	wide := startTest(t, Options{Dir: dir, SocketMode: 0o666})
	out = asNobody(t, bin, wide.Path())
	if !strings.Contains(out, "REPLY uid=65534") || !strings.Contains(out, `"ok":false`) || !strings.Contains(out, "permission denied") {
		t.Fatalf("nobody against the 0666 socket: %q, want an error reply from the peer-credential check", out)
	}
	if wide.Refused() != 1 {
		t.Fatalf("refused %d, want 1", wide.Refused())
	}
	// Root is still served, and the status shows the refusal.
	resp, err := call(t, dir, Request{Op: OpStatus})
	if err != nil || resp.Status.Refused != 1 {
		t.Fatalf("root after the refusal: %+v, %v", resp.Status, err)
	}
}
