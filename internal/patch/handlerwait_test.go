//go:build linux && amd64 && pvswitch_testhooks

package patch_test

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/int3"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

// TestHandlerWait: a trap handler that loaded the OLD descriptor before the
// commit and is stalled (int3 stall hook) must finish its old store before
// Switch returns. Switch's wait for handlers in flight guarantees it; with
// the fault NoHandlerWait that wait is skipped and this test fails: the old
// store lands after Switch returned.
//
//	go test -tags pvswitch_testhooks ./internal/patch -run TestHandlerWait                                # passes
//	PVSWITCH_FAULTS=nohandlerwait go test -tags pvswitch_testhooks ./internal/patch -run TestHandlerWait  # fails
func TestHandlerWait(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no stop-the-world while a thread is stalled
	// One P is pinned by Switch and one runs the stalled worker: the
	// releaser needs a third.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0))))
	s := testsite.FlagSite
	mustSwitch(t, 0, s) // variant 0 stores 1 (old), variant 1 stores 2 (new)

	var b uint8
	workerDone := make(chan struct{})
	int3.StallArm(s.Addr())
	defer int3.StallRelease()
	go func() { // runs the site until one of its traps stalled and finished
		defer close(workerDone)
		for int3.Stalled() == 0 {
			testsite.Flag(&b)
		}
	}()
	var switchReturned atomic.Bool
	var returnedAtRelease atomic.Bool
	released := make(chan struct{})
	go func() { // releases the stalled handler well after the commit
		defer close(released)
		for int3.Stalled() == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		returnedAtRelease.Store(switchReturned.Load())
		int3.StallRelease()
	}()
	patch.SetArmedHook(func() { // in the window, before the commit
		deadline := time.Now().Add(3 * time.Second)
		for int3.Stalled() == 0 && time.Now().Before(deadline) {
			syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		}
	})
	err := patch.Switch(to([]*asm.Site{s}, 1))
	patch.SetArmedHook(nil)
	switchReturned.Store(true)
	if err != nil {
		t.Fatal(err)
	}
	if int3.Stalled() == 0 {
		t.Fatal("no handler stalled on the armed site")
	}
	b = 0 // anything stored after Switch returned shows here
	<-released
	<-workerDone
	if returnedAtRelease.Load() || b == 1 {
		t.Fatalf("a trap handler emulated the old variant after Switch returned (b=%d, Switch had returned before the handler was released: %v)",
			b, returnedAtRelease.Load())
	}
	mustSwitch(t, 0, s)
}
