package patch

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

const (
	sigTrapBit = 1 << (5 - 1) // SIGTRAP = 5; bit n-1 of a /proc signal set is signal n
	// sigStdBlockable holds every standard signal (1..31) but SIGKILL and
	// SIGSTOP, which cannot be blocked. A thread that blocks all of them
	// is in one of the runtime's transient states: running a signal
	// handler (the runtime's and int3's block every signal), created but
	// not started (Go's clone and glibc's pthread_create block every
	// signal but glibc's own 32 and 33), or exiting.
	sigStdBlockable = uint64(1<<31-1) &^ (1<<(9-1) | 1<<(19-1))
)

// sigMaskRechecks and sigMaskRecheckDelay: a thread must be seen blocking
// SIGTRAP on every one of these reads before Switch refuses.
const (
	sigMaskRechecks     = 3
	sigMaskRecheckDelay = time.Millisecond
)

// checkSigMask refuses with a *SigBlockedError if a thread of the process
// blocks SIGTRAP (the blocked field of /proc/self/task/*/stat). It reads files, so
// it runs before the pinned window, never inside it: a thread that blocks
// SIGTRAP after this check and then runs an armed site during the window
// still kills the process (see the package doc). A thread that blocks
// every standard signal is taken for one in the runtime's transient
// states (running a signal handler, being created, exiting), which run no
// site, and is not refused. Called with mu held; it allocates nothing unless it
// refuses or meets a thread it has not seen before (procfs_linux_amd64.go).
func checkSigMask() error {
	n, err := blockingThreads(sigTids[:0])
	for i := 1; err == nil && n > 0 && i < sigMaskRechecks; i++ {
		time.Sleep(sigMaskRecheckDelay)
		n, err = recheckThreads(sigTids[:n])
	}
	if err != nil {
		return fmt.Errorf("patch: cannot tell whether a thread blocks SIGTRAP: %w", err)
	}
	if n == 0 {
		return nil
	}
	tid := sigTids[0]
	blk, _ := sigBlk(tid)
	comm, _ := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/comm")
	return &SigBlockedError{Tid: tid, Comm: strings.TrimSpace(string(comm)), SigBlk: blk}
}

// Buffers of checkSigMask, guarded by mu.
var (
	sigTids [512]int
	sigDir  [8192]byte
	sigFile [4096]byte
)

// blockingThreads stores in out (from index 0) the threads that block
// SIGTRAP now and returns how many (at most len(sigTids)).
func blockingThreads(out []int) (int, error) {
	dir, err := openTaskDir()
	if err != nil {
		return 0, err
	}
	beginStatScan()
	n := 0
	for {
		m, _, e := syscall.RawSyscall(syscall.SYS_GETDENTS64, dir, uintptr(unsafe.Pointer(&sigDir[0])), uintptr(len(sigDir)))
		if e != 0 {
			return 0, fmt.Errorf("getdents /proc/self/task: %w", e)
		}
		if m == 0 {
			endStatScan()
			return n, nil
		}
		// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
		// d_type u8, d_name (NUL-terminated).
		for off := 0; off < int(m); {
			reclen := int(sigDir[off+16]) | int(sigDir[off+17])<<8
			tid, ok := atoi(sigDir[off+19 : off+reclen])
			off += reclen
			if !ok {
				continue // "." and ".."
			}
			blk, found, err := sigBlkAt(dir, tid)
			if err != nil {
				return 0, err
			}
			if found && blocksTrap(blk) && n < len(sigTids) {
				out = append(out, tid)
				n++
			}
		}
	}
}

// recheckThreads keeps in tids those that still block SIGTRAP and returns
// how many.
func recheckThreads(tids []int) (int, error) {
	dir, err := openTaskDir()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, tid := range tids {
		blk, found, err := sigBlkAt(dir, tid)
		if err != nil {
			return 0, err
		}
		if found && blocksTrap(blk) {
			tids[n] = tid
			n++
		}
	}
	return n, nil
}

// blocksTrap reports whether a thread with blocked set blk blocks SIGTRAP
// while it may run Go code: not a thread that blocks every standard
// signal (see sigStdBlockable).
func blocksTrap(blk uint64) bool {
	return blk&sigTrapBit != 0 && blk&sigStdBlockable != sigStdBlockable
}

// sigBlkAt returns the blocked set of standard signals (1..31) of thread
// tid, read from "tid/stat" under dir (/proc/self/task); found is false if
// the thread is gone. It reads stat, not status: the kernel composes stat
// in about a third of the time (3 us against 10 us here), and its
// "blocked" field (the 32nd) holds signals 1..31, SIGTRAP among them.
func sigBlkAt(dir uintptr, tid int) (blk uint64, found bool, err error) {
	m, found, err := readTaskStat(dir, tid, sigFile[:])
	if !found || err != nil {
		return 0, false, err
	}
	blk, ok := statBlocked(sigFile[:m])
	if !ok {
		return 0, false, fmt.Errorf("no blocked-signals field in /proc/self/task/%d/stat", tid)
	}
	return blk, true, nil
}

// statBlocked returns field 32 (blocked) of a /proc/PID/stat line. Field
// 2, the command name in parentheses, may hold spaces and parentheses, so
// the fields are counted from the last ')': field 3 follows it.
func statBlocked(b []byte) (uint64, bool) {
	i := len(b) - 1
	for i >= 0 && b[i] != ')' {
		i--
	}
	if i < 0 {
		return 0, false
	}
	field := 2
	v, digits := uint64(0), 0
	for _, c := range b[i+1:] {
		if c == ' ' || c == '\n' {
			if field == 32 {
				break
			}
			field++
			continue
		}
		if field == 32 {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + uint64(c-'0')
			digits++
		}
	}
	return v, field == 32 && digits > 0
}

// sigBlk returns the SigBlk set of thread tid of this process, for the
// refusal's message: all 64 signals, from status.
func sigBlk(tid int) (blk uint64, found bool) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, false
	}
	const key = "\nSigBlk:"
	i := strings.Index(string(b), key)
	if i < 0 {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b[i+len(key):]), "\n")
	v, err := strconv.ParseUint(strings.TrimSpace(line), 16, 64)
	return v, err == nil
}

// atoi parses a NUL-terminated decimal thread id.
func atoi(b []byte) (int, bool) {
	n, digits := 0, 0
	for _, c := range b {
		if c == 0 {
			break
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		digits++
	}
	return n, digits > 0
}
