//go:build linux && amd64

package patch_test

import (
	"syscall"
	"unsafe"
)

// sigactiont is the kernel's struct sigaction on x86-64.
type sigactiont struct {
	handler, flags, restorer, mask uint64
}

// goHandler is SIGTRAP's action before patch.Init: the Go runtime's.
var goHandler sigactiont

func rtSigaction(act, old *sigactiont) syscall.Errno {
	_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGTRAP), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	return e
}

func saveGoHandler() {
	if e := rtSigaction(nil, &goHandler); e != 0 {
		panic(e)
	}
}
