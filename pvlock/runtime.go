package pvlock

import _ "unsafe" // for go:linkname

// The runtime semaphore, reached the way package sync reaches it. Parking
// through it tells the scheduler the goroutine is blocked: its thread and P
// go on running other goroutines. A waiter must never block its thread
// behind the scheduler's back (a raw futex wait), which would take the
// thread away from every other goroutine.
//
// Why it and not the alternatives (park_test.go, on the reference 2-vCPU
// VM): a sleep/wake ping-pong costs ~350 ns with the runtime semaphore,
// ~350 ns with a channel, and ~7 us with a futex through syscall.Syscall;
// 1000 sleepers at once took ~2.3 ms and no new OS thread with the first
// two, ~140 ms and 998 new OS threads with the futex (each sleeper holds
// its thread in the kernel). A channel is as fast but needs a channel per
// lock: an allocation, and a zero-value SpinLock could only get one lazily.
// The semaphore needs just the 4-byte word beside the lock word.
//
// semacquire is sync.runtime_SemacquireRWMutex because it takes lifo: a
// waiter that was woken and has to sleep again goes to the head of the queue,
// so the longest waiter is the next one kicked (as in sync.Mutex).

//go:linkname semacquire sync.runtime_SemacquireRWMutex
func semacquire(s *uint32, lifo bool, skipframes int)

//go:linkname semrelease sync.runtime_Semrelease
func semrelease(s *uint32, handoff bool, skipframes int)

// fatal prints "fatal error: " and msg and ends the process; it cannot be
// recovered, as for sync.Mutex misuse.
//
//go:linkname fatal sync.fatal
func fatal(msg string)

//go:linkname nanotime runtime.nanotime
func nanotime() int64
