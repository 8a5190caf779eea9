//go:build !race

package race

import "unsafe"

// Enabled reports whether this is a race-detector build.
const Enabled = false

// Acquire does nothing outside race builds.
func Acquire(unsafe.Pointer) {}

// Release does nothing outside race builds.
func Release(unsafe.Pointer) {}
