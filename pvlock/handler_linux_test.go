//go:build linux && amd64 && !pvswitch_flagdispatch

package pvlock

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/pvswitch/pvswitch/internal/int3"
)

func rtSigaction(act, old *int3.Sigaction) syscall.Errno {
	return int3.RtSigaction(int(syscall.SIGTRAP), act, old)
}

// TestSwitchRefusedWhenHandlerReplaced: if someone replaced the SIGTRAP
// handler after start, Switch refuses with a clear error, writes nothing,
// and the process stays in its mode; once the handler is back it works.
func TestSwitchRefusedWhenHandlerReplaced(t *testing.T) {
	if ReadStatus().Mechanism != Patched {
		t.Fatalf("the patched mechanism is unavailable on linux/amd64: %v", ReadStatus().Why)
	}
	start := CurrentMode()
	defer mustSwitch(t, start)
	var ours int3.Sigaction
	ignore := int3.Sigaction{Handler: 1} // SIG_IGN
	if e := rtSigaction(&ignore, &ours); e != 0 {
		t.Fatal(e)
	}
	err := Switch(context.Background(), other(start))
	if e := rtSigaction(&ours, nil); e != 0 {
		t.Fatal(e)
	}
	if !errors.Is(err, int3.ErrReplaced) || errors.Is(err, ErrBusy) {
		t.Fatalf("Switch with the SIGTRAP handler replaced: %v, want int3.ErrReplaced", err)
	}
	if CurrentMode() != start || sitesMode() != start {
		t.Fatalf("refused switch changed the mode: published %v, sites %v, want %v", CurrentMode(), sitesMode(), start)
	}
	var l SpinLock
	l.Lock()
	l.Unlock()
	mustSwitch(t, other(start))
}
