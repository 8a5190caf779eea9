package hypervisor

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// leaves is a recorded CPUID table: leaf -> EAX, EBX, ECX, EDX. Leaves
// not in it read as zero.
type leaves map[uint32][4]uint32

func (l leaves) cpuid(leaf, _ uint32) (a, b, c, d uint32) {
	r := l[leaf]
	return r[0], r[1], r[2], r[3]
}

// sig packs a 12-byte signature into EBX, ECX, EDX.
func sig(s string) (b, c, d uint32) {
	var w [3]uint32
	for i := 0; i < 12; i++ {
		w[i/4] |= uint32(s[i]) << (8 * (i % 4))
	}
	return w[0], w[1], w[2]
}

func leaf(eax uint32, s string, edx ...uint32) [4]uint32 {
	b, c, d := sig(s)
	if len(edx) > 0 {
		d = edx[0]
	}
	return [4]uint32{eax, b, c, d}
}

const hvBit = 1 << 31

func TestDetectTables(t *testing.T) {
	for _, tc := range []struct {
		name string
		tab  leaves
		want Info
	}{
		{"bare metal", leaves{1: {0, 0, 0x7ffafbff, 0}},
			Info{Supported: true}},
		{"kvm", leaves{1: {0, 0, hvBit, 0}, 0x40000000: leaf(0x40000001, KVMSignature), 0x40000001: {0x01007afb, 0, 0, 0}},
			Info{Supported: true, Present: true, Signature: "KVMKVMKVM", KVM: true, KVMBase: 0x40000000, KVMFeatures: 0x01007afb}},
		{"kvm realtime", leaves{1: {0, 0, hvBit, 0}, 0x40000000: leaf(0x40000001, KVMSignature), 0x40000001: {0x01007afb, 0, 0, 1}},
			Info{Supported: true, Present: true, Signature: "KVMKVMKVM", KVM: true, KVMBase: 0x40000000, KVMFeatures: 0x01007afb, KVMHints: 1, Realtime: true}},
		{"kvm above hyper-v", leaves{1: {0, 0, hvBit, 0}, 0x40000000: leaf(0x4000000b, "Microsoft Hv"), 0x40000100: leaf(0x40000101, KVMSignature), 0x40000101: {0xff, 0, 0, 1}},
			Info{Supported: true, Present: true, Signature: "Microsoft Hv", KVM: true, KVMBase: 0x40000100, KVMFeatures: 0xff, KVMHints: 1, Realtime: true}},
		{"bhyve", leaves{1: {0, 0, hvBit, 0}, 0x40000000: leaf(0x40000000, "bhyve bhyve ")},
			Info{Supported: true, Present: true, Signature: "bhyve bhyve "}},
		{"hypervisor bit, no signature", leaves{1: {0, 0, hvBit, 0}, 0x40000000: {0x0d, 0x756e6547, 0x6c65746e, 0x49656e69}},
			Info{Supported: true, Present: true, Signature: "GenuntelineI"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := detect(tc.tab.cpuid)
			if got != tc.want {
				t.Errorf("detect = %+v\nwant     %+v", got, tc.want)
			}
		})
	}
}

// cpuinfoHypervisor reads the "hypervisor" flag of /proc/cpuinfo, which
// the kernel sets from the same CPUID bit.
func cpuinfoHypervisor(t *testing.T) (flag, ok bool) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "flags") {
			for _, f := range strings.Fields(l) {
				if f == "hypervisor" {
					return true, true
				}
			}
			return false, true
		}
	}
	return false, false
}

// TestLive cross-checks CPUID against /proc/cpuinfo: no expected
// hypervisor is hard-coded.
func TestLive(t *testing.T) {
	in := Detect()
	t.Logf("%+v", in)
	if runtime.GOARCH != "amd64" {
		if in.Supported {
			t.Errorf("Supported on %s", runtime.GOARCH)
		}
		return
	}
	flag, ok := cpuinfoHypervisor(t)
	if !ok {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	if in.Present != flag {
		t.Errorf("CPUID hypervisor bit %v, /proc/cpuinfo hypervisor flag %v", in.Present, flag)
	}
	if in.KVM && in.Signature == "" {
		t.Error("KVM found but no signature")
	}
	if !in.Present && (in.KVM || in.Signature != "") {
		t.Errorf("no hypervisor bit, but %+v", in)
	}
	if in.Realtime != (in.KVMHints&HintRealtime != 0) {
		t.Errorf("Realtime %v vs hints %#x", in.Realtime, in.KVMHints)
	}
}
