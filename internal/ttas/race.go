//go:build race

package ttas

import (
	"runtime"
	"unsafe"
)

// In race builds the lock tells the detector about the happens-before edges
// its assembly creates, as pvlock does.

const raceEnabled = true

func raceAcquire(p unsafe.Pointer) { runtime.RaceAcquire(p) }
func raceRelease(p unsafe.Pointer) { runtime.RaceRelease(p) }
