package barrier

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/fault"
)

const (
	stateA = 0
	stateB = 1
)

func TestEnterExit(t *testing.T) {
	var b Barrier
	tok, ok := b.Enter(stateA)
	if !ok {
		t.Fatal("Enter on an open barrier with the matching state failed")
	}
	if b.Drained() || b.Active() != 1 {
		t.Fatalf("after Enter: Drained=%v Active=%d", b.Drained(), b.Active())
	}
	b.Exit(tok)
	if !b.Drained() || b.Active() != 0 {
		t.Fatalf("after Exit: Drained=%v Active=%d", b.Drained(), b.Active())
	}
	if _, ok := b.Enter(stateB); ok {
		t.Fatal("Enter with a state other than the published one succeeded")
	}
	if !b.Drained() {
		t.Fatal("a refused Enter left a count behind")
	}
	b.Close()
	if _, ok := b.Enter(stateA); ok {
		t.Fatal("Enter through a closed gate succeeded")
	}
	if !b.Drained() {
		t.Fatal("a refused Enter left a count behind")
	}
	b.Open(stateB)
	if b.State() != stateB || !b.IsOpen() {
		t.Fatalf("after Open(B): state %d open %v", b.State(), b.IsOpen())
	}
	if _, ok := b.Enter(stateA); ok {
		t.Fatal("Enter of the old state after a commit succeeded")
	}
	tok, ok = b.Enter(stateB)
	if !ok {
		t.Fatal("Enter of the new state failed")
	}
	b.Exit(tok)
}

// TestExitOnAnotherP: an op that leaves on another P than it entered on
// still leaves every shard at zero.
func TestExitOnAnotherP(t *testing.T) {
	var b Barrier
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5000 {
				tok, ok := b.Enter(stateA)
				if !ok {
					t.Error("Enter failed on an open barrier")
					return
				}
				runtime.Gosched() // may resume on another P
				b.Exit(tok)
			}
		}()
	}
	wg.Wait()
	if !b.Drained() {
		t.Fatalf("shards not all zero after every op left (sum %d)", b.Active())
	}
}

func TestDrainBusyWithinBound(t *testing.T) {
	var b Barrier
	tok, _ := b.Enter(stateA)
	b.Close()
	start := time.Now()
	err := b.Drain(context.Background(), 20*time.Millisecond, nil)
	took := time.Since(start)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Drain with an op still counted: %v, want ErrBusy", err)
	}
	if took < 20*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Drain gave up after %v, want just past its 20ms bound", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Drain(ctx, time.Hour, nil); !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain with a cancelled context: %v, want ErrBusy and context.Canceled", err)
	}
	go func() { time.Sleep(5 * time.Millisecond); b.Exit(tok) }()
	if err := b.Drain(context.Background(), 5*time.Second, nil); err != nil {
		t.Fatalf("Drain after the op leaves: %v", err)
	}
	b.Open(stateA)
}

// TestDrainKicksAndIsStrict: Drain calls its kick once, and a drain whose
// switcher ran past the bound (here: inside the kick) reports ErrBusy even
// though the count is zero by then.
func TestDrainKicksAndIsStrict(t *testing.T) {
	var b Barrier
	b.Close()
	kicks := 0
	if err := b.Drain(context.Background(), time.Second, func() { kicks++ }); err != nil || kicks != 1 {
		t.Fatalf("Drain of an empty count: %v, kick called %d times, want nil and once", err, kicks)
	}
	err := b.Drain(context.Background(), time.Millisecond, func() { time.Sleep(20 * time.Millisecond) })
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Drain whose switcher ran 20ms past a 1ms bound: %v, want ErrBusy", err)
	}
	b.Open(stateA)
}

func TestWaitWokenByOpen(t *testing.T) {
	var b Barrier
	b.Close()
	var retries atomic.Int32
	done := make(chan bool)
	go func() {
		done <- b.Wait(time.Hour, func() bool { retries.Add(1); return false })
	}()
	time.Sleep(10 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("Wait returned while the gate was closed")
	default:
	}
	b.Open(stateA)
	select {
	case got := <-done:
		if got {
			t.Fatal("Wait reported a successful retry that never happened")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait was not woken by Open")
	}
	if b.Wait(time.Hour, func() bool { t.Fatal("retry called with the gate open"); return true }) {
		t.Fatal("Wait on an open gate reported a retry")
	}
}

func TestWaitRetries(t *testing.T) {
	var b Barrier
	b.Close()
	defer b.Open(stateA)
	var n atomic.Int32
	start := time.Now()
	if !b.Wait(time.Millisecond, func() bool { return n.Add(1) == 3 }) {
		t.Fatal("Wait did not return the successful retry")
	}
	// Intervals 1 ms, then 2 ms twice (doubled, then capped): at least
	// 5 ms for three retries.
	if n.Load() != 3 || time.Since(start) < 5*time.Millisecond {
		t.Fatalf("retried %d times in %v, want 3 at 1, 2 and 2 ms intervals", n.Load(), time.Since(start))
	}
}

// TestWaitBacksOff: a waiter whose retries fail retries ever more seldom
// (doubling up to maxRetryEvery), so hundreds of waiters at the gate do not
// take the CPUs from the switcher; the gate opening still wakes it at once.
func TestWaitBacksOff(t *testing.T) {
	var b Barrier
	b.Close()
	var n atomic.Int32
	done := make(chan bool)
	go func() { done <- b.Wait(100*time.Microsecond, func() bool { n.Add(1); return false }) }()
	const closed = 40 * time.Millisecond
	time.Sleep(closed)
	opened := time.Now()
	b.Open(stateA)
	if <-done {
		t.Fatal("Wait reported a successful retry that never happened")
	}
	// A fixed 100 us would retry about 400 times in 40 ms; the backoff
	// (0.1, 0.2, ... 1.6, then 2 ms) at most 5 + 40/2 = 25 times.
	if got := n.Load(); got > 25 || got < 1 {
		t.Errorf("%d retries while the gate was closed for %v: want 1..25 (backoff to %v)", got, closed, maxRetryEvery)
	}
	if d := time.Since(opened); d > time.Second {
		t.Errorf("Wait returned %v after the gate opened", d)
	}
	t.Logf("%d retries in %v", n.Load(), closed)
	// The count above cannot tell a fixed interval from the backoff where
	// short timers fire late (about 1.4 ms on an idle 2-vCPU guest): the
	// interval sequence itself is checked here.
	var seq []time.Duration
	for d := 100 * time.Microsecond; len(seq) < 8; d = nextRetry(d) {
		seq = append(seq, d)
	}
	want := []time.Duration{100e3, 200e3, 400e3, 800e3, 1600e3, 2e6, 2e6, 2e6}
	if !slices.Equal(seq, want) {
		t.Errorf("retry intervals %v, want %v", seq, want)
	}
	if d := nextRetry(time.Hour); d != time.Hour {
		t.Errorf("a retry interval above the cap became %v; it must not shrink", d)
	}
}

// TestStoreBufferLitmus runs the count/gate handshake as a store-buffer
// litmus test on two OS threads: one op Enters (count, then load the gate)
// while the switcher closes the gate and reads the counts. The forbidden
// outcome is: the op saw the gate open AND the switcher saw every shard at
// zero. With the XCHG close it never happens; with
// the fault PlainGate (a plain MOV close; PVSWITCH_FAULTS=plaingate in a
// pvswitch_testhooks build) x86's store buffer lets it happen,
// and this test fails.
func TestStoreBufferLitmus(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("a store-buffer litmus needs two CPUs running at once")
	}
	trials := 1_000_000
	if testing.Short() {
		trials = 200_000
	}
	deadline := time.Now().Add(time.Hour)
	if fault.Active(fault.PlainGate) {
		// Searching for a counterexample: go on until one shows up, for
		// up to 30 s.
		trials, deadline = 1<<40, time.Now().Add(30*time.Second)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))

	var (
		b         Barrier
		arrive    atomic.Int64 // a two-party spin barrier: 3 arrivals each per trial
		drained   atomic.Bool  // what the switcher saw in the current trial
		stop      atomic.Bool  // set by the op before the trial's last meeting
		forbidden int
		ran       int64
		wg        sync.WaitGroup
	)
	// meet waits until both sides have arrived n times in all.
	meet := func(n int64) {
		arrive.Add(1)
		for arrive.Load() < 2*n {
		}
	}
	wg.Add(2)
	go func() { // the op
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := range int64(trials) {
			meet(3*i + 1)
			tok, ok := b.Enter(stateA)
			meet(3*i + 2)
			if ok {
				if drained.Load() {
					forbidden++
				}
				b.Exit(tok)
			}
			ran = i + 1
			if ran == int64(trials) || (fault.Active(fault.PlainGate) && forbidden > 0) || i%1024 == 0 && time.Now().After(deadline) {
				stop.Store(true)
			}
			meet(3*i + 3)
			if stop.Load() {
				return
			}
		}
	}()
	go func() { // the switcher
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := range int64(trials) {
			meet(3*i + 1)
			closeGate(&b.gate)
			drained.Store(b.Drained())
			meet(3*i + 2)
			meet(3*i + 3)
			b.gate.Store(open) // reset for the next trial; the op is out
			if stop.Load() {
				return
			}
		}
	}()
	wg.Wait()
	t.Logf("%d trials, forbidden outcome (op saw gate open, switcher saw zero) %d times", ran, forbidden)
	if forbidden != 0 {
		t.Fatalf("store-buffer reordering: %d of %d trials let an op run uncounted past a closed gate", forbidden, ran)
	}
}
