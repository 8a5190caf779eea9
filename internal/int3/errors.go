package int3

import "errors"

// Errors returned by Install, Check and Register. Match them with errors.Is.
var (
	// ErrUnsupported: the handler exists only on linux/amd64.
	ErrUnsupported = errors.New("int3: no SIGTRAP handler on this platform (linux/amd64 only); sites keep the variant they were built with")
	// ErrNotInstalled: Install has not run (or failed).
	ErrNotInstalled = errors.New("int3: SIGTRAP handler not installed; call int3.Install (patch.Init does) first")
	// ErrReplaced: another SIGTRAP handler was installed over ours; traps on
	// our sites would no longer be emulated, so nothing may be patched.
	ErrReplaced = errors.New("int3: the installed SIGTRAP handler is no longer ours (someone called sigaction(SIGTRAP) after int3.Install); patching is refused: do not replace SIGTRAP's handler in a program that patches code")
	// ErrNoPrevious: SIGTRAP had no handler to pass foreign traps to.
	ErrNoPrevious = errors.New("int3: SIGTRAP has no previous handler to pass foreign traps to (SIG_DFL or SIG_IGN); the Go runtime normally installs one: is this a Go program started normally?")
)
