package signals

import "golang.org/x/sys/unix"

// usableCPUs counts the CPUs in this process's affinity mask.
func usableCPUs() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, err
	}
	return set.Count(), nil
}
