//go:build pvswitch_flagdispatch

package pvlock

import (
	"context"
	"errors"
	"testing"
)

// In the flag-dispatch benchmark build the mode is fixed at start, and
// Switch says so instead of switching unsafely.
func TestFlagBuildRefusesSwitch(t *testing.T) {
	err := Switch(context.Background(), other(CurrentMode()))
	if !errors.Is(err, errFlagBuild) {
		t.Fatalf("Switch in the flag-dispatch build: %v, want errFlagBuild", err)
	}
	if s := ReadStatus(); s.Mechanism != Dispatch || !errors.Is(s.Why, errFlagBuild) {
		t.Fatalf("status %v: want the dispatch mechanism, because of the flag build", s)
	}
}
