//go:build linux && amd64

package int3_test

import (
	"encoding/binary"
	"testing"

	"github.com/pvswitch/pvswitch/internal/int3"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

// TestLateTrap: a trap whose handler runs after the site was rewritten (its
// first byte is a variant's again, not INT3) must resume at the site and
// emulate nothing. The handler is called with a fake frame whose RIP is
// just past the site's first byte, as after an INT3 there.
func TestLateTrap(t *testing.T) {
	rs, site, info, uc := fakeTrapOnFlag(t, 1)
	traps := rs[0].Traps()
	in := int3.InFlight()
	int3.CallHandler(info, uc)
	if rip := binary.LittleEndian.Uint64(uc[int3.TestUCRIP:]); rip != uint64(site) {
		t.Fatalf("late trap: RIP = %#x, want the site %#x", rip, site)
	}
	if rs[0].Traps() != traps {
		t.Fatalf("late trap was counted as emulated")
	}
	if int3.InFlight() != in {
		t.Fatalf("handlers in flight %d after a late trap, want %d", int3.InFlight(), in)
	}
	// And the site then runs its live variant normally.
	var b uint8
	testsite.Flag(&b)
	if b != 1 {
		t.Fatalf("Flag stored %d, want 1", b)
	}
}

// TestRewoundTrap: a debugger (gdb) rewinds the PC of an INT3 trap to the
// INT3 byte before it passes the SIGTRAP on, so the handler sees RIP =
// the site, not site+1. It must treat that as a trap on the site: here
// the site holds its variant again, so it resumes at the site, emulating
// nothing, and counts the trap as rewound (it used to pass it to the Go
// runtime, which crashed with "SIGTRAP: trace trap" at the site).
func TestRewoundTrap(t *testing.T) {
	rs, site, info, uc := fakeTrapOnFlag(t, 0)
	traps, rewound := rs[0].Traps(), int3.Rewound()
	int3.CallHandler(info, uc)
	if rip := binary.LittleEndian.Uint64(uc[int3.TestUCRIP:]); rip != uint64(site) {
		t.Fatalf("rewound trap: RIP = %#x, want the site %#x", rip, site)
	}
	if rs[0].Traps() != traps {
		t.Fatalf("rewound trap on a rewritten site was counted as emulated")
	}
	if int3.Rewound() != rewound+1 {
		t.Fatalf("Rewound = %d, want %d", int3.Rewound(), rewound+1)
	}
}

// fakeTrapOnFlag registers testsite.Flag with the installed handler and
// returns its registration, its address, and a fake siginfo (SI_KERNEL)
// and ucontext whose RIP is the site's address plus ripOff: 1 as after an
// INT3 on the site, 0 as after a debugger rewound the PC onto it.
func fakeTrapOnFlag(t *testing.T, ripOff uintptr) (rs []*int3.Site, site uintptr, info, uc []byte) {
	t.Helper()
	if err := int3.Install(); err != nil {
		t.Fatal(err)
	}
	rs, err := int3.Register(testsite.FlagSite)
	if err != nil {
		t.Fatal(err)
	}
	site = testsite.FlagSite.Addr()
	info = make([]byte, 128)
	uc = make([]byte, 1024)
	binary.LittleEndian.PutUint32(info[int3.TestSICode:], int3.TestSIKernel)
	binary.LittleEndian.PutUint64(uc[int3.TestUCRIP:], uint64(site+ripOff))
	return rs, site, info, uc
}
