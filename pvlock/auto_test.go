package pvlock_test

import (
	"context"
	"fmt"
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
