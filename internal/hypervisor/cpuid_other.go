//go:build !amd64

package hypervisor

// haveCPUID is false: this architecture has no CPUID instruction, and no
// hypervisor hint is read.
const haveCPUID = false

func cpuid(leaf, sub uint32) (a, b, c, d uint32) { return 0, 0, 0, 0 }
