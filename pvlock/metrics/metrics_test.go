package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pvswitch/pvswitch/pvlock"
)

func TestCollector(t *testing.T) {
	c := NewCollector()
	defer c.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	start := pvlock.CurrentMode()
	defer pvlock.Switch(t.Context(), start)
	before := pvlock.ReadStatus().Switches
	other := pvlock.Paravirt
	if start == pvlock.Paravirt {
		other = pvlock.Native
	}
	if err := pvlock.Switch(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP pvlock_mode 1 for the mode pvlock's locks run now, 0 for the other.
# TYPE pvlock_mode gauge
pvlock_mode{mode="native"} ` + one(other == pvlock.Native) + `
pvlock_mode{mode="paravirt"} ` + one(other == pvlock.Paravirt) + `
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pvlock_mode"); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	var switches float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "pvlock_switch_duration_seconds":
			count = mf.Metric[0].GetHistogram().GetSampleCount()
		case "pvlock_switches_total":
			switches = mf.Metric[0].GetCounter().GetValue()
		}
	}
	if count != 1 {
		t.Errorf("histogram holds %d switches, want 1", count)
	}
	if switches != float64(before+1) {
		t.Errorf("pvlock_switches_total %v, want %d", switches, before+1)
	}
}

func one(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
