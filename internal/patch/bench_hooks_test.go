//go:build linux && amd64 && pvswitch_testhooks

package patch_test

import (
	"syscall"
	"testing"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

// armed leaves INT3 on s with variant v current (a roll-forward failure
// injected at the tails step) and returns a func that finishes the switch.
func armed(b *testing.B, s *asm.Site, v int) func() {
	mustSwitch(b, 1-v, s)
	patch.SetInject(func(step string, i int) syscall.Errno {
		if step == "tails" {
			return syscall.EIO
		}
		return 0
	})
	err := patch.Switch(to([]*asm.Site{s}, v))
	patch.SetInject(nil)
	if s.Live()[0] != 0xCC {
		b.Fatalf("site not armed: %v", err)
	}
	return func() { mustSwitch(b, v, s) }
}

// BenchmarkTrap measures one execution of a site through the INT3 trap
// handler (kernel signal delivery, emulation, rt_sigreturn), against the
// site running natively.
func BenchmarkTrap(b *testing.B) {
	b.Run("variant=native", func(b *testing.B) {
		mustSwitch(b, 0, testsite.FlagSite)
		var x uint8
		for range b.N {
			testsite.Flag(&x)
		}
	})
	b.Run("variant=store", func(b *testing.B) {
		defer armed(b, testsite.FlagSite, 0)()
		var x uint8
		b.ResetTimer()
		for range b.N {
			testsite.Flag(&x)
		}
	})
	b.Run("variant=jmp", func(b *testing.B) {
		defer armed(b, testsite.CountSite, 0)()
		var c testsite.Counter
		b.ResetTimer()
		for range b.N {
			testsite.Count(&c)
		}
	})
	b.Run("variant=call", func(b *testing.B) {
		defer armed(b, testsite.TickSite, 0)()
		b.ResetTimer()
		for range b.N {
			testsite.Tick()
		}
	})
}
