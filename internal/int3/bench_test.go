//go:build linux && amd64

package int3_test

import (
	"encoding/binary"
	"testing"

	"github.com/pvswitch/pvswitch/internal/int3"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

// BenchmarkHandlerOnly measures the handler's own work for a trap on a
// registered site (table search, in-flight count, first-byte decision) by
// calling it with a fake frame, without the kernel's signal delivery. The
// site is not armed, so this is the late-trap path; the emulating path
// adds one descriptor load, one locked increment and the emulation.
func BenchmarkHandlerOnly(b *testing.B) {
	if err := int3.Install(); err != nil {
		b.Fatal(err)
	}
	if _, err := int3.Register(testsite.FlagSite); err != nil {
		b.Fatal(err)
	}
	info := make([]byte, 128)
	uc := make([]byte, 1024)
	binary.LittleEndian.PutUint32(info[int3.TestSICode:], int3.TestSIKernel)
	rip := uint64(testsite.FlagSite.Addr() + 1)
	for range b.N {
		binary.LittleEndian.PutUint64(uc[int3.TestUCRIP:], rip)
		int3.CallHandler(info, uc)
	}
}
