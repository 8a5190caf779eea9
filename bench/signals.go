package bench

import (
	"slices"

	"github.com/pvswitch/pvswitch/internal/signals"
)

// Signals are the host-pressure signals recorded during one run, read live
// from the kernel by internal/signals (never simulated): the rates between
// a reading just before the workers start and one just after they stop.
type Signals struct {
	// Steal is the fraction of all CPUs' time the hypervisor stole (0..1).
	Steal float64 `json:"steal"`
	// Pressure is the fraction of the run during which some task waited
	// for a CPU (/proc/pressure/cpu "some", 0..1). Recorded as read: over
	// runs of tens of milliseconds the kernel's counter can make it exceed
	// 1 a little (seen: up to 1.9 over 50 ms); it is not clamped.
	Pressure float64 `json:"cpu_pressure"`
	// RunDelay is the run delay of the measuring process's threads per
	// unit of wall time: how many of its threads were, on average,
	// runnable but not running (can exceed 1).
	RunDelay float64 `json:"run_delay"`
	// Runnable is the runnable threads system-wide per usable CPU at the
	// end of the run.
	Runnable float64 `json:"runnable_per_cpu"`
	// Throttled is the fraction of cgroup CPU periods that were throttled.
	Throttled float64 `json:"cgroup_throttled"`
	// Missing names each input that could not be read, with the reason
	// (its rate above is 0).
	Missing map[string]string `json:"missing,omitempty"`
}

// signalRecorder records Signals over one run.
type signalRecorder struct{ start signals.Sample }

func startSignals() signalRecorder { return signalRecorder{signals.Read()} }

// stop returns the signals recorded since start.
func (r signalRecorder) stop() *Signals {
	d := signals.Read().Sub(r.start)
	s := &Signals{Steal: d.Steal, Pressure: d.Pressure, RunDelay: d.RunDelay, Runnable: d.Runnable, Throttled: d.Throttled}
	for in, why := range d.Missing {
		if s.Missing == nil {
			s.Missing = map[string]string{}
		}
		s.Missing[string(in)] = why
	}
	return s
}

// medianSignals is the median of each field over samples (nil if none has
// signals); Missing is the union.
func medianSignals(samples []Sample) *Signals {
	var st, pr, rd, rn, th []float64
	var out Signals
	for _, s := range samples {
		g := s.Signals
		if g == nil {
			continue
		}
		st, pr, rd, rn, th = append(st, g.Steal), append(pr, g.Pressure), append(rd, g.RunDelay), append(rn, g.Runnable), append(th, g.Throttled)
		for k, v := range g.Missing {
			if out.Missing == nil {
				out.Missing = map[string]string{}
			}
			out.Missing[k] = v
		}
	}
	if len(st) == 0 {
		return nil
	}
	out.Steal, out.Pressure, out.RunDelay, out.Runnable, out.Throttled = median(st), median(pr), median(rd), median(rn), median(th)
	return &out
}

// missingInputs lists the inputs missing in any row, sorted, with reasons.
func missingInputs(rows []*Row) []string {
	seen := map[string]string{}
	for _, r := range rows {
		if r.Signals != nil {
			for k, v := range r.Signals.Missing {
				seen[k] = v
			}
		}
	}
	var out []string
	for k, v := range seen {
		out = append(out, k+": "+v)
	}
	slices.Sort(out)
	return out
}
