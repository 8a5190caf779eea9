package fault

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNamesRoundTrip(t *testing.T) {
	if len(Names()) != int(numFaults)-1 {
		t.Fatalf("Names() = %v, want %d names", Names(), numFaults-1)
	}
	for _, n := range Names() {
		f, ok := Parse(n)
		if !ok || f.String() != n {
			t.Errorf("Parse(%q) = %v, %v; want a fault whose String is %q", n, f, ok, n)
		}
	}
	if _, ok := Parse("nosuch"); ok {
		t.Error(`Parse("nosuch") succeeded`)
	}
}

// TestOffBuildHasNoFaults: without the pvswitch_testhooks tag, setting
// PVSWITCH_FAULTS activates nothing.
func TestOffBuildHasNoFaults(t *testing.T) {
	if Hooks {
		t.Skip("test-hooks build: see TestEnvActivates")
	}
	t.Setenv(Env, "nodrain")
	for f := Fault(1); f < numFaults; f++ {
		if Active(f) {
			t.Errorf("%v active in a build without test hooks", f)
		}
	}
}

// TestEveryFaultIsChecked: .ci/faults, which shows that each protection's
// test fails without it, names every fault.
func TestEveryFaultIsChecked(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", ".ci", "faults"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range Names() {
		if !strings.Contains(string(b), `"`+n+`|`) {
			t.Errorf(".ci/faults has no case for the fault %q", n)
		}
	}
}
