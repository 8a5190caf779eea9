package patch

import (
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
func procReadAll(fd uintptr, buf []byte) (int, syscall.Errno) {
	n := 0
	for n < len(buf) {
		m, _, e := syscall.RawSyscall6(syscall.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&buf[n])), uintptr(len(buf)-n), uintptr(n), 0, 0)
		if e != 0 {
			return 0, e
		}
		if m == 0 {
			break
		}
		n += int(m)
	}
	return n, 0
}

// procClose closes fd.
func procClose(fd uintptr) { syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0) }

const atFDCWD = ^uintptr(99) // AT_FDCWD (-100)
