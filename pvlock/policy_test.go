package pvlock

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/signals"
)

// trace builds synthetic inputs: one per 100 ms, each from f(i).
func trace(n int, f func(i int) AutoInputs) []AutoInputs {
	t0 := time.Unix(1000, 0)
	out := make([]AutoInputs, n)
	for i := range out {
		in := f(i)
		in.At, in.Interval = t0.Add(time.Duration(i+1)*100*time.Millisecond), 100*time.Millisecond
		out[i] = in
	}
	return out
}

// run feeds the trace to a policy starting in mode from and returns the
// sample indexes at which it switched, and to what. The switch is assumed
// to succeed at once.
func run(t *testing.T, cfg AutoConfig, from Mode, tr []AutoInputs) (at []int, to []Mode) {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p := policy{cfg: cfg, mode: from}
	for i, in := range tr {
		m, why, ok := p.step(in)
		if ok {
			if why == "" {
				t.Errorf("switch at %d without a reason", i)
			}
			t.Logf("sample %d: -> %v: %s", i, m, why)
			at, to = append(at, i), append(to, m)
			p.switched(m, in.At, true)
		}
	}
	return at, to
}

func TestPolicyEntersOnSustainedPressure(t *testing.T) {
	// 1 s free, 3 s of a hog inside the guest (others 0.6 with pressure
	// 0.6), 4 s free but for our own waits (pressure 0.3, run delay 0.3:
	// what paravirt's parks cause on a free machine).
	tr := trace(80, func(i int) AutoInputs {
		switch {
		case i < 10:
			return AutoInputs{Pressure: 0.01}
		case i < 40:
			return AutoInputs{Others: 0.6, Pressure: 0.6, RunDelay: 0.02}
		}
		return AutoInputs{Others: 0.02, Pressure: 0.3, RunDelay: 0.3}
	})
	at, to := run(t, AutoConfig{}, Native, tr)
	if len(at) != 2 || to[0] != Paravirt || to[1] != Native {
		t.Fatalf("switches at %v to %v, want paravirt then native", at, to)
	}
	// Sustain 500 ms: the 5th hot sample (index 14) switches.
	if at[0] != 14 {
		t.Errorf("entered paravirt at sample %d, want 14 (500 ms of pressure)", at[0])
	}
	// Calm 1 s after the hog ends at 40: index 49; min dwell 2 s from 14
	// is 34, already past.
	if at[1] != 49 {
		t.Errorf("returned to native at sample %d, want 49 (1 s calm)", at[1])
	}
}

func TestPolicyEntersOnRunDelayOrSteal(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   AutoInputs
	}{
		{"others with run delay", AutoInputs{Others: 0.5, RunDelay: 0.5}},
		{"others with pressure", AutoInputs{Others: 0.5, Pressure: 0.5}},
		{"steal", AutoInputs{Steal: 0.6}},
		{"throttled", AutoInputs{Throttled: 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := trace(20, func(int) AutoInputs { return tc.in })
			if at, to := run(t, AutoConfig{}, Native, tr); len(at) != 1 || to[0] != Paravirt {
				t.Errorf("switches %v %v, want one to paravirt", at, to)
			}
		})
	}
}

func TestPolicyNoFlapOnSpike(t *testing.T) {
	// A 200 ms spike every second for 10 s: never 500 ms of pressure.
	tr := trace(100, func(i int) AutoInputs {
		if i%10 < 2 {
			return AutoInputs{Pressure: 1, RunDelay: 1, Steal: 0.8, Others: 1}
		}
		return AutoInputs{}
	})
	if at, _ := run(t, AutoConfig{}, Native, tr); len(at) != 0 {
		t.Errorf("switched at %v on 200 ms spikes", at)
	}
	// In paravirt, spikes between calm stretches shorter than Calm keep
	// it there: 200 ms spike every 800 ms.
	tr = trace(100, func(i int) AutoInputs {
		if i%8 < 2 {
			return AutoInputs{Pressure: 0.5, Others: 0.5}
		}
		return AutoInputs{}
	})
	if at, _ := run(t, AutoConfig{}, Paravirt, tr); len(at) != 0 {
		t.Errorf("left paravirt at %v though the machine was never calm for 1 s", at)
	}
}

func TestPolicyHysteresisAndDwell(t *testing.T) {
	// Others between exit and enter thresholds (one hog on two CPUs),
	// with waits: not hot, so native stays; and paravirt entered on
	// others stays too, as others is not below its exit threshold.
	mid := func(i int) AutoInputs { return AutoInputs{Others: 0.35, Pressure: 0.6, RunDelay: 0.4} }
	if at, _ := run(t, AutoConfig{}, Native, trace(50, mid)); len(at) != 0 {
		t.Errorf("from native: switched at %v with others between the thresholds", at)
	}
	hogThenMid := trace(80, func(i int) AutoInputs {
		if i < 10 {
			return AutoInputs{Others: 0.7, Pressure: 0.9}
		}
		return mid(i)
	})
	if at, to := run(t, AutoConfig{}, Native, hogThenMid); len(at) != 1 || to[0] != Paravirt {
		t.Errorf("hog, then others between the thresholds: switches %v %v, want paravirt only", at, to)
	}
	// Paravirt that the policy did not choose (the start mode from the
	// hints, or an operator's) has no cause to wait out: not hot for Calm
	// is enough.
	if at, to := run(t, AutoConfig{}, Paravirt, trace(50, mid)); len(at) != 1 || to[0] != Native || at[0] != 9 {
		t.Errorf("from a start in paravirt: switches %v %v, want native after 1 s not hot (sample 9)", at, to)
	}
	// Entered on others, steal between its thresholds does not hold the
	// way back; entered on steal, it does.
	for _, tc := range []struct {
		name  string
		enter AutoInputs
		back  bool
	}{
		{"entered on others", AutoInputs{Others: 0.7, Pressure: 0.9}, true},
		{"entered on steal", AutoInputs{Steal: 0.7}, false},
	} {
		tr := trace(60, func(i int) AutoInputs {
			if i < 10 {
				return tc.enter
			}
			return AutoInputs{Steal: 0.3, Pressure: 0.3, RunDelay: 0.3}
		})
		at, _ := run(t, AutoConfig{}, Native, tr)
		if back := len(at) == 2; back != tc.back || len(at) == 0 {
			t.Errorf("%s, then steal 0.3: switches %v, want back to native: %v", tc.name, at, tc.back)
		}
	}
	// A hog that lasts 600 ms: enter at 500 ms, but stay for the minimum
	// dwell (2 s) even though calm returns after 100 ms more.
	cfg := AutoConfig{MinDwell: 3 * time.Second}
	tr := trace(60, func(i int) AutoInputs {
		if i < 6 {
			return AutoInputs{Others: 0.9, Pressure: 0.9}
		}
		return AutoInputs{}
	})
	at, to := run(t, cfg, Native, tr)
	if len(at) != 2 || to[0] != Paravirt || at[1]-at[0] != 30 {
		t.Errorf("switches at %v to %v: want back to native exactly MinDwell (30 samples) later", at, to)
	}
}

func TestPolicyMissingInputs(t *testing.T) {
	// Pressure missing (no PSI): others with run delay still decide, and
	// a missing input's zero does not count as calm's obstacle.
	miss := map[string]string{"psi-cpu": "no PSI", "cgroup-cpu": "no cgroup v2"}
	tr := trace(60, func(i int) AutoInputs {
		if i < 20 {
			return AutoInputs{Others: 0.6, RunDelay: 0.6, Pressure: 0.9, Missing: miss}
		}
		return AutoInputs{Pressure: 0.9, RunDelay: 0.3, Missing: miss}
	})
	at, to := run(t, AutoConfig{}, Native, tr)
	if len(at) != 2 || to[0] != Paravirt || to[1] != Native {
		t.Errorf("switches %v %v: want paravirt on others with run delay, native when others ends (missing pressure ignored)", at, to)
	}
	// Neither pressure nor run delay: others decides alone.
	miss = map[string]string{"psi-cpu": "no PSI", "run-delay": "hidden"}
	tr = trace(60, func(i int) AutoInputs {
		if i < 20 {
			return AutoInputs{Others: 0.6, Missing: miss}
		}
		return AutoInputs{Missing: miss}
	})
	if at, to := run(t, AutoConfig{}, Native, tr); len(at) != 2 || to[0] != Paravirt || to[1] != Native {
		t.Errorf("switches %v %v: want paravirt on others alone, native when it ends", at, to)
	}
	// Others missing: pressure and run delay cannot enter alone (they
	// count our own waits), steal still can; the way back waits for steal
	// only, the cause paravirt was entered on.
	miss = map[string]string{"others": "no /proc/self/stat"}
	tr = trace(40, func(int) AutoInputs { return AutoInputs{Pressure: 0.9, RunDelay: 0.9, Missing: miss} })
	if at, _ := run(t, AutoConfig{}, Native, tr); len(at) != 0 {
		t.Errorf("entered paravirt at %v on pressure and run delay without others", at)
	}
	tr = trace(60, func(i int) AutoInputs {
		if i < 20 {
			return AutoInputs{Steal: 0.6, Pressure: 0.9, Missing: miss}
		}
		if i < 40 {
			return AutoInputs{Pressure: 0.5, Missing: miss}
		}
		return AutoInputs{Pressure: 0.01, RunDelay: 0.01, Missing: miss}
	})
	if at, to := run(t, AutoConfig{}, Native, tr); len(at) != 2 || to[0] != Paravirt || at[1] != 29 {
		t.Errorf("switches %v %v: want paravirt on steal, native 1 s after steal ends (sample 29)", at, to)
	}
}

// TestPolicyOwnWaitsAreNotOversubscription: pressure and run delay that
// this process causes itself (paravirt's parks on a free machine, or more
// locked threads than CPUs) with nothing else running neither enter
// paravirt nor keep the policy there.
func TestPolicyOwnWaitsAreNotOversubscription(t *testing.T) {
	own := trace(100, func(int) AutoInputs { return AutoInputs{Others: 0.01, Pressure: 0.5, RunDelay: 0.55, Steal: 0.15} })
	if at, _ := run(t, AutoConfig{}, Native, own); len(at) != 0 {
		t.Errorf("entered paravirt at %v on our own waits", at)
	}
	at, to := run(t, AutoConfig{}, Paravirt, own)
	if len(at) != 1 || to[0] != Native || at[0] != 9 {
		t.Errorf("from paravirt: switches %v %v, want native after 1 s calm (sample 9)", at, to)
	}
	// Other processes busy on a large machine while nothing waits: not
	// oversubscribed, and calm.
	busy := trace(50, func(int) AutoInputs { return AutoInputs{Others: 0.6, Pressure: 0.02, RunDelay: 0.01} })
	if at, _ := run(t, AutoConfig{}, Native, busy); len(at) != 0 {
		t.Errorf("entered paravirt at %v though nothing waited for a CPU", at)
	}
	if at, to := run(t, AutoConfig{}, Paravirt, busy); len(at) != 1 || to[0] != Native {
		t.Errorf("from paravirt with nothing waiting: switches %v %v, want native", at, to)
	}
}

func TestAutoConfigInvalid(t *testing.T) {
	for _, c := range []AutoConfig{
		{ExitPressure: 0.5, EnterPressure: 0.4},
		{Interval: -time.Second},
		{ExitSteal: -0.1},
		{ExitOthers: 0.5, EnterOthers: 0.5},
	} {
		if err := StartAuto(c); err == nil {
			StopAuto()
			t.Errorf("StartAuto(%+v) accepted", c)
		} else if !strings.Contains(err.Error(), "auto config") {
			t.Errorf("error %q", err)
		}
	}
}

func TestStartModeFromHints(t *testing.T) {
	unset := func(string) (string, bool) { return "", false }
	env := func(v string) func(string) (string, bool) { return func(string) (string, bool) { return v, true } }
	logf := func(string, ...any) {}
	kvm := Hypervisor{Detected: true, Present: true, KVM: true, Signature: "KVMKVMKVM"}
	rt := kvm
	rt.Realtime = true
	bhyve := Hypervisor{Detected: true, Present: true, Signature: "bhyve bhyve "}
	metal := Hypervisor{Detected: true}
	for _, tc := range []struct {
		name   string
		lookup func(string) (string, bool)
		h      Hypervisor
		want   Mode
		auto   bool
		from   string
	}{
		{"kvm", unset, kvm, Paravirt, false, "KVM without"},
		{"kvm realtime", unset, rt, Native, false, "REALTIME"},
		{"bhyve", unset, bhyve, Paravirt, false, "hypervisor without"},
		{"bare metal", unset, metal, Native, false, "no hypervisor"},
		{"no cpuid", unset, Hypervisor{}, Native, false, "no CPUID"},
		{"override native", env("native"), kvm, Native, false, EnvMode},
		{"override paravirt", env("paravirt"), metal, Paravirt, false, EnvMode},
		{"auto kvm", env("auto"), kvm, Paravirt, true, "auto"},
		{"auto metal", env("auto"), metal, Native, true, "auto"},
	} {
		m, from, a := startMode(tc.lookup, logf, tc.h)
		if m != tc.want || a != tc.auto || !strings.Contains(from, tc.from) {
			t.Errorf("%s: %v %q auto=%v, want %v (%q) auto=%v", tc.name, m, from, a, tc.want, tc.from, tc.auto)
		}
	}
}

// TestStartModeLive: this process's start mode follows the hints of the
// machine it runs on (PVLOCK_MODE unset), whatever that machine is.
func TestStartModeLive(t *testing.T) {
	st := ReadStatus()
	t.Logf("%v", st.Hypervisor)
	if st.Hypervisor.UsableCPUs < 1 {
		t.Errorf("usable CPUs %d", st.Hypervisor.UsableCPUs)
	}
	if v, set := lookupEnv(EnvMode); set && v != "" {
		t.Skipf("%s=%s set", EnvMode, v)
	}
	want, _ := modeFromHints(detectHypervisor())
	if st.Hypervisor.StartMode != want.String() {
		t.Errorf("start mode %s, hints say %v", st.Hypervisor.StartMode, want)
	}
}

var lookupEnv = os.LookupEnv

// TestPolicyCrowded: a process whose own threads crowd its CPUs (run
// delay >= CrowdedRunDelay per CPU) enters paravirt on a smaller share of
// other processes' CPU time (EnterOthersCrowded); uncrowded, the same
// share does not.
func TestPolicyCrowded(t *testing.T) {
	crowded := trace(20, func(int) AutoInputs { return AutoInputs{Others: 0.35, RunDelay: 3.3, Pressure: 1} })
	if at, to := run(t, AutoConfig{}, Native, crowded); len(at) != 1 || to[0] != Paravirt {
		t.Errorf("crowded, others 0.35: switches %v %v, want paravirt", at, to)
	}
	one := trace(20, func(int) AutoInputs { return AutoInputs{Others: 0.40, RunDelay: 0.7, Pressure: 0.5} })
	if at, _ := run(t, AutoConfig{}, Native, one); len(at) != 0 {
		t.Errorf("one hog beside uncrowded threads (others 0.40, run delay 0.7): switched at %v", at)
	}
	// The way back: others below ExitOthers, whatever our own crowding.
	tr := trace(60, func(i int) AutoInputs {
		if i < 10 {
			return AutoInputs{Others: 0.35, RunDelay: 3.3, Pressure: 1}
		}
		return AutoInputs{Others: 0.02, RunDelay: 3.2, Pressure: 1}
	})
	if at, to := run(t, AutoConfig{}, Native, tr); len(at) != 2 || to[1] != Native {
		t.Errorf("crowded hog, then none: switches %v %v, want paravirt then native", at, to)
	}
}

// TestAutoSmoothsTickInputs: steal and others are read in 10 ms ticks, so
// at a 10 ms interval one interval sees 0 or 0.5 of 2 CPUs; the policy
// takes them over the last tickSpan instead. Synthetic samples, 10 ms
// apart, in which other processes use one tick every other sample (0.25
// of 2 CPUs).
func TestAutoSmoothsTickInputs(t *testing.T) {
	StopAuto()
	defer StopAuto()
	auto.mu.Lock()
	saved := auto.sampler
	t0 := time.Now()
	n := 0
	auto.sampler = func() signals.Sample {
		n++
		return signals.Sample{At: t0.Add(time.Duration(n) * 10 * time.Millisecond), CPUs: 2, UsableCPUs: 2,
			BusyNs: uint64(n/2) * 1e7, StealNs: uint64(n/2) * 1e7}
	}
	auto.mu.Unlock()
	defer func() { auto.mu.Lock(); auto.sampler = saved; auto.mu.Unlock() }()
	if err := StartAuto(AutoConfig{Interval: 10 * time.Millisecond, Sustain: time.Hour, Calm: time.Hour}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	seen := 0
	for seen < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		a := ReadAuto()
		if a.Last.At.Sub(t0) < 300*time.Millisecond {
			continue // the span is not full yet
		}
		seen++
		if a.Last.Others < 0.2 || a.Last.Others > 0.3 || a.Last.Steal < 0.2 || a.Last.Steal > 0.3 {
			t.Fatalf("others %.3f, steal %.3f at a 10 ms interval: want both 0.25 +- 0.05 (smoothed over %v)", a.Last.Others, a.Last.Steal, tickSpan)
		}
	}
	if seen == 0 {
		t.Fatal("the policy took no sample past its first 300 ms in 10 s")
	}
}
