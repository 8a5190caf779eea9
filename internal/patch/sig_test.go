//go:build linux && amd64

package patch_test

import (
	"syscall"

	"github.com/pvswitch/pvswitch/internal/int3"
)

// goHandler is SIGTRAP's action before patch.Init: the Go runtime's.
var goHandler int3.Sigaction

func rtSigaction(act, old *int3.Sigaction) syscall.Errno {
	return int3.RtSigaction(int(syscall.SIGTRAP), act, old)
}

func saveGoHandler() {
	if e := rtSigaction(nil, &goHandler); e != 0 {
		panic(e)
	}
}
