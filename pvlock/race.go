//go:build race

package pvlock

import (
	"runtime"
	"unsafe"
)

const raceEnabled = true

func raceAcquire(p unsafe.Pointer) { runtime.RaceAcquire(p) }
func raceRelease(p unsafe.Pointer) { runtime.RaceRelease(p) }
