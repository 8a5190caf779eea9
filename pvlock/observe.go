package pvlock

import (
	"sync"
	"sync/atomic"
	"time"
)

// SwitchObserver is called once for each completed switch, after it
// completed, with the mode switched to and the switch's latency as its
// caller saw it (the same value ReadStatus reports as LastSwitch). It runs
// on the switching goroutine, after the new mode is live: it must return
// quickly and must not call Switch.
type SwitchObserver func(to Mode, latency time.Duration)

// observers is the copy-on-write list of registered observers.
var observers struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*SwitchObserver]
}

// ObserveSwitches registers f to be called for every switch that completes
// from now on (aborted and failed switches are not observed; ReadStatus
// counts them). It is how a metrics package builds a switch-latency
// histogram. The returned function unregisters f; it may be called more
// than once.
func ObserveSwitches(f SwitchObserver) (stop func()) {
	p := &f
	observers.mu.Lock()
	defer observers.mu.Unlock()
	var next []*SwitchObserver
	if cur := observers.list.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, p)
	observers.list.Store(&next)
	return func() {
		observers.mu.Lock()
		defer observers.mu.Unlock()
		cur := observers.list.Load()
		if cur == nil {
			return
		}
		var kept []*SwitchObserver
		for _, q := range *cur {
			if q != p {
				kept = append(kept, q)
			}
		}
		observers.list.Store(&kept)
	}
}

// observeSwitch calls the registered observers for a completed switch.
func observeSwitch(to Mode, d time.Duration) {
	cur := observers.list.Load()
	if cur == nil {
		return
	}
	for _, f := range *cur {
		(*f)(to, d)
	}
}
