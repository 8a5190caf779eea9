package pvlock

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pvswitch/pvswitch/internal/signals"
)

// AutoState is the auto policy's state, a field of Status (JSON key
// "auto").
type AutoState struct {
	// Enabled is true while the policy runs (StartAuto or PVLOCK_MODE=auto
	// until StopAuto).
	Enabled bool `json:"enabled"`
	// Held is true when an operator's Switch took control from the
	// policy: it keeps sampling but switches nothing until StartAuto hands
	// control back.
	Held bool `json:"held_by_operator"`
	// Config is the configuration in use.
	Config AutoConfig `json:"config"`
	// Missing names the inputs the last sample could not read, with the
	// reason (no PSI, no cgroup v2, ...). Missing inputs are not fatal.
	Missing map[string]string `json:"missing_inputs,omitempty"`
	// Last is the last sample's inputs.
	Last AutoInputs `json:"last_inputs"`
	// Verdict is how the policy read the last sample: "hot: REASONS",
	// "calm: REASONS" or "neither: INPUTS" (between the thresholds). It
	// says why the policy does or does not switch.
	Verdict string `json:"verdict,omitempty"`
	// LastDecision is the policy's last switch decision, nil before the
	// first.
	LastDecision *AutoDecision `json:"last_decision,omitempty"`
	// Switches counts the switches the policy made; Failed the switches
	// it attempted that Switch refused (retried at the next sample).
	Switches int64 `json:"switches"`
	Failed   int64 `json:"failed"`
}

// AutoDecision is one switch the policy decided on, with the inputs that
// decided it.
type AutoDecision struct {
	At     time.Time  `json:"at"`
	From   string     `json:"from"`
	To     string     `json:"to"`
	Reason string     `json:"reason"`
	Inputs AutoInputs `json:"inputs"`
	// Err is Switch's error, empty if the switch was made.
	Err string `json:"error,omitempty"`
}

// policyCtxKey marks the context of the policy's own Switch calls, so that
// Switch can tell them from an operator's.
type policyCtxKey struct{}

var auto struct {
	mu      sync.Mutex
	cancel  context.CancelFunc // nil when not running
	done    chan struct{}
	held    bool
	state   AutoState
	sampler func() signals.Sample // tests replace it
	logger  *slog.Logger
}

// StartAuto starts the auto policy with cfg (zero fields from
// DefaultAutoConfig), or, if it runs already, hands control back to it
// (ends an operator's hold) and applies cfg. The policy samples the
// machine every cfg.Interval in a goroutine of its own and calls Switch
// when the machine becomes oversubscribed or free (AutoConfig says how it
// decides); every decision is logged with log/slog (slog.Default) with its
// inputs. Any Switch by other code takes control from the policy until
// the next StartAuto. It returns an error only for an invalid cfg.
func StartAuto(cfg AutoConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	auto.mu.Lock()
	defer auto.mu.Unlock()
	wasHeld := auto.held
	auto.held = false
	auto.state.Config = cfg
	if auto.cancel != nil {
		auto.cancel()
		auto.mu.Unlock()
		<-auto.done
		auto.mu.Lock()
	}
	if auto.sampler == nil {
		auto.sampler = signals.Read
	}
	ctx, cancel := context.WithCancel(context.Background())
	auto.cancel, auto.done = cancel, make(chan struct{})
	auto.state.Enabled = true
	logger := auto.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Info("pvlock auto: policy started", "mode", CurrentMode().String(), "handed_back", wasHeld,
		"interval", cfg.Interval, "sustain", cfg.Sustain, "calm", cfg.Calm, "min_dwell", cfg.MinDwell)
	go runAuto(ctx, cfg, auto.sampler, logger, auto.done)
	return nil
}

// Auto hands control back to the auto policy with DefaultAutoConfig (or
// the configuration it runs with): what `pvswitch auto -p PID` asks a
// process to do.
func Auto() error {
	auto.mu.Lock()
	cfg := auto.state.Config
	auto.mu.Unlock()
	return StartAuto(cfg)
}

// StopAuto stops the auto policy and waits for its goroutine to end; the
// mode stays what it is. It does nothing if the policy is not running.
func StopAuto() {
	auto.mu.Lock()
	cancel, done := auto.cancel, auto.done
	auto.cancel = nil
	auto.state.Enabled = false
	auto.held = false
	auto.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// ReadAuto returns the auto policy's state.
func ReadAuto() AutoState {
	auto.mu.Lock()
	defer auto.mu.Unlock()
	s := auto.state
	s.Held = auto.held && s.Enabled
	return s
}

// startAutoAtInit starts the policy for PVLOCK_MODE=auto.
func startAutoAtInit() {
	if err := StartAuto(AutoConfig{}); err != nil {
		panic(err) // DefaultAutoConfig is valid
	}
}

// autoOverride is called by Switch: a switch not made by the policy
// takes control from it.
func autoOverride(ctx context.Context) {
	if ctx.Value(policyCtxKey{}) != nil {
		return
	}
	auto.mu.Lock()
	if auto.cancel != nil && !auto.held {
		auto.held = true
		l := auto.logger
		if l == nil {
			l = slog.Default()
		}
		l.Info("pvlock auto: an operator's switch took control from the policy; StartAuto hands it back")
	}
	auto.mu.Unlock()
}

// runAuto is the policy's loop.
func runAuto(ctx context.Context, cfg AutoConfig, sample func() signals.Sample, logger *slog.Logger, done chan struct{}) {
	defer close(done)
	p := policy{cfg: cfg, mode: CurrentMode()}
	prev, prevStats := sample(), ReadStats()
	// Steal and others are read in ticks of 10 ms of one CPU: over a
	// short interval they jump between a few values (0, 0.5 and 1 at 10
	// ms on 2 CPUs). They are taken over the last tickSpan instead,
	// from the newest sample at least that old (hist holds the samples
	// of that span).
	hist := []signals.Sample{prev}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, curStats := sample(), ReadStats()
		in := autoInputs(cur, prev, curStats.Sub(prevStats))
		hist = append(hist, cur)
		base := 0
		for i := range hist {
			if cur.At.Sub(hist[i].At) >= tickSpan {
				base = i
			}
		}
		if base < len(hist)-2 {
			d := cur.Sub(hist[base])
			in.Steal, in.Others = d.Steal, d.Others
		}
		hist = hist[base:]
		prev, prevStats = cur, curStats
		if live := CurrentMode(); live != p.mode {
			p.switched(live, in.At, false) // an operator's switch
		}
		to, why, ok := p.step(in)
		auto.mu.Lock()
		auto.state.Last, auto.state.Missing, auto.state.Verdict = in, in.Missing, p.verdict
		held := auto.held
		auto.mu.Unlock()
		if !ok || held {
			continue
		}
		from := p.mode
		sctx, cancel := context.WithTimeout(context.WithValue(ctx, policyCtxKey{}, true), cfg.SwitchTimeout)
		err := Switch(sctx, to)
		cancel()
		d := &AutoDecision{At: in.At, From: from.String(), To: to.String(), Reason: why, Inputs: in}
		attrs := []any{"from", d.From, "to", d.To, "reason", why,
			"steal", in.Steal, "others", in.Others, "pressure", in.Pressure, "run_delay_per_cpu", in.RunDelay, "throttled", in.Throttled,
			"runnable_per_cpu", in.Runnable, "usable_cpus", in.UsableCPUs, "gomaxprocs", in.GOMAXPROCS,
			"slow_per_sec", in.SlowPerSec, "parks_per_sec", in.ParksPerSec, "rescues_per_sec", in.RescuesPerSec}
		if len(in.Missing) > 0 {
			attrs = append(attrs, "missing", in.Missing)
		}
		auto.mu.Lock()
		if err != nil {
			d.Err = err.Error()
			auto.state.Failed++
		} else {
			auto.state.Switches++
		}
		auto.state.LastDecision = d
		auto.mu.Unlock()
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return
			}
			logger.Warn("pvlock auto: switch failed, retrying at the next sample", append(attrs, "err", err)...)
			continue
		}
		p.switched(to, time.Now(), true)
		logger.Info("pvlock auto: switched", attrs...)
	}
}

// tickSpan is the least span steal and others are taken over (runAuto).
const tickSpan = 200 * time.Millisecond

// autoInputs computes one interval's inputs from two samples and the
// lock's statistics over the interval.
func autoInputs(cur, prev signals.Sample, st Stats) AutoInputs {
	d := cur.Sub(prev)
	in := AutoInputs{
		At: cur.At, Interval: d.Interval,
		Steal: d.Steal, Pressure: d.Pressure, Throttled: d.Throttled, Runnable: d.Runnable, Others: d.Others,
		UsableCPUs: cur.UsableCPUs, GOMAXPROCS: cur.GOMAXPROCS,
	}
	cpus := cur.UsableCPUs
	if cpus < 1 {
		cpus = 1
	}
	in.RunDelay = d.RunDelay / float64(cpus)
	if sec := d.Interval.Seconds(); sec > 0 {
		in.SlowPerSec = float64(st.SlowAcquires) / sec
		in.ParksPerSec = float64(st.Parks) / sec
		in.RescuesPerSec = float64(st.Rescues) / sec
	}
	for k, v := range d.Missing {
		if in.Missing == nil {
			in.Missing = make(map[string]string)
		}
		in.Missing[string(k)] = v
	}
	return in
}
