//go:build !race

package ttas

import "unsafe"

const raceEnabled = false

func raceAcquire(unsafe.Pointer) {}
func raceRelease(unsafe.Pointer) {}
