package hypervisor

// haveCPUID is true where the CPUID instruction exists.
const haveCPUID = true

// cpuid executes CPUID with EAX=leaf, ECX=sub.
//
//go:noescape
func cpuid(leaf, sub uint32) (a, b, c, d uint32)
