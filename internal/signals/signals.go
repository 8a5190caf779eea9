// Package signals reads, from the kernel's own interfaces, the inputs that
// say whether this process's threads get the CPUs they want: steal time,
// CPU pressure, this process's run delay, runnable threads against usable
// CPUs, cgroup v2 CPU throttling and GOMAXPROCS.
//
// A Sample holds cumulative counters as read at one moment; Sub of two
// samples gives the rates over the interval between them (Delta). An input
// that cannot be read (no PSI in the kernel, no cgroup v2, a file a
// security module hides) is named in Sample.Missing with the reason, and
// its fields are zero: never a silent zero, never fatal.
//
// Files read (under the Reader's roots, /proc and /sys/fs/cgroup by
// default):
//
//   - /proc/stat: the "cpu" line's steal column and busy time (USER_HZ
//     ticks summed over CPUs) and procs_running (runnable threads,
//     system-wide);
//   - /proc/self/stat: this process's CPU time (utime + stime, exited
//     threads included), which subtracted from the busy time gives the CPU
//     time everything else used (Delta.Others);
//   - /proc/pressure/cpu: the "some" line's total (microseconds during which
//     at least one runnable task waited for a CPU); the 10 s average is not
//     used, deltas of total are;
//   - /proc/self/task/*/schedstat: per thread, time on the CPU and time
//     runnable but waiting for one (run delay), nanoseconds;
//   - sched_getaffinity(2): the CPUs this process may run on;
//   - /proc/self/cgroup "0::PATH", then PATH's cpu.max ("max 100000" or
//     "QUOTA PERIOD") and cpu.stat (nr_periods, nr_throttled,
//     throttled_usec) under the cgroup v2 mount.
//
// Every parser is hand-written (procfile.go says why not
// github.com/prometheus/procfs); the tests check them against procfs on
// the live files.
//
// One Read costs a few tens of microseconds plus about 5 us per thread of
// the process (one schedstat file each); reading every 100 ms is cheap.
package signals

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Input names one input a Sample may lack.
type Input string

// The inputs of a Sample.
const (
	Steal    Input = "steal"     // /proc/stat steal column
	Pressure Input = "psi-cpu"   // /proc/pressure/cpu
	RunDelay Input = "run-delay" // /proc/self/task/*/schedstat
	Runnable Input = "runnable"  // /proc/stat procs_running
	Others   Input = "others"    // /proc/stat busy minus /proc/self/stat
	Affinity Input = "affinity"  // sched_getaffinity
	Cgroup   Input = "cgroup-cpu"
)

// Sample is one reading of every input. Counters are cumulative since
// boot (or since the cgroup or thread was created); compare two samples
// with Sub.
type Sample struct {
	// At is when the sample was taken (monotonic clock).
	At time.Time
	// StealNs is the steal time summed over all CPUs, in nanoseconds
	// (read in USER_HZ ticks, so its resolution is 10 ms per CPU).
	StealNs uint64
	// BusyNs is the time all CPUs spent busy (user, nice, system, irq,
	// softirq), and SelfCPUNs this process's CPU time (user + system,
	// exited threads included), both read in USER_HZ ticks.
	BusyNs, SelfCPUNs uint64
	// CPUs is the number of CPUs /proc/stat lists (to scale steal).
	CPUs int
	// PressureUs is /proc/pressure/cpu's "some" total, in microseconds.
	PressureUs uint64
	// RunDelayNs is the sum over this process's live threads of the time
	// each spent runnable but not running, in nanoseconds; RunNs the sum
	// of their time on a CPU. Threads that exited drop out of the sum,
	// so Sub clamps a negative delta to zero.
	RunDelayNs, RunNs uint64
	// Threads is the number of this process's threads read.
	Threads int
	// Runnable is the number of runnable threads system-wide
	// (procs_running, which counts the reader itself).
	Runnable int
	// UsableCPUs is the number of CPUs in this process's affinity mask.
	UsableCPUs int
	// GOMAXPROCS is runtime.GOMAXPROCS(0) at the sample.
	GOMAXPROCS int
	// CgroupQuota and CgroupPeriod are cpu.max's values in microseconds;
	// CgroupQuota is -1 for "max" (no quota). Both are 0 when Cgroup is
	// missing.
	CgroupQuota, CgroupPeriod int64
	// CgroupPeriods, CgroupThrottled and CgroupThrottledUs are cpu.stat's
	// nr_periods, nr_throttled and throttled_usec.
	CgroupPeriods, CgroupThrottled, CgroupThrottledUs uint64
	// Missing names each input that could not be read, with the reason.
	// Nil when every input was read.
	Missing map[Input]string
}

// Has reports whether input in was read.
func (s Sample) Has(in Input) bool { _, miss := s.Missing[in]; return !miss }

func (s *Sample) miss(in Input, err error) {
	if s.Missing == nil {
		s.Missing = make(map[Input]string)
	}
	s.Missing[in] = err.Error()
}

// Delta is what happened between two samples, as rates.
type Delta struct {
	// Interval is the wall time between the samples.
	Interval time.Duration
	// Steal is the fraction of all CPUs' time stolen by the hypervisor
	// (0..1).
	Steal float64
	// Pressure is the fraction of the interval during which some task
	// waited for a CPU (0..1), system-wide or in the cgroup PSI reports.
	Pressure float64
	// RunDelay is this process's threads' total run delay per unit of
	// wall time: 0.5 means that, on average, half a thread was runnable
	// but not running. It can exceed 1.
	RunDelay float64
	// Runnable is the later sample's runnable threads per usable CPU.
	Runnable float64
	// Others is the fraction of all CPUs' time used by everything but
	// this process (other processes, kernel threads, interrupts): busy
	// time minus this process's CPU time (0..1). It is the demand that
	// competes with this process's threads from outside it; its
	// resolution is one USER_HZ tick (10 ms) per interval.
	Others float64
	// Throttled is the fraction of cgroup periods in which the cgroup was
	// throttled (0..1), 0 without a quota.
	Throttled float64
	// Missing is the union of the two samples' missing inputs; the rates
	// of a missing input are 0.
	Missing map[Input]string
}

// Sub returns the rates from earlier to s.
func (s Sample) Sub(earlier Sample) Delta {
	d := Delta{Interval: s.At.Sub(earlier.At)}
	for _, m := range []map[Input]string{earlier.Missing, s.Missing} {
		for k, v := range m {
			if d.Missing == nil {
				d.Missing = make(map[Input]string)
			}
			d.Missing[k] = v
		}
	}
	has := func(in Input) bool { _, miss := d.Missing[in]; return !miss }
	ns := float64(d.Interval.Nanoseconds())
	if ns <= 0 {
		return d
	}
	if has(Steal) && s.CPUs > 0 {
		d.Steal = float64(sub(s.StealNs, earlier.StealNs)) / (ns * float64(s.CPUs))
	}
	if has(Pressure) {
		d.Pressure = float64(sub(s.PressureUs, earlier.PressureUs)) * 1e3 / ns
	}
	if has(RunDelay) {
		d.RunDelay = float64(sub(s.RunDelayNs, earlier.RunDelayNs)) / ns
	}
	if has(Others) && s.CPUs > 0 {
		d.Others = float64(sub(sub(s.BusyNs, earlier.BusyNs), sub(s.SelfCPUNs, earlier.SelfCPUNs))) / (ns * float64(s.CPUs))
		d.Others = min(d.Others, 1)
	}
	if has(Runnable) && s.UsableCPUs > 0 {
		d.Runnable = float64(s.Runnable) / float64(s.UsableCPUs)
	}
	if has(Cgroup) && s.CgroupPeriods > earlier.CgroupPeriods {
		d.Throttled = float64(sub(s.CgroupThrottled, earlier.CgroupThrottled)) / float64(s.CgroupPeriods-earlier.CgroupPeriods)
	}
	return d
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// Reader reads samples. The zero value is not usable; use New or Read.
type Reader struct {
	procRoot   string
	cgroupRoot string
	affinity   func() (int, error)
}

// Options name the roots a Reader reads under (tests point them at
// fixtures).
type Options struct {
	// ProcRoot is the procfs mount, default "/proc". "self" under it is
	// the process whose threads are read.
	ProcRoot string
	// CgroupRoot is the cgroup v2 mount, default "/sys/fs/cgroup".
	CgroupRoot string
	// Affinity returns the number of usable CPUs; default
	// sched_getaffinity of this process (runtime.NumCPU where that call
	// does not exist).
	Affinity func() (int, error)
}

// New returns a Reader for opts.
func New(opts Options) (*Reader, error) {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.CgroupRoot == "" {
		opts.CgroupRoot = "/sys/fs/cgroup"
	}
	if opts.Affinity == nil {
		opts.Affinity = usableCPUs
	}
	if fi, err := os.Stat(opts.ProcRoot); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, fmt.Errorf("signals: procfs at %s: %w", opts.ProcRoot, err)
	}
	return &Reader{procRoot: opts.ProcRoot, cgroupRoot: opts.CgroupRoot, affinity: opts.Affinity}, nil
}

var (
	defaultOnce   sync.Once
	defaultReader *Reader
	defaultErr    error
)

// Read takes a sample of the live system with the default roots. It is
// safe to call from several goroutines.
func Read() Sample {
	defaultOnce.Do(func() { defaultReader, defaultErr = New(Options{}) })
	{
		r, err := defaultReader, defaultErr
		if err != nil {
			s := Sample{At: time.Now(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
			for _, in := range []Input{Steal, Pressure, RunDelay, Runnable, Others, Affinity, Cgroup} {
				s.miss(in, err)
			}
			return s
		}
		return r.Read()
	}
}

// Read takes a sample. Inputs it cannot read are named in Missing.
func (r *Reader) Read() Sample {
	s := Sample{At: time.Now(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if b, err := os.ReadFile(filepath.Join(r.procRoot, "stat")); err != nil {
		s.miss(Steal, err)
		s.miss(Runnable, err)
		s.miss(Others, err)
	} else if st, err := parseStat(b); err != nil {
		s.miss(Steal, err)
		s.miss(Runnable, err)
		s.miss(Others, err)
	} else {
		s.StealNs = st.steal * (1e9 / userHZ)
		s.BusyNs = st.busy * (1e9 / userHZ)
		s.CPUs = st.cpus
		s.Runnable = st.running
		if b, err := os.ReadFile(filepath.Join(r.procRoot, "self", "stat")); err != nil {
			s.miss(Others, err)
		} else if cpu, err := parseProcStatCPU(b); err != nil {
			s.miss(Others, err)
		} else {
			s.SelfCPUNs = cpu * (1e9 / userHZ)
		}
	}
	if b, err := os.ReadFile(filepath.Join(r.procRoot, "pressure", "cpu")); err != nil {
		s.miss(Pressure, err)
	} else if total, err := parsePSISome(b); err != nil {
		s.miss(Pressure, err)
	} else {
		s.PressureUs = total
	}
	r.readRunDelay(&s)
	if n, err := r.affinity(); err != nil {
		s.miss(Affinity, err)
	} else {
		s.UsableCPUs = n
	}
	if err := r.readCgroup(&s); err != nil {
		s.miss(Cgroup, err)
	}
	return s
}

// readRunDelay sums schedstat over /proc/self/task/*.
func (r *Reader) readRunDelay(s *Sample) {
	dir := filepath.Join(r.procRoot, "self", "task")
	run, wait, n, err := readThreads(dir)
	if err != nil {
		s.miss(RunDelay, fmt.Errorf("%s/*/schedstat: %w", dir, err))
		return
	}
	s.RunDelayNs, s.RunNs, s.Threads = wait, run, n
}

// readCgroup reads cpu.max and cpu.stat of this process's cgroup v2.
func (r *Reader) readCgroup(s *Sample) error {
	if _, err := os.Stat(filepath.Join(r.cgroupRoot, "cgroup.controllers")); err != nil {
		return fmt.Errorf("no cgroup v2 hierarchy at %s: %w", r.cgroupRoot, err)
	}
	b, err := os.ReadFile(filepath.Join(r.procRoot, "self", "cgroup"))
	if err != nil {
		return err
	}
	path, err := ParseCgroupPath(b)
	if err != nil {
		return err
	}
	dir := filepath.Join(r.cgroupRoot, path)
	b, err = os.ReadFile(filepath.Join(dir, "cpu.max"))
	if err != nil {
		return fmt.Errorf("cpu controller not enabled for %s: %w", path, err)
	}
	if s.CgroupQuota, s.CgroupPeriod, err = ParseCPUMax(b); err != nil {
		return err
	}
	b, err = os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return err
	}
	st, err := ParseCPUStat(b)
	if err != nil {
		return err
	}
	s.CgroupPeriods, s.CgroupThrottled, s.CgroupThrottledUs = st["nr_periods"], st["nr_throttled"], st["throttled_usec"]
	return nil
}

// ParseCgroupPath returns the cgroup v2 path ("0::PATH") of a
// /proc/PID/cgroup file's contents.
func ParseCgroupPath(b []byte) (string, error) {
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("signals: no cgroup v2 entry (\"0::PATH\") in /proc/self/cgroup")
}

// ParseCPUMax parses cgroup v2 cpu.max: "QUOTA PERIOD" in microseconds,
// QUOTA "max" for none (returned as -1).
func ParseCPUMax(b []byte) (quota, period int64, err error) {
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("signals: cpu.max %q: want \"QUOTA PERIOD\"", bytes.TrimSpace(b))
	}
	if period, err = strconv.ParseInt(f[1], 10, 64); err != nil || period <= 0 {
		return 0, 0, fmt.Errorf("signals: cpu.max %q: bad period", bytes.TrimSpace(b))
	}
	if f[0] == "max" {
		return -1, period, nil
	}
	if quota, err = strconv.ParseInt(f[0], 10, 64); err != nil || quota <= 0 {
		return 0, 0, fmt.Errorf("signals: cpu.max %q: bad quota", bytes.TrimSpace(b))
	}
	return quota, period, nil
}

// ParseCPUStat parses cgroup v2 cpu.stat ("key value" lines) into a map.
func ParseCPUStat(b []byte) (map[string]uint64, error) {
	m := make(map[string]uint64)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("signals: cpu.stat line %q: want \"key value\"", sc.Text())
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("signals: cpu.stat line %q: %w", sc.Text(), err)
		}
		m[f[0]] = v
	}
	if _, ok := m["nr_periods"]; !ok {
		return nil, errors.New("signals: cpu.stat has no nr_periods (cpu controller not enabled?)")
	}
	return m, nil
}
