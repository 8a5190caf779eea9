//go:build linux && amd64 && pvswitch_testhooks

package patch_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/pvswitch/pvswitch/internal/int3"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

// TestHandlerReplacedInWindow: a SIGTRAP handler installed over ours
// inside the window, once INT3 is armed and before the commit, must be
// seen by the window's check before the commit: the switch is undone
// (ErrNotCommitted, int3.ErrReplaced), the old bytes are back, and once
// our handler is back the next switch works. The window records how long
// it ran without a check (Stats.MaxCheckGap, MaxCheckToEnd).
func TestHandlerReplacedInWindow(t *testing.T) {
	sites := testsite.BatchSites[120:124]
	mustSwitch(t, 0, sites...)
	var ours int3.Sigaction
	replaced := false
	patch.SetArmedHook(func() {
		// No thread runs these sites: nothing traps to the ignored handler.
		ignore := int3.Sigaction{Handler: 1} // SIG_IGN
		if int3.RtSigaction(int(syscall.SIGTRAP), &ignore, &ours) == 0 {
			replaced = true
		}
	})
	err := patch.Switch(to(sites, 1))
	patch.SetArmedHook(nil)
	if replaced {
		if e := int3.RtSigaction(int(syscall.SIGTRAP), &ours, nil); e != 0 {
			t.Fatalf("putting our handler back: %v", e)
		}
	}
	if !replaced {
		t.Fatal("the armed hook could not replace the handler")
	}
	var we *patch.WindowError
	if !errors.Is(err, int3.ErrReplaced) || !errors.Is(err, patch.ErrNotCommitted) || !errors.As(err, &we) || we.Step != "handler" {
		t.Fatalf("handler replaced inside the window: Switch = %v; want a WindowError at step handler matching int3.ErrReplaced and ErrNotCommitted", err)
	}
	for _, s := range sites {
		if v, err := s.Verify(); v != 0 || err != nil || patch.Current(s) != 0 {
			t.Fatalf("%v after the undone switch: live %d %v, current %d", s, v, err, patch.Current(s))
		}
	}
	mustSwitch(t, 1, sites...)
	mustSwitch(t, 0, sites...)
	st := patch.ReadStats()
	if st.MaxCheckGap <= 0 || st.MaxCheckToEnd <= 0 {
		t.Fatalf("no exposure recorded: %+v", st)
	}
	t.Logf("err: %v; windows so far: longest stretch between two handler checks %v, longest from the last check to the end %v, longest window %v", err, st.MaxCheckGap, st.MaxCheckToEnd, st.MaxWindow)
}
