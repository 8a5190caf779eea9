//go:build !linux

package signals

import "runtime"

// usableCPUs is runtime.NumCPU where sched_getaffinity does not exist.
func usableCPUs() (int, error) { return runtime.NumCPU(), nil }
