package patch

import (
	"fmt"
	"strconv"
	"syscall"
	"unsafe"
)

// The switch reads a few /proc files before every window, with the gate
// closed: whether a tracer is attached (tracer_linux_amd64.go) and which
// threads block SIGTRAP (sigmask_linux_amd64.go). They are read with raw
// system calls into fixed buffers, for two reasons. Nothing is allocated.
// And a raw call keeps the switcher's P: a call through syscall.Syscall
// that lasts over 20 us lets sysmon hand the P to another goroutine, and
// under a spinning workload getting one back took up to milliseconds,
// which every waiter at the closed gate then waited too.

// procOpenAt opens path (NUL-terminated) relative to dir (atFDCWD for an
// absolute path) for reading.
func procOpenAt(dir uintptr, path []byte, flags uintptr) (uintptr, syscall.Errno) {
	fd, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, dir, uintptr(unsafe.Pointer(&path[0])), syscall.O_RDONLY|syscall.O_CLOEXEC|flags, 0, 0, 0)
	return fd, e
}

// procReadAll reads the file open on fd from its start into buf and returns
// how much it read; a file longer than buf is cut short, which its callers
// allow for (the fields they read come early).
//
// A read that returns less than it asked for has read the whole file. The
// files read here (a task's stat, /proc/self/status) are composed in one
// piece by a single show function (the kernel's single_open seq files), and
// a read from offset 0 copies all of it that fits. Reading on until a read
// returns 0, as for an ordinary file, is not free here: a read at a
// non-zero offset makes the kernel compose the whole file again to skip to
// that offset, which doubled the cost of every file (4 us a thread's stat
// on the reference VM).
func procReadAll(fd uintptr, buf []byte) (int, syscall.Errno) {
	n := 0
	for n < len(buf) {
		want := len(buf) - n
		m, _, e := syscall.RawSyscall6(syscall.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&buf[n])), uintptr(want), uintptr(n), 0, 0)
		if e != 0 {
			return 0, e
		}
		n += int(m)
		if int(m) < want {
			break
		}
	}
	return n, 0
}

// procClose closes fd.
func procClose(fd uintptr) { syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0) }

const atFDCWD = ^uintptr(99) // AT_FDCWD (-100)

// Files kept open from one switch to the next. Opening a /proc file costs
// about as much as the kernel's composing it (path walk, inode, file), so
// the signal-mask check keeps each thread's stat open and reads it again
// with pread at offset 0, which makes the kernel compose it afresh. A file
// of a thread that has exited reads ESRCH: it is closed and dropped, and
// the tid (which the kernel may have given to a new thread) opened anew.
// At most maxStatFiles are kept; further threads are opened and closed on
// each read. All of it is guarded by mu.
const maxStatFiles = 256

type statFile struct {
	fd  uintptr
	gen uint64 // the scan that last saw the thread
}

var (
	statFiles = map[int]statFile{}
	statGen   uint64 // the current scan
)

// readTaskStat reads tid/stat under dir (/proc/self/task) into buf; found
// is false if the thread is gone.
func readTaskStat(dir uintptr, tid int, buf []byte) (n int, found bool, err error) {
	if f, ok := statFiles[tid]; ok {
		n, e := procReadAll(f.fd, buf)
		if e == 0 {
			statFiles[tid] = statFile{fd: f.fd, gen: statGen}
			return n, true, nil
		}
		procClose(f.fd)
		delete(statFiles, tid)
		if e != syscall.ESRCH {
			return 0, false, fmt.Errorf("read /proc/self/task/%d/stat: %w", tid, e)
		}
	}
	p := strconv.AppendInt(statPath[:0], int64(tid), 10)
	p = append(p, "/stat\x00"...)
	fd, e := procOpenAt(dir, p, 0)
	if e == syscall.ENOENT || e == syscall.ESRCH {
		return 0, false, nil
	}
	if e != 0 {
		return 0, false, fmt.Errorf("open /proc/self/task/%d/stat: %w", tid, e)
	}
	n, e = procReadAll(fd, buf)
	if e != 0 || len(statFiles) >= maxStatFiles {
		procClose(fd)
	} else {
		statFiles[tid] = statFile{fd: fd, gen: statGen}
	}
	if e == syscall.ESRCH {
		return 0, false, nil
	}
	if e != 0 {
		return 0, false, fmt.Errorf("read /proc/self/task/%d/stat: %w", tid, e)
	}
	return n, true, nil
}

// beginStatScan starts a scan of every thread; endStatScan closes the files
// of threads the scan did not see (they have exited).
func beginStatScan() { statGen++ }

func endStatScan() {
	for tid, f := range statFiles {
		if f.gen != statGen {
			procClose(f.fd)
			delete(statFiles, tid)
		}
	}
}

// statPath is readTaskStat's path buffer.
var statPath [32]byte

// taskDir is /proc/self/task, kept open (noFD: not open yet): opening it
// cost as much as reading a few threads' stat files. Each scan seeks it
// back to its start, which makes getdents list the threads afresh.
var taskDir = noFD

// openTaskDir returns taskDir, open and rewound to its first entry.
func openTaskDir() (uintptr, error) {
	if taskDir != noFD {
		if _, _, e := syscall.RawSyscall(syscall.SYS_LSEEK, taskDir, 0, 0); e == 0 { // SEEK_SET
			return taskDir, nil
		}
		procClose(taskDir)
		taskDir = noFD
	}
	path := [...]byte{'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 't', 'a', 's', 'k', 0}
	dir, e := procOpenAt(atFDCWD, path[:], syscall.O_DIRECTORY)
	if e != 0 {
		return 0, fmt.Errorf("open /proc/self/task: %w", e)
	}
	taskDir = dir
	return dir, nil
}

// selfStatus is /proc/self/status, kept open for readTracerPid (noFD: not
// open yet; 0 is a valid descriptor once a program has closed its stdin).
var selfStatus = noFD

const noFD = ^uintptr(0)

// readSelfStatus reads /proc/self/status into buf.
func readSelfStatus(buf []byte) (int, error) {
	if selfStatus != noFD {
		if n, e := procReadAll(selfStatus, buf); e == 0 {
			return n, nil
		}
		procClose(selfStatus)
		selfStatus = noFD
	}
	path := [...]byte{'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 's', 't', 'a', 't', 'u', 's', 0}
	fd, e := procOpenAt(atFDCWD, path[:], 0)
	if e != 0 {
		return 0, fmt.Errorf("open /proc/self/status: %w", e)
	}
	n, e := procReadAll(fd, buf)
	if e != 0 {
		procClose(fd)
		return 0, fmt.Errorf("read /proc/self/status: %w", e)
	}
	selfStatus = fd
	return n, nil
}
