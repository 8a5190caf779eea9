// Package expvars publishes pvlock's counters through expvar, for programs
// that do not use Prometheus; it does not link client_golang. Importing it
// is enough: its init publishes the variable "pvlock", a map with the same
// counters as package metrics (without the histogram), for instance
//
//	"pvlock": {"mode": "native", "mechanism": "patched", "switches_total": 2,
//	  "last_switch_seconds": 4.1e-05, "slow_acquires_total": 1234, ...}
//
// which net/http serves on /debug/vars when the program imports expvar's
// handler (expvar registers it on http.DefaultServeMux).
package expvars

import (
	"expvar"

	"github.com/pvswitch/pvswitch/pvlock"
)

// Name is the expvar variable this package publishes.
const Name = "pvlock"

func init() {
	expvar.Publish(Name, expvar.Func(Snapshot))
}

// Snapshot returns the published value: pvlock's status and statistics,
// keyed like the Prometheus metrics without their pvlock_ prefix.
func Snapshot() any {
	st, ss := pvlock.ReadStatus(), pvlock.ReadStats()
	return map[string]any{
		"mode":                   st.Mode.String(),
		"mechanism":              st.Mechanism.String(),
		"switches_total":         st.Switches,
		"switch_aborts_total":    st.Aborts,
		"switch_failures_total":  st.Failures,
		"last_switch_seconds":    st.LastSwitch.Seconds(),
		"worst_switch_seconds":   st.WorstSwitch.Seconds(),
		"traps_total":            st.Traps,
		"slow_acquires_total":    ss.SlowAcquires,
		"parks_total":            ss.Parks,
		"kicks_total":            ss.Kicks,
		"rescues_total":          ss.Rescues,
		"untracked_sleeps_total": ss.Untracked,
		"handoffs_total":         ss.Handoffs,
		"switch_wakes_total":     ss.SwitchWakes,
		"switch_evictions_total": ss.SwitchEvictions,
	}
}
