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
// blocks SIGTRAP (SigBlk in /proc/self/task/*/status). It reads files, so
// it runs before the pinned window, never inside it: a thread that blocks
// SIGTRAP after this check and then runs an armed site during the window
// still kills the process (see the package doc). A thread that blocks
// every standard signal is taken for one in the runtime's transient
// states (running a signal handler, being created, exiting), which run no
// site, and is not refused. Called with mu held; it allocates nothing unless it
// refuses.
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
	blk, _, _ := sigBlk(tid)
	comm, _ := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/comm")
	return &SigBlockedError{Tid: tid, Comm: strings.TrimSpace(string(comm)), SigBlk: blk}
}

// Buffers of checkSigMask, guarded by mu.
var (
	sigTids [512]int
	sigDir  [8192]byte
	sigFile [4096]byte
	sigPath [64]byte
)

// blockingThreads stores in out (from index 0) the threads that block
// SIGTRAP now and returns how many (at most len(sigTids)).
func blockingThreads(out []int) (int, error) {
	path := [...]byte{'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 't', 'a', 's', 'k', 0}
	fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&path[0])), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("open /proc/self/task: %w", e)
	}
	defer syscall.Close(int(fd))
	n := 0
	for {
		m, err := syscall.Getdents(int(fd), sigDir[:])
		if err != nil {
			return 0, fmt.Errorf("getdents /proc/self/task: %w", err)
		}
		if m <= 0 {
			return n, nil
		}
		// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
		// d_type u8, d_name (NUL-terminated).
		for off := 0; off < m; {
			reclen := int(sigDir[off+16]) | int(sigDir[off+17])<<8
			tid, ok := atoi(sigDir[off+19 : off+reclen])
			off += reclen
			if !ok {
				continue // "." and ".."
			}
			blk, found, err := sigBlk(tid)
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
	n := 0
	for _, tid := range tids {
		blk, found, err := sigBlk(tid)
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

const atFDCWD = ^uintptr(99) // AT_FDCWD (-100)

// sigBlk returns the SigBlk set of thread tid of this process; found is
// false if the thread is gone.
func sigBlk(tid int) (blk uint64, found bool, err error) {
	p := append(sigPath[:0], "/proc/self/task/"...)
	p = strconv.AppendInt(p, int64(tid), 10)
	p = append(p, "/status\x00"...)
	fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&p[0])), syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
	if e == syscall.ENOENT || e == syscall.ESRCH {
		return 0, false, nil
	}
	if e != 0 {
		return 0, false, fmt.Errorf("open %s: %w", p[:len(p)-1], e)
	}
	defer syscall.Close(int(fd))
	m := 0
	for m < len(sigFile) {
		k, err := syscall.Read(int(fd), sigFile[m:])
		if err == syscall.ESRCH {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		if k == 0 {
			break
		}
		m += k
	}
	b := sigFile[:m]
	const key = "\nSigBlk:"
	for i := 0; i+len(key) <= len(b); i++ {
		if string(b[i:i+len(key)]) != key {
			continue
		}
		v := uint64(0)
		for j := i + len(key); j < len(b) && b[j] != '\n'; j++ {
			c := b[j]
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | uint64(c-'0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | uint64(c-'a'+10)
			}
		}
		return v, true, nil
	}
	return 0, false, nil
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
