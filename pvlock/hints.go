package pvlock

import (
	"fmt"
	"runtime"

	"github.com/pvswitch/pvswitch/internal/hypervisor"
)

// Hypervisor is what pvlock found at start about the machine it runs on,
// and where its start mode came from. It is a field of Status (JSON key
// "hypervisor").
//
// The start mode follows Linux's kvm_spinlock_init: no hypervisor
// (CPUID.1:ECX bit 31 clear): native, every thread owns a CPU as far as
// the hardware says; a KVM guest whose host sets KVM_HINTS_REALTIME
// (dedicated vCPUs, never preempted): native; any other hypervisor, or KVM
// without that hint: paravirt, since a vCPU holding a lock may be
// preempted by the host. PVLOCK_MODE=native|paravirt overrides the hints;
// PVLOCK_MODE=auto takes the start mode from the hints and then starts the
// auto policy (StartAuto). Where CPUID does not exist (not amd64) the hints
// cannot be read and the start mode is native, said in ModeFrom.
type Hypervisor struct {
	// Detected is false where the hints could not be read (no CPUID).
	Detected bool `json:"detected"`
	// Present is CPUID's hypervisor bit.
	Present bool `json:"present"`
	// Signature is the first hypervisor vendor signature in the CPUID
	// leaves 0x40000000-0x4000FF00 ("KVMKVMKVM", "bhyve bhyve ", ...),
	// empty without one.
	Signature string `json:"signature,omitempty"`
	// KVM is true when KVM's signature was found (possibly above
	// another hypervisor's leaves); KVMBase is its leaf.
	KVM     bool   `json:"kvm"`
	KVMBase uint32 `json:"kvm_base,omitempty"`
	// KVMFeatures and KVMHints are EAX and EDX of KVM's features leaf.
	KVMFeatures uint32 `json:"kvm_features,omitempty"`
	KVMHints    uint32 `json:"kvm_hints,omitempty"`
	// Realtime is KVM_HINTS_REALTIME: dedicated vCPUs.
	Realtime bool `json:"realtime_hint"`
	// UsableCPUs is the number of CPUs the process may run on (its
	// affinity at start, runtime.NumCPU).
	UsableCPUs int `json:"usable_cpus"`
	// StartMode is the mode chosen at start, ModeFrom why: "PVLOCK_MODE"
	// or "hints: ..." naming the rule that decided.
	StartMode string `json:"start_mode"`
	ModeFrom  string `json:"mode_from"`
	// AutoAtStart is true when PVLOCK_MODE=auto started the policy.
	AutoAtStart bool `json:"auto_at_start"`
}

// String formats the hints on one line, e.g.
//
//	hypervisor=KVMKVMKVM kvm-hints=0x0 realtime=false cpus=2 start=paravirt (hints: hypervisor without KVM_HINTS_REALTIME)
func (h Hypervisor) String() string {
	sig := h.Signature
	switch {
	case !h.Detected:
		sig = "unknown"
	case !h.Present:
		sig = "none"
	case sig == "":
		sig = "unnamed"
	}
	return fmt.Sprintf("hypervisor=%q kvm-hints=%#x realtime=%v cpus=%d start=%s (%s)",
		sig, h.KVMHints, h.Realtime, h.UsableCPUs, h.StartMode, h.ModeFrom)
}

// hv is set once at init (startup.go) and read only after.
var hv Hypervisor

// detectHypervisor reads CPUID (a few hundred instructions, no file).
func detectHypervisor() Hypervisor {
	in := hypervisor.Detect()
	return Hypervisor{
		Detected: in.Supported, Present: in.Present, Signature: in.Signature,
		KVM: in.KVM, KVMBase: in.KVMBase, KVMFeatures: in.KVMFeatures, KVMHints: in.KVMHints,
		Realtime: in.Realtime, UsableCPUs: runtime.NumCPU(),
	}
}

// modeFromHints is the start mode the hints call for, and the rule that
// decided.
func modeFromHints(h Hypervisor) (Mode, string) {
	switch {
	case !h.Detected:
		return Native, "hints: no CPUID on " + runtime.GOARCH + ", default native"
	case !h.Present:
		return Native, "hints: no hypervisor"
	case h.KVM && h.Realtime:
		return Native, "hints: KVM_HINTS_REALTIME (dedicated vCPUs)"
	case h.KVM:
		return Paravirt, "hints: KVM without KVM_HINTS_REALTIME"
	}
	return Paravirt, "hints: hypervisor without KVM_HINTS_REALTIME"
}

// startMode chooses the start mode from PVLOCK_MODE (read with lookup) and
// the hints h: "native" or "paravirt" override, "auto" or unset follow the
// hints (auto also reports that the policy is to be started), an invalid
// value is logged and native is used.
func startMode(lookup func(string) (string, bool), logf func(string, ...any), h Hypervisor) (m Mode, from string, auto bool) {
	s, _ := lookup(EnvMode)
	switch s {
	case "":
		m, from = modeFromHints(h)
		return m, from, false
	case "auto":
		m, from = modeFromHints(h)
		return m, from + "; " + EnvMode + "=auto", true
	}
	return modeFromEnv(lookup, logf), EnvMode, false
}
