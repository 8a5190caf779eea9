package ttas

import (
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/race"
)

// Lock is a test-and-test-and-set spinlock. The zero value is unlocked.
type Lock struct{ key uint32 }

// Lock locks l, spinning while it is held.
func (l *Lock) Lock() {
	for !tryAcquire(&l.key) {
		preemptPoint()
	}
	if race.Enabled {
		race.Acquire(unsafe.Pointer(l))
	}
}

// Unlock unlocks l with one plain store.
func (l *Lock) Unlock() {
	if race.Enabled {
		race.Release(unsafe.Pointer(l))
	}
	release(&l.key)
}

// preemptPoint has a stack-check prologue (it is not a leaf), so a spinner
// that the scheduler wants to stop stops here.
//
//go:noinline
func preemptPoint() { leaf() }

//go:noinline
func leaf() {}
