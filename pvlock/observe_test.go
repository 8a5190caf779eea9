package pvlock

import (
	"context"
	"testing"
	"time"
)

// TestObserveSwitches: an observer sees each completed switch with its
// mode and latency, a no-op switch is not observed, and stop unregisters.
func TestObserveSwitches(t *testing.T) {
	start := CurrentMode()
	defer Switch(context.Background(), start)
	other := Paravirt
	if start == Paravirt {
		other = Native
	}
	type obs struct {
		to Mode
		d  time.Duration
	}
	var seen []obs
	stop := ObserveSwitches(func(to Mode, d time.Duration) { seen = append(seen, obs{to, d}) })
	var second int
	stop2 := ObserveSwitches(func(Mode, time.Duration) { second++ })
	defer stop2()
	if err := Switch(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if err := Switch(context.Background(), other); err != nil { // no-op
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].to != other || seen[0].d <= 0 || seen[0].d != ReadStatus().LastSwitch {
		t.Fatalf("observed %+v, want one switch to %v with LastSwitch %v", seen, other, ReadStatus().LastSwitch)
	}
	stop()
	stop()
	if err := Switch(context.Background(), start); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || second != 2 {
		t.Fatalf("after stop: first observer saw %d, second %d; want 1 and 2", len(seen), second)
	}
}
