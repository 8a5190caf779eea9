//go:build linux && amd64

package patch_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

func TestMain(m *testing.M) {
	saveGoHandler()
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2) // the window tests need a second P
	}
	if err := patch.Init(); err != nil {
		println(err.Error())
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// to asks for every site to run variant v, as one batch.
func to(sites []*asm.Site, v int) []patch.Change {
	b := make([]patch.Change, len(sites))
	for i, s := range sites {
		b[i] = patch.Change{Site: s, Variant: v}
	}
	return b
}

func mustSwitch(t testing.TB, v int, sites ...*asm.Site) {
	t.Helper()
	if err := patch.Switch(to(sites, v)); err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		if got := patch.Current(s); got != v {
			t.Fatalf("%v: Current = %d after switching to %d", s, got, v)
		}
		if live, err := s.Verify(); err != nil || live != v {
			t.Fatalf("%v: live variant %d, %v; want %d", s, live, err, v)
		}
	}
}

// TestSwitchEveryKind switches a site of each kind and runs every variant.
func TestSwitchEveryKind(t *testing.T) {
	before := patch.ReadStats()
	defer func() {
		after := patch.ReadStats()
		if after.Switches <= before.Switches || after.LastWindow <= 0 || after.MaxWindow < after.LastWindow || after.Mechanism == "" {
			t.Errorf("stats did not move: before %+v, after %+v", before, after)
		}
	}()
	var b uint8
	for _, v := range []int{1, 0, 1, 0} {
		mustSwitch(t, v, testsite.FlagSite)
		testsite.Flag(&b)
		if b != uint8(v+1) {
			t.Fatalf("Flag variant %d stored %d", v, b)
		}
	}
	for _, v := range []int{1, 2, 0} {
		mustSwitch(t, v, testsite.WideSite)
		var w [2]uint64
		testsite.Wide(&w)
		want := [3][2]uint64{{^uint64(0), 0}, {0, 0x7eadbeef}, {0, 0}}[v]
		if w != want {
			t.Fatalf("Wide variant %d: %x, want %x", v, w, want)
		}
	}
	for _, v := range []int{1, 0} { // R13 base, negative displacements, 4- and 2-byte stores
		mustSwitch(t, v, testsite.BackSite)
		var w [2]uint64
		testsite.Back(&w)
		if want := [2][2]uint64{{0x11111111, 0}, {0, 0xfffe}}[v]; w != want {
			t.Fatalf("Back variant %d: %x, want %x", v, w, want)
		}
	}
	testsite.Stress.Store(true) // grow the stack and GC inside every target
	defer testsite.Stress.Store(false)
	for _, v := range []int{1, 0} {
		mustSwitch(t, v, testsite.CountSite)
		var c testsite.Counter
		testsite.Count(&c)
		if (v == 0) != (c.A == 1) || c.A+c.B != 1 {
			t.Fatalf("Count variant %d: %+v", v, c)
		}
	}
	for _, v := range []int{1, 0} {
		mustSwitch(t, v, testsite.ReleaseSite)
		l, n := uint8(1), testsite.ReleaseParavirt.Load()
		testsite.Release(&l)
		if l != 0 || testsite.ReleaseParavirt.Load()-n != int64(v) {
			t.Fatalf("Release variant %d: l=%d, paravirt calls %d", v, l, testsite.ReleaseParavirt.Load()-n)
		}
	}
	for _, v := range []int{1, 0} { // 6 bytes: MOVL $0, (DI) or 3E E9 rel32
		mustSwitch(t, v, testsite.Release32Site)
		l, n := uint32(0xdeadbeef), testsite.ReleaseParavirt32.Load()
		testsite.Release32(&l)
		if l != 0 || testsite.ReleaseParavirt32.Load()-n != int64(v) {
			t.Fatalf("Release32 variant %d: l=%#x, paravirt calls %d", v, l, testsite.ReleaseParavirt32.Load()-n)
		}
	}
	for _, v := range []int{1, 0} { // 9 bytes: 3E 3E 3E 3E E9 rel32
		mustSwitch(t, v, testsite.Count9Site)
		var c testsite.Counter
		testsite.Count9(&c)
		if (v == 0) != (c.A == 1) || c.A+c.B != 1 {
			t.Fatalf("Count9 variant %d: %+v", v, c)
		}
	}
	for _, v := range []int{1, 2, 0} { // 6 bytes: 3E E8 rel32 or a NOP
		mustSwitch(t, v, testsite.Tick6Site)
		a, b := testsite.Tick6A.Load(), testsite.Tick6B.Load()
		testsite.Tick6()
		da, db := testsite.Tick6A.Load()-a, testsite.Tick6B.Load()-b
		if want := [3][2]int64{{1, 0}, {0, 1}, {0, 0}}[v]; da != want[0] || db != want[1] {
			t.Fatalf("Tick6 variant %d: called a %d, b %d times", v, da, db)
		}
	}
	for _, v := range []int{1, 2, 0} {
		mustSwitch(t, v, testsite.TickSite)
		a, b := testsite.TickA.Load(), testsite.TickB.Load()
		testsite.Tick()
		da, db := testsite.TickA.Load()-a, testsite.TickB.Load()-b
		if want := [3][2]int64{{1, 0}, {0, 1}, {0, 0}}[v]; da != want[0] || db != want[1] {
			t.Fatalf("Tick variant %d: called a %d, b %d times", v, da, db)
		}
	}
	if m := patch.Mechanism(); m != "procmem" && m != "mprotect" {
		t.Fatalf("Mechanism = %q", m)
	}
}
