// Package hypervisor reads, with the CPUID instruction, whether the process
// runs under a hypervisor, which one, and KVM's hints, as Linux's
// kvm_spinlock_init does to choose its spinlock at boot:
//
//   - CPUID leaf 1, ECX bit 31: a hypervisor is present (architecturally
//     reserved for this use; zero on bare metal);
//   - leaves 0x40000000 to 0x4000FF00 in steps of 0x100: each may hold a
//     hypervisor's vendor signature in EBX, ECX, EDX (12 bytes) and its
//     highest leaf in EAX. A hypervisor that emulates others (Hyper-V
//     enlightenments first, KVM at 0x40000100) puts "KVMKVMKVM\0\0\0" above
//     the others' leaves, so the whole range is scanned for it;
//   - KVM's features leaf (KVM base + 1): EAX the features, EDX the hints;
//     EDX bit 0 is KVM_HINTS_REALTIME, the host's promise that vCPUs are
//     never preempted (dedicated physical CPUs).
//
// Detect runs at most 258 CPUID instructions (a few tens of microseconds
// in a guest, where each one exits to the hypervisor) and allocates only
// the signature strings. On architectures other than amd64 it reports
// Supported false.
package hypervisor

import "strings"

// KVMSignature is the 12-byte vendor signature of KVM's CPUID leaves.
const KVMSignature = "KVMKVMKVM\x00\x00\x00"

// Hint and feature bits of KVM's features leaf.
const (
	// HintRealtime is EDX bit 0 of KVM's features leaf:
	// KVM_HINTS_REALTIME, dedicated vCPUs that are never preempted.
	HintRealtime = 1 << 0
	// FeaturePVUnhalt is EAX bit 7: KVM_FEATURE_PV_UNHALT, the host can
	// wake a halted vCPU by hypercall (Linux's pv spinlock kick).
	FeaturePVUnhalt = 1 << 7
)

const (
	leafBase  = 0x40000000
	leafLimit = 0x40010000
	leafStep  = 0x100
)

// Info is what CPUID says about the hypervisor.
type Info struct {
	// Supported is false where CPUID does not exist (not amd64): nothing
	// below was read.
	Supported bool
	// Present is CPUID.1:ECX bit 31.
	Present bool
	// Signature is the first vendor signature found in the hypervisor
	// leaves (at 0x40000000 for most hypervisors), NULs trimmed, e.g.
	// "KVMKVMKVM", "bhyve bhyve " (trailing space kept), "Microsoft Hv", "VMwareVMware".
	// Empty when no leaf holds a printable signature.
	Signature string
	// KVM is true when a leaf in the range holds KVMSignature; KVMBase is
	// that leaf.
	KVM     bool
	KVMBase uint32
	// KVMFeatures and KVMHints are EAX and EDX of KVMBase+1 (zero when
	// KVM's highest leaf is below it).
	KVMFeatures, KVMHints uint32
	// Realtime is KVMHints&HintRealtime != 0.
	Realtime bool
}

// Detect executes CPUID and returns what it says.
func Detect() Info {
	if !haveCPUID {
		return Info{}
	}
	return detect(cpuid)
}

// detect is Detect over a given cpuid function (tests feed recorded
// leaves).
func detect(cpuid func(leaf, sub uint32) (a, b, c, d uint32)) Info {
	in := Info{Supported: true}
	_, _, c, _ := cpuid(1, 0)
	in.Present = c&(1<<31) != 0
	if !in.Present {
		return in
	}
	for base := uint32(leafBase); base < leafLimit; base += leafStep {
		_, b, c, d := cpuid(base, 0)
		var sig [12]byte
		put32(sig[0:], b)
		put32(sig[4:], c)
		put32(sig[8:], d)
		if string(sig[:]) == KVMSignature {
			in.KVM, in.KVMBase = true, base
			if in.Signature == "" {
				in.Signature = "KVMKVMKVM"
			}
			// Linux reads the features leaf whatever EAX says
			// (old hosts report EAX 0).
			fa, _, _, fd := cpuid(base+1, 0)
			in.KVMFeatures, in.KVMHints = fa, fd
			in.Realtime = fd&HintRealtime != 0
			break
		}
		if in.Signature == "" && printable(sig[:]) {
			in.Signature = strings.TrimRight(string(sig[:]), "\x00")
		}
	}
	return in
}

func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// printable reports whether sig looks like a vendor signature: printable
// ASCII, trailing NULs allowed, not all NUL.
func printable(sig []byte) bool {
	n := 0
	for i, ch := range sig {
		if ch == 0 {
			for _, r := range sig[i:] {
				if r != 0 {
					return false
				}
			}
			break
		}
		if ch < 0x20 || ch > 0x7e {
			return false
		}
		n++
	}
	return n > 0
}
