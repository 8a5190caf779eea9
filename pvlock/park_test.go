package pvlock

import (
	"fmt"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// The paravirt waiter needs a way to sleep that the Go scheduler knows
// about. These benchmarks measured the three candidates; runtime.go says
// which was chosen and why.
//
// BenchmarkParkWake: a wake/sleep ping-pong between two goroutines (one
// iteration = two sleeps and two wakes). BenchmarkParkMany: 1000
// goroutines asleep at once, woken one by one; it reports how many OS
// threads the process had to create for them.

// parker is one way to sleep and be woken.
type parker interface {
	sleep()
	wake()
}

type semaParker struct{ s uint32 }

func (p *semaParker) sleep() { semacquire(&p.s, false, 0) }
func (p *semaParker) wake()  { semrelease(&p.s, false, 0) }

type chanParker struct{ c chan struct{} }

func (p *chanParker) sleep() { <-p.c }
func (p *chanParker) wake()  { p.c <- struct{}{} }

// futexParker is a counting semaphore on a futex word, through
// syscall.Syscall (which tells the scheduler the thread is blocked, so
// other goroutines get a P, but the thread itself stays asleep in the
// kernel: one OS thread per sleeper).
type futexParker struct{ n atomic.Int32 }

const (
	futexWaitPrivate = 0 | 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG, linux/futex.h
	futexWakePrivate = 1 | 128 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

func (p *futexParker) sleep() {
	for {
		n := p.n.Load()
		if n > 0 && p.n.CompareAndSwap(n, n-1) {
			return
		}
		if n <= 0 {
			syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&p.n)), futexWaitPrivate, uintptr(n), 0, 0, 0)
		}
	}
}

func (p *futexParker) wake() {
	p.n.Add(1)
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&p.n)), futexWakePrivate, 1, 0, 0, 0)
}

var parkers = []struct {
	name string
	new  func() parker
}{
	{"mech=runtime-semaphore", func() parker { return new(semaParker) }},
	{"mech=channel", func() parker { return &chanParker{make(chan struct{})} }},
	{"mech=futex-syscall", func() parker { return new(futexParker) }},
}

func BenchmarkParkWake(b *testing.B) {
	for _, pk := range parkers {
		b.Run(pk.name, func(b *testing.B) {
			ping, pong := pk.new(), pk.new()
			done := make(chan struct{})
			go func() {
				for range b.N {
					ping.sleep()
					pong.wake()
				}
				close(done)
			}()
			b.ResetTimer()
			for range b.N {
				ping.wake()
				pong.sleep()
			}
			<-done
		})
	}
}

func BenchmarkParkMany(b *testing.B) {
	const sleepers = 1000
	for _, pk := range parkers {
		b.Run(fmt.Sprintf("%s/sleepers=%d", pk.name, sleepers), func(b *testing.B) {
			threads := pprof.Lookup("threadcreate")
			before := threads.Count()
			for b.Loop() {
				ps := make([]parker, sleepers)
				var wg sync.WaitGroup
				var asleep atomic.Int32
				for i := range ps {
					ps[i] = pk.new()
					wg.Add(1)
					go func() { asleep.Add(1); ps[i].sleep(); wg.Done() }()
				}
				for asleep.Load() < sleepers {
					runtime.Gosched()
				}
				time.Sleep(time.Millisecond) // let them reach the sleep
				for _, p := range ps {
					p.wake()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(threads.Count()-before), "threads-created")
		})
	}
}
