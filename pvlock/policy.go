package pvlock

import (
	"fmt"
	"strings"
	"time"
)

// AutoConfig configures the auto policy (StartAuto). A zero field takes
// its value from DefaultAutoConfig.
//
// The policy samples its inputs every Interval. Each is a fraction over
// the interval:
//
//   - Steal: of all CPUs' time, stolen by the hypervisor (/proc/stat);
//   - Others: of all CPUs' time, used by everything but this process
//     (/proc/stat's busy time minus this process's CPU time);
//   - Pressure: of wall time, during which some task waited for a CPU
//     (/proc/pressure/cpu, delta of the "some" total);
//   - RunDelay: this process's threads' run delay (runnable, not
//     running; /proc/self/task/*/schedstat) per unit of wall time and per
//     usable CPU;
//   - Throttled: of cgroup v2 periods, throttled (cpu.stat).
//
// The machine is oversubscribed ("hot") when steal or throttling reaches
// its Enter threshold, or when others does and some task also waits for a
// CPU (pressure or run delay at its Enter threshold), or when others
// reaches EnterOthersCrowded while this process's own threads crowd its
// CPUs (run delay at least CrowdedRunDelay per CPU). It is free ("calm")
// when it is not hot and each cause the policy entered paravirt on is
// below its Exit threshold (Exit < Enter: hysteresis); for others, "below"
// also means that nothing waits (pressure and run delay below theirs).
// Paravirt the policy did not choose (the start mode, an operator's
// switch) has no cause to wait out: not hot is calm. Why per cause: on
// the KVM guest measured below, steal rose to 0.25-0.4 whenever both
// vCPUs ran, hogs or not; a policy that entered on a hog and then waited
// for steal below its exit threshold stayed in paravirt on a free machine.
//
// Why pressure and run delay do not decide alone: they count waits this
// process causes itself. Measured on a 2-vCPU KVM guest with two locked
// threads on one lock and nothing else running, paravirt mode's own parks
// and wake-ups give pressure 0.22-0.32 and run delay 0.22-0.35 per CPU
// (native: 0.14-0.17), and with 8 or 32 such threads both reach 0.4-0.55
// in either mode, while native stays 1.2-1.5x faster than paravirt in
// every one of these runs. Alone they would enter paravirt on a free
// machine and never leave it. A hog inside the guest shows as others (0.33
// per hog on 2 CPUs beside two busy threads) with pressure and run delay,
// and paravirt won from two hogs on (others 0.5); with one hog (others
// 0.32-0.42, run delay 0.4-0.8 per CPU) native still won by 1.2-1.3x,
// which is why EnterOthers is 0.45. A process whose own threads crowd its
// CPUs leaves hogs a smaller share: the demo with 8 locked threads and 4
// hogs saw others 0.3-0.7 (0.4 on average) with run delay 3-3.6 per CPU,
// and paravirt was 1.41x faster than native there; hence the lower
// EnterOthersCrowded when run delay reaches CrowdedRunDelay. Others alone
// is not enough either: on a large machine other processes may use half
// the CPUs while none of ours waits.
//
// Native -> Paravirt needs hot without a break for Sustain; Paravirt ->
// Native needs calm without a break for Calm; and no switch happens
// within MinDwell of the previous one. A spike shorter than Sustain
// therefore never switches. An input that cannot be read is reported
// (AutoState.Missing) and counts as neither hot nor calm's obstacle: the
// others decide. Without pressure and run delay, others decides alone;
// without others, only steal and throttling can enter paravirt (a hog
// inside the guest goes unseen, and Status says which input is missing).
// One exception, on the safe side: paravirt entered on others, with others
// no longer readable, is left only once nothing waits for a CPU.
//
// Runnable threads per usable CPU, GOMAXPROCS and the lock's own evidence
// (slow-path entries, parks, rescues per second, from ReadStats) are
// recorded with every decision and logged, but do not decide: they say
// how contended the locks are, not whether the CPUs are shared.
type AutoConfig struct {
	// Interval between samples (default 100 ms). Steal and others are
	// read in USER_HZ ticks (10 ms of one CPU), so their resolution is
	// 10 ms / (Interval x CPUs): 0.05 at 100 ms on 2 CPUs, 0.25 at 20 ms.
	// Shorter intervals make them noisy; Sustain and Calm smooth that.
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
	// Enter thresholds (defaults: steal 0.50, others 0.45, pressure 0.30,
	// run delay 0.20 per CPU, throttled 0.20). Steal's default is high
	// because on the KVM guest this was measured on the host stole
	// 0.1-0.4 of the CPUs' time whenever both vCPUs ran, and native still
	// beat paravirt by 1.1-1.5x at those levels; on a host where less
	// steal already hurts native, lower it.
	EnterSteal, EnterOthers, EnterPressure, EnterRunDelay, EnterThrottled float64
	// EnterOthersCrowded is the others threshold while this process's
	// run delay is at least CrowdedRunDelay per CPU (defaults 0.30 and
	// 1.0): more of its own threads want its CPUs than there are CPUs,
	// and a smaller share taken by other processes preempts its lock
	// holders. Its exit threshold is ExitOthers.
	EnterOthersCrowded, CrowdedRunDelay float64
	// Exit thresholds (defaults: steal 0.20, others 0.25, pressure 0.10,
	// run delay 0.05 per CPU, throttled 0.05).
	ExitSteal, ExitOthers, ExitPressure, ExitRunDelay, ExitThrottled float64
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
	EnterSteal:     0.50,
	EnterOthers:    0.45,
	EnterPressure:  0.30,
	EnterRunDelay:  0.20,
	EnterThrottled: 0.20,

	EnterOthersCrowded: 0.30,
	CrowdedRunDelay:    1.0,

	ExitSteal:     0.20,
	ExitOthers:    0.25,
	ExitPressure:  0.10,
	ExitRunDelay:  0.05,
	ExitThrottled: 0.05,
	SwitchTimeout: 200 * time.Millisecond,
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
	orDefault(&c.EnterOthers, d.EnterOthers)
	orDefault(&c.EnterOthersCrowded, d.EnterOthersCrowded)
	orDefault(&c.CrowdedRunDelay, d.CrowdedRunDelay)
	orDefault(&c.EnterPressure, d.EnterPressure)
	orDefault(&c.EnterRunDelay, d.EnterRunDelay)
	orDefault(&c.EnterThrottled, d.EnterThrottled)
	orDefault(&c.ExitSteal, d.ExitSteal)
	orDefault(&c.ExitOthers, d.ExitOthers)
	orDefault(&c.ExitPressure, d.ExitPressure)
	orDefault(&c.ExitRunDelay, d.ExitRunDelay)
	orDefault(&c.ExitThrottled, d.ExitThrottled)
	if c.Interval < 0 || c.Sustain < 0 || c.Calm < 0 || c.MinDwell < 0 || c.SwitchTimeout < 0 {
		return c, fmt.Errorf("pvlock: auto config: negative duration in %+v", c)
	}
	for _, p := range [][2]float64{{c.ExitSteal, c.EnterSteal}, {c.ExitOthers, c.EnterOthers}, {c.ExitOthers, c.EnterOthersCrowded}, {c.ExitPressure, c.EnterPressure}, {c.ExitRunDelay, c.EnterRunDelay}, {c.ExitThrottled, c.EnterThrottled}} {
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
	// fractions, as AutoConfig describes them. Pressure, RunDelay and
	// Throttled are over Interval; Steal and Others over the last 200 ms
	// or Interval, whichever is longer, as they are counted in 10 ms
	// ticks.
	Steal     float64 `json:"steal"`
	Pressure  float64 `json:"pressure"`
	RunDelay  float64 `json:"run_delay_per_cpu"`
	Throttled float64 `json:"throttled"`
	// Others is the fraction of all CPUs' time used by everything but
	// this process (busy time in /proc/stat minus this process's CPU
	// time).
	Others float64 `json:"others"`
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

// cause is a set of the inputs that can make the machine hot.
type cause uint8

const (
	causeSteal cause = 1 << iota
	causeThrottled
	causeOthers
)

// policy is the pure decision state: feed it inputs in time order with
// step; it says when to switch. It never calls Switch itself.
type policy struct {
	cfg        AutoConfig
	mode       Mode      // the mode the policy believes is live
	lastSwitch time.Time // zero: no switch yet (no dwell to wait)
	hotSince   time.Time // start of the current unbroken hot run, zero if none
	calmSince  time.Time // start of the current unbroken calm run
	// entered is what made the policy enter paravirt: the way back waits
	// for each of these to fall below its exit threshold. Zero when
	// paravirt was not the policy's choice (the start mode, or an
	// operator's switch): then not being hot is calm enough.
	entered, pending cause
	verdict          string // the last sample's classification, for AutoState
}

// hotCalm classifies one interval's inputs, as AutoConfig describes: hot
// with the causes that make it so, and calm with respect to the causes
// paravirt was entered on (p.entered).
func (p *policy) hotCalm(in AutoInputs) (hot cause, calm bool, why string) {
	c := p.cfg
	var reasons []string
	// level says whether input name was read and is at or above enter,
	// and whether it is below exit (a missing input is neither).
	level := func(name string, v, enter, exit float64) (high, low bool) {
		if !in.has(name) {
			return false, false
		}
		return v >= enter, v < exit
	}
	stealHigh, stealLow := level("steal", in.Steal, c.EnterSteal, c.ExitSteal)
	thrHigh, thrLow := level("cgroup-cpu", in.Throttled, c.EnterThrottled, c.ExitThrottled)
	othHigh, othLow := level("others", in.Others, c.EnterOthers, c.ExitOthers)
	psiHigh, psiLow := level("psi-cpu", in.Pressure, c.EnterPressure, c.ExitPressure)
	rdHigh, rdLow := level("run-delay", in.RunDelay, c.EnterRunDelay, c.ExitRunDelay)
	noWaitInput := !in.has("psi-cpu") && !in.has("run-delay")

	if stealHigh {
		hot |= causeSteal
		reasons = append(reasons, fmt.Sprintf("steal %.2f >= %.2f", in.Steal, c.EnterSteal))
	}
	if thrHigh {
		hot |= causeThrottled
		reasons = append(reasons, fmt.Sprintf("throttled %.2f >= %.2f", in.Throttled, c.EnterThrottled))
	}
	crowded := in.has("others") && in.has("run-delay") && in.Others >= c.EnterOthersCrowded && in.RunDelay >= c.CrowdedRunDelay
	switch {
	case othHigh && (psiHigh || rdHigh || noWaitInput):
		hot |= causeOthers
		r := fmt.Sprintf("others %.2f >= %.2f", in.Others, c.EnterOthers)
		if psiHigh {
			r += fmt.Sprintf(" with pressure %.2f >= %.2f", in.Pressure, c.EnterPressure)
		}
		if rdHigh {
			r += fmt.Sprintf(" with run delay %.2f >= %.2f", in.RunDelay, c.EnterRunDelay)
		}
		reasons = append(reasons, r)
	case crowded:
		hot |= causeOthers
		reasons = append(reasons, fmt.Sprintf("others %.2f >= %.2f with our threads crowding the CPUs (run delay %.2f >= %.2f per CPU)",
			in.Others, c.EnterOthersCrowded, in.RunDelay, c.CrowdedRunDelay))
	}
	if hot != 0 {
		return hot, false, strings.Join(reasons, ", ")
	}
	// Not hot. Calm also needs each cause paravirt was entered on below
	// its exit threshold (hysteresis); a missing input is no obstacle,
	// but others, missing, is one unless pressure and run delay say that
	// nothing waits.
	noWait := (psiLow || !in.has("psi-cpu")) && (rdLow || !in.has("run-delay")) && !noWaitInput
	calm = true
	if p.entered&causeSteal != 0 && in.has("steal") {
		calm = calm && stealLow
		reasons = append(reasons, fmt.Sprintf("steal %.2f < %.2f", in.Steal, c.ExitSteal))
	}
	if p.entered&causeThrottled != 0 && in.has("cgroup-cpu") {
		calm = calm && thrLow
		reasons = append(reasons, fmt.Sprintf("throttled %.2f < %.2f", in.Throttled, c.ExitThrottled))
	}
	if p.entered&causeOthers != 0 {
		switch {
		case othLow:
			reasons = append(reasons, fmt.Sprintf("others %.2f < %.2f", in.Others, c.ExitOthers))
		case noWait:
			reasons = append(reasons, fmt.Sprintf("nothing waits (pressure %.2f < %.2f, run delay %.2f < %.2f)", in.Pressure, c.ExitPressure, in.RunDelay, c.ExitRunDelay))
		case !in.has("others") && noWaitInput:
		default:
			calm = false
		}
	}
	if p.entered == 0 {
		reasons = append(reasons, "not oversubscribed")
	}
	return 0, calm, strings.Join(reasons, ", ")
}

// step feeds one interval's inputs; it returns the mode to switch to and
// why, or ok false to stay. The caller reports the outcome with switched.
func (p *policy) step(in AutoInputs) (to Mode, why string, ok bool) {
	hotCauses, calm, why := p.hotCalm(in)
	hot := hotCauses != 0
	switch {
	case hot:
		p.verdict = "hot: " + why
	case calm:
		p.verdict = "calm: " + why
	default:
		p.verdict = fmt.Sprintf("neither: steal %.2f, others %.2f, pressure %.2f, run delay %.2f, throttled %.2f",
			in.Steal, in.Others, in.Pressure, in.RunDelay, in.Throttled)
	}
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
			p.pending = hotCauses
			return Paravirt, fmt.Sprintf("oversubscribed for %v: %s", now.Sub(p.hotSince).Round(time.Millisecond), why), true
		}
	case Paravirt:
		if calm && now.Sub(p.calmSince) >= p.cfg.Calm {
			return Native, fmt.Sprintf("free for %v: %s", now.Sub(p.calmSince).Round(time.Millisecond), why), true
		}
	}
	return p.mode, "", false
}

// switched records that the live mode is now m, at t: the policy's own
// switch (own, the one step asked for) or an operator's change seen.
func (p *policy) switched(m Mode, t time.Time, own bool) {
	if m != p.mode {
		p.mode, p.lastSwitch = m, t
		p.hotSince, p.calmSince = time.Time{}, time.Time{}
		p.entered = 0
		if own && m == Paravirt {
			p.entered = p.pending
		}
	}
}
