package bench

import "time"

// Signals are the host-pressure signals recorded during a run: steal time,
// CPU pressure (PSI) and this process's run delay. They are read from the
// kernel by internal/signals; until that package is in the module, no
// signal is recorded and Sample.SignalNote says so (nothing is ever
// simulated).
type Signals struct {
	// Steal is the CPU time stolen by the hypervisor over all CPUs.
	Steal time.Duration `json:"steal_ns"`
	// PressureSome is the growth of /proc/pressure/cpu "some total".
	PressureSome time.Duration `json:"cpu_pressure_some_ns"`
	// RunDelay is the time this process's threads waited for a CPU.
	RunDelay time.Duration `json:"run_delay_ns"`
}

// signalRecorder records Signals over one run.
type signalRecorder struct{}

// noSignals is the note of a run without signals.
const noSignals = "not recorded: internal/signals (the live steal/PSI/run-delay readers) is not in this module yet"

func startSignals() signalRecorder { return signalRecorder{} }

// stop returns the signals recorded since start, or nil and why not.
func (signalRecorder) stop() (*Signals, string) { return nil, noSignals }
