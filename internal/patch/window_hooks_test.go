//go:build linux && amd64 && pvswitch_testhooks

package patch_test

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/int3"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

// The tests in this file drive the window through its test hooks
// (SetInject, SetArmedHook): they need the pvswitch_testhooks build tag.

// TestAbortBeforeCommit: a failed write or membarrier before the commit
// point restores the old first bytes: nothing changed.
func TestAbortBeforeCommit(t *testing.T) {
	sites := testsite.BatchSites[100:108]
	mustSwitch(t, 0, sites...)
	for _, step := range []string{"int3", "sync1"} {
		patch.SetInject(func(s string, i int) syscall.Errno {
			if s == step && (step != "int3" || i == 3) {
				return syscall.EFAULT
			}
			return 0
		})
		err := patch.Switch(to(sites, 1))
		patch.SetInject(nil)
		var we *patch.WindowError
		if !errors.Is(err, patch.ErrNotCommitted) || !errors.As(err, &we) || we.Step != step || !errors.Is(err, syscall.EFAULT) {
			t.Fatalf("failure at %s: %v", step, err)
		}
		for _, s := range sites {
			if v, err := s.Verify(); v != 0 || err != nil || patch.Current(s) != 0 {
				t.Fatalf("%s after abort at %s: live %d %v, current %d", s, step, v, err, patch.Current(s))
			}
		}
		mustSwitch(t, 1, sites...) // the next switch works
		mustSwitch(t, 0, sites...)
	}
}

// TestRollForward: a failure after the commit leaves INT3 on the sites
// with the new descriptors: they run the new variant through the handler
// (in both directions for the sites of 6 and 9 bytes: their JMP/CALL
// behind DS prefixes, a CALL returning to the end of the slot, a 4-byte
// store), stores below 4096 still panic as nil dereferences, and the next
// switch finishes the rewrite.
func TestRollForward(t *testing.T) {
	sites := []*asm.Site{testsite.FlagSite, testsite.WideSite, testsite.CountSite, testsite.TickSite, testsite.BackSite,
		testsite.Release32Site, testsite.Tick6Site, testsite.Count9Site}
	mustSwitch(t, 0, sites...)
	patch.SetInject(func(s string, i int) syscall.Errno {
		if s == "tails" {
			return syscall.EIO
		}
		return 0
	})
	err := patch.Switch(to(sites, 1))
	patch.SetInject(nil)
	if !errors.Is(err, patch.ErrRollForward) {
		t.Fatalf("failure after commit = %v, want ErrRollForward", err)
	}
	if a := patch.ReadStats().Armed; a != len(sites) {
		t.Fatalf("Stats.Armed = %d after a failed roll-forward of %d sites", a, len(sites))
	}
	for _, s := range sites {
		if s.Live()[0] != 0xCC || patch.Current(s) != 1 {
			t.Fatalf("%v: live % x, current %d; want INT3 and variant 1", s, s.Live(), patch.Current(s))
		}
	}
	traps := patch.Traps(testsite.FlagSite)
	var b uint8
	testsite.Flag(&b)
	var w [2]uint64
	testsite.Wide(&w)
	var c testsite.Counter
	testsite.Stress.Store(true) // stack growth and GC inside targets reached by emulation
	testsite.Count(&c)
	tb := testsite.TickB.Load()
	testsite.Tick()
	testsite.Stress.Store(false)
	var bk [2]uint64
	testsite.Back(&bk)
	if b != 2 || w != [2]uint64{0, 0x7eadbeef} || c.B != 1 || c.A != 0 || testsite.TickB.Load() != tb+1 || bk != [2]uint64{0, 0xfffe} {
		t.Fatalf("emulated variant 1: Flag %d, Wide %x, Count %+v, TickB +%d, Back %x", b, w, c, testsite.TickB.Load()-tb, bk)
	}
	if patch.Traps(testsite.FlagSite) != traps+1 {
		t.Fatalf("Flag traps %d -> %d, want one more", traps, patch.Traps(testsite.FlagSite))
	}
	testNilStore(t)
	long := []*asm.Site{testsite.Release32Site, testsite.Tick6Site, testsite.Count9Site}
	runLong(t, 1)
	mustSwitch(t, 1, sites...) // finishes the armed sites
	if a := patch.ReadStats().Armed; a != 0 {
		t.Fatalf("Stats.Armed = %d after finishing", a)
	}
	// The long sites' variant 0 through the handler too, then natively.
	patch.SetInject(func(s string, i int) syscall.Errno {
		if s == "tails" {
			return syscall.EIO
		}
		return 0
	})
	err = patch.Switch(to(long, 0))
	patch.SetInject(nil)
	if !errors.Is(err, patch.ErrRollForward) {
		t.Fatalf("failure after commit = %v, want ErrRollForward", err)
	}
	for _, s := range long {
		if s.Live()[0] != 0xCC || patch.Current(s) != 0 {
			t.Fatalf("%v: live % x, current %d; want INT3 and variant 0", s, s.Live(), patch.Current(s))
		}
	}
	runLong(t, 0)
	mustSwitch(t, 0, sites...)
	runLong(t, 0)
}

// runLong runs the 6- and 9-byte sites once each (with stack growth and a
// GC inside their targets), through the handler if they are armed or
// natively, checks that variant v of each ran exactly once (runLongErr),
// and that each trapped exactly once if armed, never if not.
func runLong(t *testing.T, v int) {
	t.Helper()
	long := []*asm.Site{testsite.Release32Site, testsite.Tick6Site, testsite.Count9Site}
	traps := make([]uint64, len(long))
	for i, s := range long {
		traps[i] = patch.Traps(s)
	}
	armed := testsite.Tick6Site.Live()[0] == 0xCC
	testsite.Stress.Store(true)
	err := runLongErr(v)
	testsite.Stress.Store(false)
	if err != nil {
		t.Fatalf("armed %v: %v", armed, err)
	}
	for i, s := range long {
		want := uint64(0)
		if s.Live()[0] == 0xCC {
			want = 1
		}
		if got := patch.Traps(s) - traps[i]; got != want {
			t.Fatalf("%v variant %d: %d traps emulated, want %d", s, v, got, want)
		}
	}
}

// runLongErr runs Release32, Tick6 and Count9 once each and reports
// whether variant v of each ran exactly once: Release32 clears all 4 bytes
// (native store) or tail-calls releaseParavirt32 (JMP); Tick6 calls tick6A
// or tick6B once and returns to the end of its slot (a return to site+5
// would land inside the rel32); Count9 tail-calls countA or countB. It
// takes no lock and allocates only to report a failure, so it may run
// inside the patch window.
func runLongErr(v int) error {
	l, pv := uint32(0xdeadbeef), testsite.ReleaseParavirt32.Load()
	testsite.Release32(&l)
	dpv := testsite.ReleaseParavirt32.Load() - pv
	a, b := testsite.Tick6A.Load(), testsite.Tick6B.Load()
	testsite.Tick6()
	da, db := testsite.Tick6A.Load()-a, testsite.Tick6B.Load()-b
	var c testsite.Counter
	testsite.Count9(&c)
	want := [2]int64{1 - int64(v), int64(v)}
	if l != 0 || dpv != int64(v) || da != want[0] || db != want[1] || int64(c.A) != want[0] || int64(c.B) != want[1] {
		return fmt.Errorf("variant %d: Release32 l=%#x paravirt +%d, Tick6 a +%d b +%d, Count9 %+v", v, l, dpv, da, db, c)
	}
	return nil
}

// testNilStore runs Flag(nil) on the armed Flag site: the handler must not
// store (the kernel would kill us) but send it to a stub that faults in Go
// text, so the usual nil-dereference panic is raised and can be recovered.
func testNilStore(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(false))
	var got any
	func() {
		defer func() { got = recover() }()
		testsite.Flag(nil)
	}()
	re, ok := got.(runtime.Error)
	if !ok || !strings.Contains(re.Error(), "nil pointer dereference") {
		t.Fatalf("Flag(nil) on an armed site: recovered %v, want a nil dereference runtime.Error", got)
	}
}

// TestEmulateOldBeforeCommit: while INT3 is on the sites and the batch is
// not committed, traps run the OLD variants.
func TestEmulateOldBeforeCommit(t *testing.T) {
	sites := []*asm.Site{testsite.FlagSite, testsite.WideSite, testsite.CountSite, testsite.TickSite,
		testsite.Release32Site, testsite.Tick6Site, testsite.Count9Site}
	mustSwitch(t, 1, sites...)
	var b uint8
	var w [2]uint64
	var c testsite.Counter
	var ta int64
	var long error
	patch.SetArmedHook(func() {
		testsite.Flag(&b)
		testsite.Wide(&w)
		testsite.Count(&c)
		a := testsite.TickA.Load()
		testsite.Tick() // variant 1 calls tickB: TickA unchanged
		ta = testsite.TickA.Load() - a
		long = runLongErr(1) // the old variant 1, emulated (no lock, no GC: we are in the window)
	})
	err := patch.Switch(to(sites, 0))
	patch.SetArmedHook(nil)
	if err != nil {
		t.Fatal(err)
	}
	if b != 2 || w != [2]uint64{0, 0x7eadbeef} || c.B != 1 || ta != 0 || long != nil {
		t.Fatalf("traps before the commit ran: Flag %d, Wide %x, Count %+v, tickA %d, long sites: %v; want the old variant 1", b, w, c, ta, long)
	}
}

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
