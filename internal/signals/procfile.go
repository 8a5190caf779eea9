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

// statCPU is what parseStat reads from /proc/stat.
type statCPU struct {
	steal, busy uint64 // USER_HZ ticks summed over CPUs
	cpus        int    // number of "cpuN" lines
	running     int    // procs_running
}

// parseStat returns, from /proc/stat, the "cpu" line's steal column and
// its busy time (user, nice, system, irq and softirq; guest time is
// already inside user) in USER_HZ ticks, the number of "cpuN" lines and
// procs_running.
func parseStat(b []byte) (statCPU, error) {
	var st statCPU
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
				return statCPU{}, fmt.Errorf("/proc/stat: cpu line has %d fields, want steal (the 8th column)", len(f)-1)
			}
			var col [9]uint64
			for i := 1; i <= 8; i++ {
				v, err := strconv.ParseUint(string(f[i]), 10, 64)
				if err != nil {
					return statCPU{}, fmt.Errorf("/proc/stat: cpu column %d: %w", i, err)
				}
				col[i] = v
			}
			st.steal = col[8]
			st.busy = col[1] + col[2] + col[3] + col[6] + col[7]
			sawCPU = true
		case len(name) > 3 && name[:3] == "cpu":
			st.cpus++
		case name == "procs_running" && len(f) == 2:
			v, err := strconv.Atoi(string(f[1]))
			if err != nil {
				return statCPU{}, fmt.Errorf("/proc/stat: procs_running: %w", err)
			}
			st.running = v
			sawRunning = true
		}
	}
	if !sawCPU || !sawRunning {
		return statCPU{}, errors.New("/proc/stat: no cpu line or no procs_running line")
	}
	return st, nil
}

// parseProcStatCPU returns utime + stime, in USER_HZ ticks, of a
// /proc/PID/stat: fields 14 and 15, counted after the command name's
// closing parenthesis (the name may hold spaces and parentheses). They
// include the process's exited threads, so the sum never goes back.
func parseProcStatCPU(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc/self/stat: no \")\" after the command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/self/stat: %d fields after the name, want at least 13", len(f))
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/self/stat: utime/stime: %w", err)
	}
	return u + s, nil
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
