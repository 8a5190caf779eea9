package pvlock

import (
	"fmt"
	"time"
)

// AutoConfig configures the auto policy (StartAuto). A zero field takes
// its value from DefaultAutoConfig.
//
// The policy samples its inputs every Interval and calls the machine
// oversubscribed ("hot") when any of these reaches its Enter threshold,
// and free ("calm") when all are below their Exit thresholds (Exit <
// Enter: hysteresis):
//
//   - Steal: the fraction of all CPUs' time the hypervisor stole
//     (/proc/stat);
//   - Pressure: the fraction of wall time in which some task waited for a
//     CPU (/proc/pressure/cpu, delta of "some" total);
//   - RunDelay: this process's threads' run delay (runnable, not
//     running; /proc/self/task/*/schedstat) per unit of wall time and per
//     usable CPU;
//   - Throttled: the fraction of cgroup v2 periods throttled (cpu.stat).
//
// A CPU hog inside the guest shows as pressure and run delay, not steal;
// a busy host as steal. Native -> Paravirt needs hot without a break for
// Sustain; Paravirt -> Native needs calm without a break for Calm; and no
// switch happens within MinDwell of the previous one. A spike shorter than
// Sustain therefore never switches. An input that cannot be read is
// reported (AutoState.Missing) and counts as neither hot nor calm's
// obstacle: the others decide.
//
// Runnable threads per usable CPU, GOMAXPROCS and the lock's own evidence
// (slow-path entries, parks, rescues per second, from ReadStats) are
// recorded with every decision and logged, but do not decide: they say
// how contended the locks are, not whether the CPUs are shared.
type AutoConfig struct {
	// Interval between samples (default 100 ms).
	Interval time.Duration
	// Sustain is how long the machine must stay hot before the policy
	// switches to paravirt (default 500 ms).
	Sustain time.Duration
	// Calm is how long it must stay calm before the policy switches back
	// to native (default 1 s).
	Calm time.Duration
	// MinDwell is the least time between two switches of the policy
	// (default 2 s).
	MinDwell time.Duration
	// Enter thresholds (defaults: steal 0.10, pressure 0.30, run delay
	// 0.20 per CPU, throttled 0.20).
	EnterSteal, EnterPressure, EnterRunDelay, EnterThrottled float64
	// Exit thresholds (defaults: steal 0.03, pressure 0.10, run delay 0.05
	// per CPU, throttled 0.05).
	ExitSteal, ExitPressure, ExitRunDelay, ExitThrottled float64
	// SwitchTimeout bounds each Switch call of the policy (default 200
	// ms); a switch that fails (ErrBusy) is retried at the next sample.
	SwitchTimeout time.Duration
}

// DefaultAutoConfig is the configuration PVLOCK_MODE=auto starts the
// policy with.
var DefaultAutoConfig = AutoConfig{
	Interval:       100 * time.Millisecond,
	Sustain:        500 * time.Millisecond,
	Calm:           time.Second,
	MinDwell:       2 * time.Second,
	EnterSteal:     0.10,
	EnterPressure:  0.30,
	EnterRunDelay:  0.20,
	EnterThrottled: 0.20,
	ExitSteal:      0.03,
	ExitPressure:   0.10,
	ExitRunDelay:   0.05,
	ExitThrottled:  0.05,
	SwitchTimeout:  200 * time.Millisecond,
}

// withDefaults fills zero fields from DefaultAutoConfig and checks the
// result.
func (c AutoConfig) withDefaults() (AutoConfig, error) {
	d := DefaultAutoConfig
	orDefault(&c.Interval, d.Interval)
	orDefault(&c.Sustain, d.Sustain)
	orDefault(&c.Calm, d.Calm)
	orDefault(&c.MinDwell, d.MinDwell)
	orDefault(&c.SwitchTimeout, d.SwitchTimeout)
	orDefault(&c.EnterSteal, d.EnterSteal)
	orDefault(&c.EnterPressure, d.EnterPressure)
	orDefault(&c.EnterRunDelay, d.EnterRunDelay)
	orDefault(&c.EnterThrottled, d.EnterThrottled)
	orDefault(&c.ExitSteal, d.ExitSteal)
	orDefault(&c.ExitPressure, d.ExitPressure)
	orDefault(&c.ExitRunDelay, d.ExitRunDelay)
	orDefault(&c.ExitThrottled, d.ExitThrottled)
	if c.Interval < 0 || c.Sustain < 0 || c.Calm < 0 || c.MinDwell < 0 || c.SwitchTimeout < 0 {
		return c, fmt.Errorf("pvlock: auto config: negative duration in %+v", c)
	}
	for _, p := range [][2]float64{{c.ExitSteal, c.EnterSteal}, {c.ExitPressure, c.EnterPressure}, {c.ExitRunDelay, c.EnterRunDelay}, {c.ExitThrottled, c.EnterThrottled}} {
		if p[0] < 0 || p[0] >= p[1] {
			return c, fmt.Errorf("pvlock: auto config: exit threshold %v must be >= 0 and below its enter threshold %v", p[0], p[1])
		}
	}
	return c, nil
}

// orDefault sets *v to def if *v is the zero value.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// AutoInputs are the policy's inputs over one sample interval.
type AutoInputs struct {
	At       time.Time     `json:"at"`
	Interval time.Duration `json:"interval_ns"`
	// Steal, Pressure, RunDelay (per usable CPU) and Throttled are
	// fractions, as AutoConfig describes them.
	Steal     float64 `json:"steal"`
	Pressure  float64 `json:"pressure"`
	RunDelay  float64 `json:"run_delay_per_cpu"`
	Throttled float64 `json:"throttled"`
	// Runnable is system-wide runnable threads per usable CPU.
	Runnable   float64 `json:"runnable_per_cpu"`
	UsableCPUs int     `json:"usable_cpus"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	// SlowPerSec, ParksPerSec and RescuesPerSec are the lock's own
	// evidence (ReadStats deltas per second).
	SlowPerSec    float64 `json:"slow_per_sec"`
	ParksPerSec   float64 `json:"parks_per_sec"`
	RescuesPerSec float64 `json:"rescues_per_sec"`
	// Missing names the inputs that could not be read, with the reason.
	Missing map[string]string `json:"missing,omitempty"`
}

func (in AutoInputs) has(name string) bool { _, miss := in.Missing[name]; return !miss }

// policy is the pure decision state: feed it inputs in time order with
// step; it says when to switch. It never calls Switch itself.
type policy struct {
	cfg        AutoConfig
	mode       Mode      // the mode the policy believes is live
	lastSwitch time.Time // zero: no switch yet (no dwell to wait)
	hotSince   time.Time // start of the current unbroken hot run, zero if none
	calmSince  time.Time // start of the current unbroken calm run
}

// hotCalm classifies one interval's inputs.
func (p *policy) hotCalm(in AutoInputs) (hot, calm bool, why string) {
	c := p.cfg
	calm = true
	check := func(name string, v, enter, exit float64) {
		if !in.has(name) {
			return
		}
		if v >= enter {
			hot = true
			if why != "" {
				why += ", "
			}
			why += fmt.Sprintf("%s %.2f >= %.2f", name, v, enter)
		}
		if v >= exit {
			calm = false
		}
	}
	check("steal", in.Steal, c.EnterSteal, c.ExitSteal)
	check("psi-cpu", in.Pressure, c.EnterPressure, c.ExitPressure)
	check("run-delay", in.RunDelay, c.EnterRunDelay, c.ExitRunDelay)
	check("cgroup-cpu", in.Throttled, c.EnterThrottled, c.ExitThrottled)
	if calm {
		why = fmt.Sprintf("below exit thresholds (steal < %.2f, pressure < %.2f, run delay < %.2f, throttled < %.2f)",
			c.ExitSteal, c.ExitPressure, c.ExitRunDelay, c.ExitThrottled)
	}
	return hot, calm, why
}

// step feeds one interval's inputs; it returns the mode to switch to and
// why, or ok false to stay. The caller reports the outcome with switched.
func (p *policy) step(in AutoInputs) (to Mode, why string, ok bool) {
	hot, calm, why := p.hotCalm(in)
	now := in.At
	if hot {
		if p.hotSince.IsZero() {
			p.hotSince = now.Add(-in.Interval)
		}
	} else {
		p.hotSince = time.Time{}
	}
	if calm {
		if p.calmSince.IsZero() {
			p.calmSince = now.Add(-in.Interval)
		}
	} else {
		p.calmSince = time.Time{}
	}
	if !p.lastSwitch.IsZero() && now.Sub(p.lastSwitch) < p.cfg.MinDwell {
		return p.mode, "", false
	}
	switch p.mode {
	case Native:
		if hot && now.Sub(p.hotSince) >= p.cfg.Sustain {
			return Paravirt, fmt.Sprintf("oversubscribed for %v: %s", now.Sub(p.hotSince).Round(time.Millisecond), why), true
		}
	case Paravirt:
		if calm && now.Sub(p.calmSince) >= p.cfg.Calm {
			return Native, fmt.Sprintf("free for %v: %s", now.Sub(p.calmSince).Round(time.Millisecond), why), true
		}
	}
	return p.mode, "", false
}

// switched records that the live mode is now m, at t (a switch, or an
// operator's change seen).
func (p *policy) switched(m Mode, t time.Time) {
	if m != p.mode {
		p.mode, p.lastSwitch = m, t
		p.hotSince, p.calmSince = time.Time{}, time.Time{}
	}
}
