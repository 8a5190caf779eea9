package expvars

import (
	"os/exec"
	"strings"
	"testing"
)

// depsOf lists the packages pkg links (go list -deps).
func depsOf(t *testing.T, pkg string) []string {
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	return strings.Fields(string(out))
}

// TestPvlockLinksNoControl: a program importing only pvlock links neither
// client_golang nor the control, metrics or expvar code, nor net, nor cgo:
// net links runtime/cgo (for its resolver) wherever cgo is enabled, and a
// dynamically linked program is debugged through libthread_db, under which
// gdb stopped passing the lock's INT3 traps (TestGDBPassesTraps). This is
// why internal/signals parses /proc by hand.
func TestPvlockLinksNoControl(t *testing.T) {
	for _, d := range depsOf(t, "github.com/pvswitch/pvswitch/pvlock") {
		switch d {
		case "github.com/prometheus/client_golang/prometheus",
			"github.com/pvswitch/pvswitch/pvlock/control", "github.com/pvswitch/pvswitch/pvlock/metrics", "github.com/pvswitch/pvswitch/pvlock/expvars":
			t.Errorf("pvlock links %s", d)
		case "net", "runtime/cgo", "os/user", "plugin":
			t.Errorf("pvlock links %s", d)
		}
	}
}
