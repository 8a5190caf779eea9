package pvlock_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
)

// TestOperatorTakesControl: an explicit Switch holds the policy, Auto
// hands control back, StopAuto disables it; Status reports each state.
func TestOperatorTakesControl(t *testing.T) {
	defer pvlock.StopAuto()
	if err := pvlock.StartAuto(pvlock.AutoConfig{Interval: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if a := pvlock.ReadStatus().Auto; !a.Enabled || a.Held {
		t.Fatalf("after StartAuto: %+v", a)
	}
	to := pvlock.Paravirt
	if pvlock.CurrentMode() == pvlock.Paravirt {
		to = pvlock.Native
	}
	if err := pvlock.Switch(context.Background(), to); err != nil {
		t.Fatal(err)
	}
	if a := pvlock.ReadStatus().Auto; !a.Held {
		t.Fatalf("an operator's switch did not take control: %+v", a)
	}
	time.Sleep(50 * time.Millisecond) // the policy samples but must not switch
	if m := pvlock.CurrentMode(); m != to {
		t.Fatalf("the held policy switched to %v", m)
	}
	if err := pvlock.Auto(); err != nil {
		t.Fatal(err)
	}
	if a := pvlock.ReadStatus().Auto; !a.Enabled || a.Held {
		t.Fatalf("after Auto: %+v", a)
	}
	a := pvlock.ReadAuto()
	for end := time.Now().Add(3 * time.Second); a.Last.At.IsZero() && time.Now().Before(end); a = pvlock.ReadAuto() {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("inputs: %+v; missing %v", a.Last, a.Missing)
	if a.Last.At.IsZero() {
		t.Error("no sample recorded in 3 s at a 10 ms interval")
	}
	pvlock.StopAuto()
	if a := pvlock.ReadStatus().Auto; a.Enabled || a.Held {
		t.Fatalf("after StopAuto: %+v", a)
	}
}

// Start the auto policy with thresholds of your own; zero fields take
// DefaultAutoConfig's values. PVLOCK_MODE=auto does the same with
// DefaultAutoConfig at start.
func ExampleStartAuto() {
	err := pvlock.StartAuto(pvlock.AutoConfig{
		Sustain:       time.Second, // oversubscribed for 1 s before paravirt
		EnterPressure: 0.5,         // half the time some task waited for a CPU
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pvlock.StopAuto()
	a := pvlock.ReadAuto()
	fmt.Println("enabled:", a.Enabled, "sustain:", a.Config.Sustain)
	// Output: enabled: true sustain: 1s
}

// BenchmarkPolicyCost is the auto policy's cost to the lock's users on an
// idle machine: two goroutines take one lock in native mode with the
// policy off and on (default interval, 100 ms, so run it for a few
// seconds per run). With nothing else running the policy must not
// switch (switches/op stays 0) and its samples must not show in ns/op.
// Alternate the two (-count would run all of one first, and the machine
// drifts):
//
//	go test -c -o /tmp/pvlock.test ./pvlock
//	for i in $(seq 10); do /tmp/pvlock.test -test.run '^$' -test.bench PolicyCost -test.benchtime 2s; done > /tmp/p.txt
//	benchstat -col /policy /tmp/p.txt
func BenchmarkPolicyCost(b *testing.B) {
	// The policy's log lines would split the benchmark's result lines.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("policy=%s", map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
			pvlock.StopAuto()
			if err := pvlock.Switch(context.Background(), pvlock.Native); err != nil {
				b.Fatal(err)
			}
			before := pvlock.ReadStatus().Switches
			if on {
				if err := pvlock.StartAuto(pvlock.AutoConfig{}); err != nil {
					b.Fatal(err)
				}
				defer pvlock.StopAuto()
			}
			var mu pvlock.SpinLock
			var shared uint64
			b.SetParallelism(1) // GOMAXPROCS goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					for j := range uint64(20) {
						shared = shared*31 + j
					}
					mu.Unlock()
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(pvlock.ReadStatus().Switches-before)/float64(b.N), "switches/op")
		})
	}
}
