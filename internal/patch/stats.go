package patch

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/int3"
)

var (
	mu    sync.Mutex             // one switch at a time; guards armed
	armed = map[*asm.Site]bool{} // sites left with INT3 by a failed roll-forward

	switches, aborted, lastWindow, maxWindow atomic.Int64
	maxCheckGap, maxCheckToEnd               atomic.Int64
)

// Stats are the patcher's counters.
type Stats struct {
	Switches   int64         // switches that committed
	Aborted    int64         // switches undone before their commit point
	LastWindow time.Duration // pinned window of the last committed switch
	MaxWindow  time.Duration // longest pinned window so far
	Mechanism  string        // Mechanism()
	InFlight   int64         // trap handlers running now
	Armed      int           // sites left on INT3 by a failed roll-forward (switch them again to finish)
	// MaxCheckGap is the longest stretch of a window between two checks
	// that the SIGTRAP handler is still ours, and MaxCheckToEnd the
	// longest from a window's last check to its end: a handler installed
	// over ours within such a stretch is not seen by that window.
	MaxCheckGap, MaxCheckToEnd time.Duration
}

// ReadStats returns the current counters.
func ReadStats() Stats {
	mu.Lock()
	n := 0
	for _, a := range armed {
		if a {
			n++
		}
	}
	mu.Unlock()
	return Stats{
		Armed:      n,
		Switches:   switches.Load(),
		Aborted:    aborted.Load(),
		LastWindow: time.Duration(lastWindow.Load()),
		MaxWindow:  time.Duration(maxWindow.Load()),
		Mechanism:  Mechanism(),
		InFlight:   int3.InFlight(),

		MaxCheckGap:   time.Duration(maxCheckGap.Load()),
		MaxCheckToEnd: time.Duration(maxCheckToEnd.Load()),
	}
}

// recordWindow counts a committed switch whose pinned window took d.
func recordWindow(d time.Duration) {
	switches.Add(1)
	lastWindow.Store(int64(d))
	for {
		m := maxWindow.Load()
		if int64(d) <= m || maxWindow.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// recordExposure records a window's longest stretch between two ownership
// checks of the SIGTRAP handler and its stretch from the last one to its
// end.
func recordExposure(gap, toEnd time.Duration) {
	storeMax(&maxCheckGap, gap)
	storeMax(&maxCheckToEnd, toEnd)
}

func storeMax(m *atomic.Int64, d time.Duration) {
	for {
		v := m.Load()
		if int64(d) <= v || m.CompareAndSwap(v, int64(d)) {
			return
		}
	}
}
