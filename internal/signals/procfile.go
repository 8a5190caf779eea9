package signals

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// The /proc parsers are written here rather than taken from
// github.com/prometheus/procfs, whose package links net (and with it cgo
// and libc) into every program that imports pvlock: a Go program that used
// to be static became dynamically linked, and gdb, which then debugs it
// through libthread_db, stopped passing the lock's INT3 traps to it.
// procfs is kept as the oracle the tests check these parsers against, on
// the live files.

// userHZ is the unit of /proc/stat's CPU columns: USER_HZ, 100 on every
// architecture Go runs Linux on.
const userHZ = 100

// parseStat returns, from /proc/stat, the "cpu" line's steal column in
// USER_HZ ticks, the number of "cpuN" lines and procs_running.
func parseStat(b []byte) (stealTicks uint64, cpus, running int, err error) {
	sawCPU, sawRunning := false, false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 {
			continue
		}
		switch name := string(f[0]); {
		case name == "cpu":
			// cpu user nice system idle iowait irq softirq steal ...
			if len(f) < 9 {
				return 0, 0, 0, fmt.Errorf("/proc/stat: cpu line has %d fields, want steal (the 8th column)", len(f)-1)
			}
			if stealTicks, err = strconv.ParseUint(string(f[8]), 10, 64); err != nil {
				return 0, 0, 0, fmt.Errorf("/proc/stat: cpu steal: %w", err)
			}
			sawCPU = true
		case len(name) > 3 && name[:3] == "cpu":
			cpus++
		case name == "procs_running" && len(f) == 2:
			if running, err = strconv.Atoi(string(f[1])); err != nil {
				return 0, 0, 0, fmt.Errorf("/proc/stat: procs_running: %w", err)
			}
			sawRunning = true
		}
	}
	if !sawCPU || !sawRunning {
		return 0, 0, 0, errors.New("/proc/stat: no cpu line or no procs_running line")
	}
	return stealTicks, cpus, running, nil
}

// parsePSISome returns the "some" line's total (microseconds) of a
// /proc/pressure file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=N".
func parsePSISome(b []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 || string(f[0]) != "some" {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := bytes.CutPrefix(kv, []byte("total=")); ok {
				return strconv.ParseUint(string(v), 10, 64)
			}
		}
		return 0, errors.New("/proc/pressure/cpu: \"some\" line has no total=")
	}
	return 0, errors.New("/proc/pressure/cpu has no \"some\" line")
}

// parseSchedstat returns a /proc/PID/task/TID/schedstat's time on the CPU
// and time runnable but waiting, in nanoseconds ("RUN WAIT SLICES").
func parseSchedstat(b []byte) (run, wait uint64, err error) {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("schedstat %q: want at least 2 fields", b)
	}
	if run, err = strconv.ParseUint(string(f[0]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("schedstat: %w", err)
	}
	if wait, err = strconv.ParseUint(string(f[1]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("schedstat: %w", err)
	}
	return run, wait, nil
}

// readThreads sums schedstat over the tasks under dir (a
// /proc/PID/task directory): threads that exit while it reads are
// skipped, not errors.
func readThreads(dir string) (run, wait uint64, n int, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, 0, err
	}
	var firstErr error
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			if firstErr == nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ESRCH) {
				firstErr = err
			}
			continue
		}
		r, w, err := parseSchedstat(b)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		run, wait, n = run+r, wait+w, n+1
	}
	if n == 0 {
		if firstErr == nil {
			firstErr = errors.New("no thread's schedstat could be read")
		}
		return 0, 0, 0, firstErr
	}
	return run, wait, n, nil
}
