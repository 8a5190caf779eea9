//go:build linux && amd64 && !pvswitch_flagdispatch

package pvlock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/patch"
)

// blockSIGTRAPThread starts a goroutine locked to its OS thread that blocks
// SIGTRAP with a raw rt_sigprocmask (as C code called through cgo could
// leave it) and keeps it blocked until the returned function is called;
// it returns the thread's id.
func blockSIGTRAPThread(t *testing.T) (tid int, unblock func()) {
	t.Helper()
	ready := make(chan int)
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		set := uint64(1) << (syscall.SIGTRAP - 1)
		var old uint64
		const sigBlock, sigSetmask = 0, 2
		if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, sigBlock, uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			ready <- -int(e)
			return
		}
		ready <- syscall.Gettid()
		<-release
		syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, sigSetmask, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
		runtime.UnlockOSThread()
	}()
	tid = <-ready
	if tid < 0 {
		t.Fatalf("rt_sigprocmask: %v", syscall.Errno(-tid))
	}
	return tid, func() { close(release); <-done }
}

// TestSwitchRefusedWhenThreadBlocksSIGTRAP: a thread that blocks SIGTRAP
// and runs a lock op while a switch has armed the site is killed by the
// kernel with SIGTRAP's default action, no Go output. Switch must see the
// thread first and refuse, naming it (tid and comm), with the mode
// unchanged; once the thread unblocks SIGTRAP it works again.
func TestSwitchRefusedWhenThreadBlocksSIGTRAP(t *testing.T) {
	if ReadStatus().Mechanism != Patched {
		t.Fatalf("the patched mechanism is unavailable on linux/amd64: %v", ReadStatus().Why)
	}
	start := CurrentMode()
	tid, unblock := blockSIGTRAPThread(t)
	err := Switch(context.Background(), other(start))
	unblock()
	var se *patch.SigBlockedError
	if !errors.Is(err, patch.ErrSigBlocked) || !errors.As(err, &se) || errors.Is(err, ErrBusy) {
		t.Fatalf("Switch with thread %d blocking SIGTRAP: %v, want patch.ErrSigBlocked", tid, err)
	}
	if se.Tid != tid || se.Comm == "" || !strings.Contains(err.Error(), fmt.Sprintf("thread %d (%s)", tid, se.Comm)) {
		t.Fatalf("the error does not name thread %d and its comm: %v", tid, err)
	}
	if CurrentMode() != start || sitesMode() != start {
		t.Fatalf("refused switch changed the mode: published %v, sites %v, want %v", CurrentMode(), sitesMode(), start)
	}
	t.Logf("refused: %v", err)
	mustSwitch(t, other(start))
	mustSwitch(t, start)
}
