package pvlock

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkKick measures the kick path: a release that must wake a waiter
// asleep on the lock, against sync.Mutex's Unlock waking its sleeper.
// Per iteration the holder keeps the lock while the waiter blocks in Lock
// and falls asleep (the holder waits 200 us: far past either lock's spin),
// then releases. Reported, as medians over the iterations:
//
//	release-ns  what the releasing goroutine pays: the Unlock call
//	wake-ns     from the start of Unlock until the waiter holds the lock
//
// The waiter is a plain goroutine, or one locked to its OS thread (its
// wake then needs the OS to run that thread). GOMAXPROCS=2.
func BenchmarkKick(b *testing.B) {
	locks := []benchLock{benchLocks[1], benchLocks[3]} // paravirt, sync.Mutex
	for _, locked := range []bool{false, true} {
		for _, bl := range locks {
			kind := "goroutine"
			if locked {
				kind = "thread"
			}
			b.Run(fmt.Sprintf("waiter=%s/%s", kind, bl.name), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
				kick(b, bl.new(), locked)
			})
		}
	}
}

func kick(b *testing.B, l sync.Locker, lockThread bool) {
	start := make(chan struct{})
	got := make(chan time.Time)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if lockThread {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		for range start {
			l.Lock()
			t := time.Now()
			l.Unlock()
			got <- t
		}
	}()
	release := make([]time.Duration, 0, b.N)
	wake := make([]time.Duration, 0, b.N)
	for b.Loop() {
		l.Lock()
		start <- struct{}{}
		time.Sleep(200 * time.Microsecond)
		t0 := time.Now()
		l.Unlock()
		t1 := time.Now()
		t2 := <-got
		release = append(release, t1.Sub(t0))
		wake = append(wake, t2.Sub(t0))
	}
	close(start)
	wg.Wait()
	b.ReportMetric(float64(median(release).Nanoseconds()), "release-ns")
	b.ReportMetric(float64(median(wake).Nanoseconds()), "wake-ns")
	b.ReportMetric(0, "ns/op")
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
