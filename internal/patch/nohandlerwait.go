//go:build linux && amd64 && pvswitch_nohandlerwait

package patch

// waitHandlers is the fault injection of the pvswitch_nohandlerwait build
// tag: it skips the wait for trap handlers, so a handler that loaded an old
// descriptor can act after Switch returned. A test (TestHandlerWait, tag
// pvswitch_stall) must fail in such a build.
func waitHandlers() {}
