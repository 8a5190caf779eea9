package pvlock_test

import (
	"fmt"
	"sync"

	"github.com/pvswitch/pvswitch/pvlock"
)

// A SpinLock guards a short critical section, like a sync.Mutex; its zero
// value is unlocked.
func ExampleSpinLock() {
	var (
		mu    pvlock.SpinLock
		count int
		wg    sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				mu.Lock()
				count++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Println(count)
	// Output: 8000
}

// TryLock takes the lock only if it is free, and never waits.
func ExampleSpinLock_TryLock() {
	var mu pvlock.SpinLock
	fmt.Println(mu.TryLock())
	fmt.Println(mu.TryLock())
	mu.Unlock()
	// Output:
	// true
	// false
}

// The mode is chosen at start from PVLOCK_MODE; ReadStats shows what the
// slow paths did.
func ExampleCurrentMode() {
	switch pvlock.CurrentMode() {
	case pvlock.Native:
		fmt.Println("spinning waiters")
	case pvlock.Paravirt:
		fmt.Println("bounded spin, then park")
	}
	if s := pvlock.ReadStats(); s.Rescues != 0 {
		fmt.Println("lost wakeups:", s.Rescues)
	}
}
