//go:build !pvswitch_testhooks

package patch

import "syscall"

// The test hooks of the window, empty in normal builds: both calls inline
// to nothing (hooks_on.go has the test build's versions).

// injected returns the error a test injects at step (for site i of the
// batch): never, here.
func injected(step string, i int) syscall.Errno { return 0 }

// armedHook runs inside the window once INT3 is on every site of the
// batch and every core is synced, before the commit: nothing, here.
func armedHook() {}
