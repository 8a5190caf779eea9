//go:build race

package race

import (
	"runtime"
	"unsafe"
)

// Enabled reports whether this is a race-detector build.
const Enabled = true

// Acquire records an acquire of the synchronization object at p.
func Acquire(p unsafe.Pointer) { runtime.RaceAcquire(p) }

// Release records a release of the synchronization object at p.
func Release(p unsafe.Pointer) { runtime.RaceRelease(p) }
