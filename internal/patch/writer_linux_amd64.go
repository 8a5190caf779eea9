package patch

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/asm"
)

const (
	pageSize = 4096

	// envWriter set to "mprotect" selects the fallback writer.
	envWriter = "PVSWITCH_PATCH_WRITER"
)

// Text writers.
const (
	writerProcMem  = "procmem"  // pwrite to /proc/self/mem: text never writable+executable
	writerMprotect = "mprotect" // mprotect RWX for the write only, then back to R-X
)

var (
	writer string // writerProcMem or writerMprotect, chosen once by Init
	memFD  = -1   // /proc/self/mem, opened once by Init, before any window
)

// poke copies n bytes from src to dst (text made writable by mprotect).
// Assembly: no race instrumentation of text addresses.
func poke(dst, src, n uintptr)

// pickWriter opens /proc/self/mem and checks that a write of a site's own
// first byte goes through; if not (proc_mem.force_override=never), or if
// PVSWITCH_PATCH_WRITER=mprotect, it falls back to mprotect after checking
// that the sites' pages are r-x.
func pickWriter(sites []*asm.Site) error {
	var procErr error
	if os.Getenv(envWriter) != writerMprotect {
		fd, err := syscall.Open("/proc/self/mem", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err == nil {
			memFD = fd
			if len(sites) > 0 {
				s := sites[0]
				b := s.Live()[:1]
				if e := pwrite(s.Addr(), b); e != 0 {
					procErr = fmt.Errorf("pwrite /proc/self/mem: %w", e)
				}
			}
			if procErr == nil {
				writer = writerProcMem
				return nil
			}
		} else {
			procErr = err
		}
	}
	if err := checkTextProt(sites); err != nil {
		return errors.Join(procErr, err)
	}
	// Prove the writer, as for procmem: rewrite a site's own first byte
	// (the same byte: harmless while other threads run it). Under a
	// memory-deny-write-execute policy (prctl PR_SET_MDWE) the kernel
	// refuses the RWX mprotect, and every switch would fail.
	if len(sites) > 0 {
		s := sites[0]
		if e := mprotectWrite(s.Addr(), s.Live()[:1]); e != 0 {
			return errors.Join(procErr, fmt.Errorf("mprotect writer: rewriting site %s's first byte in place: mprotect: %w (a memory-deny-write-execute policy, prctl PR_SET_MDWE, refuses writable+executable pages)", s.Name(), e))
		}
	}
	writer = writerMprotect
	return nil
}

// Mechanism returns how text is written: "procmem" (pwrite to
// /proc/self/mem, no page ever writable+executable) or "mprotect" (the
// page is RWX for the write only), or "" if patching is unavailable.
func Mechanism() string {
	if Init() != nil {
		return ""
	}
	return writer
}

// write writes b at addr with the chosen writer (raw syscalls only).
func write(addr uintptr, b []byte, step string, i int) syscall.Errno {
	if e := injected(step, i); e != 0 {
		return e
	}
	if writer == writerProcMem {
		return pwrite(addr, b)
	}
	return mprotectWrite(addr, b)
}

func pwrite(addr uintptr, b []byte) syscall.Errno {
	n, _, e := syscall.RawSyscall6(syscall.SYS_PWRITE64, uintptr(memFD), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), addr, 0, 0)
	if e == 0 && n != uintptr(len(b)) {
		return syscall.EIO
	}
	return e
}

// mprotectWrite makes the pages of [addr, addr+len(b)) RWX, writes, and
// restores R-X at once. PROT_EXEC is never dropped: other threads may be
// running code on these pages.
func mprotectWrite(addr uintptr, b []byte) syscall.Errno {
	lo := addr &^ (pageSize - 1)
	hi := (addr + uintptr(len(b)) + pageSize - 1) &^ (pageSize - 1)
	const rx = syscall.PROT_READ | syscall.PROT_EXEC
	if _, _, e := syscall.RawSyscall(syscall.SYS_MPROTECT, lo, hi-lo, rx|syscall.PROT_WRITE); e != 0 {
		return e
	}
	poke(addr, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	_, _, e := syscall.RawSyscall(syscall.SYS_MPROTECT, lo, hi-lo, rx)
	return e
}
