//go:build pvswitch_testhooks

package fault

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestEnvActivates runs this test binary again with PVSWITCH_FAULTS set:
// the named faults are active, the others are not, and an unknown name
// stops the process with a message naming the known faults.
func TestEnvActivates(t *testing.T) {
	if os.Getenv("FAULT_TEST_CHILD") == "1" {
		for f := Fault(1); f < numFaults; f++ {
			want := f == NoDrain || f == PlainGate
			if Active(f) != want {
				t.Fatalf("Active(%v) = %v with %s=%q", f, Active(f), Env, os.Getenv(Env))
			}
		}
		return
	}
	run := func(env string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnvActivates$", "-test.count=1")
		cmd.Env = append(os.Environ(), "FAULT_TEST_CHILD=1", Env+"="+env)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("nodrain, plaingate"); err != nil {
		t.Fatalf("child with nodrain,plaingate: %v\n%s", err, out)
	}
	out, err := run("nodrain,bogus")
	if err == nil || !strings.Contains(out, `unknown fault "bogus"`) || !strings.Contains(out, "nohandlerwait") {
		t.Fatalf("child with an unknown fault: err %v, output:\n%s", err, out)
	}
}
