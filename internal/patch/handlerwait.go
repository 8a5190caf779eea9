//go:build linux && amd64 && !pvswitch_nohandlerwait

package patch

import "github.com/pvswitch/pvswitch/internal/int3"

// waitHandlers waits out trap handlers that may hold an old descriptor.
func waitHandlers() { int3.WaitHandlers() }
