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
// client_golang nor the control, metrics or expvar code. (Whether pvlock
// links net is logged, not checked here: pvlock's auto policy reads
// /proc through github.com/prometheus/procfs, which imports net.)
func TestPvlockLinksNoControl(t *testing.T) {
	for _, d := range depsOf(t, "github.com/pvswitch/pvswitch/pvlock") {
		switch d {
		case "github.com/prometheus/client_golang/prometheus",
			"github.com/pvswitch/pvswitch/pvlock/control", "github.com/pvswitch/pvswitch/pvlock/metrics", "github.com/pvswitch/pvswitch/pvlock/expvars":
			t.Errorf("pvlock links %s", d)
		case "net":
			t.Logf("note: pvlock links net (not through the control endpoint)")
		}
	}
}
