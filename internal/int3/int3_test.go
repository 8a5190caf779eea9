//go:build linux && amd64

package int3_test

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/int3"
)

func TestInstallCheck(t *testing.T) {
	if err := int3.Check(); !errors.Is(err, int3.ErrNotInstalled) && err != nil {
		t.Fatalf("Check before Install = %v", err)
	}
	if err := int3.Install(); err != nil {
		t.Fatal(err)
	}
	if err := int3.Install(); err != nil {
		t.Fatalf("second Install: %v", err)
	}
	if err := int3.Check(); err != nil {
		t.Fatal(err)
	}
}

// breakpointEnv makes the test binary, run as a subprocess, execute
// runtime.Breakpoint (with or without the handler) instead of the tests.
const breakpointEnv = "PVSWITCH_INT3_BREAKPOINT"

func TestMain(m *testing.M) {
	switch os.Getenv(breakpointEnv) {
	case "with":
		if err := int3.Install(); err != nil {
			panic(err)
		}
		runtime.Breakpoint()
	case "without":
		runtime.Breakpoint()
	}
	os.Exit(m.Run())
}

// TestForeignTrapCrashesAsBefore: an INT3 that is not on a site reaches the
// Go runtime's handler untouched: same first line ("SIGTRAP: trace trap"),
// same exit status as without our handler.
func TestForeignTrapCrashesAsBefore(t *testing.T) {
	run := func(mode string) (string, int) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), breakpointEnv+"="+mode, "GOTRACEBACK=single")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: want a crash, got err=%v\n%s", mode, err, out)
		}
		first, _, _ := strings.Cut(string(out), "\n")
		return first, ee.ExitCode()
	}
	l1, c1 := run("without")
	l2, c2 := run("with")
	if l1 != l2 || c1 != c2 || l1 != "SIGTRAP: trace trap" {
		t.Fatalf("without handler: %q exit %d; with handler: %q exit %d", l1, c1, l2, c2)
	}
}

// TestKilledSIGTRAPReachesNotify: a SIGTRAP sent with kill (si_code
// SI_USER) is not ours and reaches os/signal through the Go runtime's
// handler.
func TestKilledSIGTRAPReachesNotify(t *testing.T) {
	if err := int3.Install(); err != nil {
		t.Fatal(err)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTRAP)
	defer signal.Stop(c)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTRAP); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-c:
		if s != syscall.SIGTRAP {
			t.Fatalf("got %v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTRAP sent with kill did not reach signal.Notify")
	}
	if err := int3.Check(); err != nil {
		t.Fatalf("after signal.Notify(SIGTRAP): %v", err)
	}
}
