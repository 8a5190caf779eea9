package pvlock

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pvswitch/pvswitch/internal/barrier"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/race"
)

var modes = []Mode{Native, Paravirt}

func TestZeroValueAndTryLock(t *testing.T) {
	for _, m := range modes {
		t.Run("variant="+m.String(), func(t *testing.T) {
			var l SpinLock
			if !tryLock(&l) {
				t.Fatal("TryLock on the zero value failed")
			}
			if tryLock(&l) {
				t.Fatal("TryLock on a held lock succeeded")
			}
			unlockVariant(&l, m)
			if l.key != free {
				t.Fatalf("word after unlock = %d, want free", l.key)
			}
			lockVariant(&l, m)
			if tryLock(&l) {
				t.Fatal("TryLock succeeded while Lock holds it")
			}
			unlockVariant(&l, m)
			if !tryLock(&l) {
				t.Fatal("TryLock failed after Unlock")
			}
			unlockVariant(&l, m)
		})
	}
}

func tryLock(l *SpinLock) bool { return l.TryLock() }

func TestPublicMethodsRunProcessMode(t *testing.T) {
	var l SpinLock
	var _ sync.Locker = &l
	l.Lock()
	if l.key&locked == 0 {
		t.Fatal("Lock did not set the locked bit")
	}
	l.Unlock()
	if l.key != free {
		t.Fatalf("word after Unlock = %d, want free", l.key)
	}
}

// TestCrossVariantRelease checks the safe pairs of the transition table: a
// lock taken under one variant is released correctly under the other.
func TestCrossVariantRelease(t *testing.T) {
	for _, take := range modes {
		for _, release := range modes {
			var l SpinLock
			lockVariant(&l, take)
			unlockVariant(&l, release)
			if l.key != free {
				t.Fatalf("taken %v, released %v: word = %d", take, release, l.key)
			}
		}
	}
}

// TestParavirtKicksParkedWaiter drives one waiter to sleep and checks that
// the paravirt release wakes it: no rescue, exactly one kick.
func TestParavirtKicksParkedWaiter(t *testing.T) {
	var l SpinLock
	before := ReadStats()
	lockVariant(&l, Paravirt)
	got := make(chan struct{})
	go func() {
		lockVariant(&l, Paravirt)
		close(got)
	}()
	waitFor(t, "the waiter to park", func() bool { return ReadStats().Parks > before.Parks })
	if w := word(&l); w != lockedParked {
		t.Fatalf("word with a parked waiter = %d, want lockedParked", w)
	}
	unlockVariant(&l, Paravirt)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("parked waiter was not woken by the paravirt release")
	}
	unlockVariant(&l, Paravirt)
	d := ReadStats().Sub(before)
	if d.Rescues != 0 {
		t.Fatalf("rescues: %d", d.Rescues)
	}
	if d.Kicks < 1 {
		t.Fatal("no kick counted")
	}
}

// TestBackstopRescuesLostWakeup commits the one unsafe pair on purpose: a
// native release over a parked paravirt waiter. The waiter must be rescued,
// and counted, within a few monitor periods.
func TestBackstopRescuesLostWakeup(t *testing.T) {
	var l SpinLock
	before := ReadStats()
	lockVariant(&l, Paravirt)
	got := make(chan struct{})
	start := time.Now() // the waiter parks after this
	go func() {
		lockVariant(&l, Paravirt)
		close(got)
	}()
	waitFor(t, "the waiter to park", func() bool { return ReadStats().Parks > before.Parks })
	l.unlockNative() // the unsafe pair: clears lockedParked without a kick
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("lost wakeup was not rescued")
	}
	if d := time.Since(start); d < rescueAfter {
		t.Fatalf("woken %v after it began to wait, before the rescue delay %v: by whom?", d, rescueAfter)
	}
	unlockVariant(&l, Paravirt)
	if r := ReadStats().Sub(before).Rescues; r != 1 {
		t.Fatalf("rescues = %d, want 1", r)
	}
}

// TestScanConditions checks the monitor's conditions one by one on a
// private registry, so the real monitor cannot interfere.
func TestScanConditions(t *testing.T) {
	l := lockInQuietBucket(t)
	slots := make([]slot, 1)
	var seen kickHistory
	s := &slots[0]
	s.lock.Store(l)
	old := nanotime() - int64(time.Second)
	s.since.Store(old)
	s.state.Store(slotAsleep)
	bi := bucketIndex(l)
	b := &buckets[bi]
	before := ReadStats()
	rescue := func() int { return scan(slots, &seen, nanotime()) }
	consume := func() { semacquire(&l.sema, false, 0); b.ackKick() } // as the woken waiter would

	atomic.StoreUint32(&l.key, locked)
	if n := rescue(); n != 0 {
		t.Fatalf("rescued %d with the lock held", n)
	}
	atomic.StoreUint32(&l.key, free)
	atomic.StoreUint32(&l.sema, 1) // kicked, the waiter has not run yet
	if n := rescue(); n != 0 {
		t.Fatalf("rescued %d with a kick token pending", n)
	}
	atomic.StoreUint32(&l.sema, 0)
	b.kickBegin() // a release between clearing the word and the kick
	if n := rescue(); n != 0 {
		t.Fatalf("rescued %d with a kick in flight", n)
	}
	s.since.Store(nanotime())
	b.kickAbandon()
	if n := rescue(); n != 0 {
		t.Fatalf("rescued %d a waiter that slept less than %v", n, rescueAfter)
	}
	s.since.Store(old)
	s.state.Store(slotEvicted)
	if n := rescue(); n != 0 {
		t.Fatalf("rescued %d an evicted waiter (a switch owes it a token)", n)
	}
	s.state.Store(slotAsleep)
	var g barrier.Barrier // the barrier the sleeper counted in
	s.g.Store(&g)
	g.Close()
	if n := rescue(); n != 0 {
		t.Fatalf("rescued %d while a switch drains its barrier (the switch owes it a token or a kick)", n)
	}
	g.Open(0)
	if n := rescue(); n != 1 {
		t.Fatalf("scan rescued %d, want 1 (all conditions hold)", n)
	}
	consume()

	// A kick-in-flight count that has not moved for staleKick is a token
	// stranded on some other lock of the bucket: it must not hide this one.
	b.kickBegin()
	if n := rescue(); n != 0 {
		t.Fatalf("rescued %d with a fresh kick in flight", n)
	}
	seen[bi].since = nanotime() - int64(2*staleKick)
	if n := rescue(); n != 1 {
		t.Fatalf("scan rescued %d past a stale kick count, want 1", n)
	}
	consume()
	b.kickAbandon()
	if r := ReadStats().Sub(before).Rescues; r != 2 {
		t.Fatalf("rescues = %d, want 2", r)
	}
}

// lockInQuietBucket returns a new lock whose bucket has no kick in flight
// (other tests may leave stranded tokens in some buckets).
func lockInQuietBucket(t *testing.T) *SpinLock {
	for range 1000 {
		l := new(SpinLock)
		if kicksInFlight(bucketOf(l).kicks.Load()) == 0 {
			return l
		}
	}
	t.Fatal("every bucket has a kick in flight")
	return nil
}

// TestBackstopPastStrandedKick: a kick token stranded on lock M (its
// bucket's kick-in-flight count never drops) must not keep the backstop
// from rescuing a lost wakeup on lock L of the same bucket.
func TestBackstopPastStrandedKick(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out staleKick (1 s)")
	}
	l := lockInQuietBucket(t)
	var m *SpinLock
	for m == nil || bucketIndex(m) != bucketIndex(l) {
		m = new(SpinLock)
	}
	// Strand a kick on M: a paravirt release that saw 3 while another
	// lock's waiter was counted in the bucket, and no sleeper of M left.
	b := bucketOf(l)
	b.waiters.Add(1)
	atomic.StoreUint32(&m.key, lockedParked)
	m.unlockSlowParavirt()
	b.waiters.Add(-1)
	if atomic.LoadUint32(&m.sema) != 1 || kicksInFlight(b.kicks.Load()) == 0 {
		t.Fatalf("no stranded kick: sema %d, in flight %d", m.sema, kicksInFlight(b.kicks.Load()))
	}
	defer func() { semacquire(&m.sema, false, 0); b.ackKick() }()

	before := ReadStats()
	lockVariant(l, Paravirt)
	got := make(chan struct{})
	go func() { lockVariant(l, Paravirt); close(got) }()
	waitFor(t, "the waiter to park", func() bool { return ReadStats().Parks > before.Parks })
	l.unlockNative() // the unsafe pair: a lost wakeup
	select {
	case <-got:
	case <-time.After(staleKick + 5*time.Second):
		t.Fatal("a stranded kick on another lock of the bucket kept the backstop from rescuing")
	}
	unlockVariant(l, Paravirt)
	if r := ReadStats().Sub(before).Rescues; r != 1 {
		t.Fatalf("rescues = %d, want 1", r)
	}
}

// TestStarvation: a goroutine that needs 10 acquisitions of a lock that
// another goroutine re-takes every 100 us gets them within 10 s. The hog
// holds the lock for 50 us of every 100 us period and re-takes it as soon
// as the period ends. (A hog that re-took the lock the nanosecond after
// releasing it would starve any TTAS waiter that shares its CPU: the native
// variant has no queue and no handoff, by design.)
func TestStarvation(t *testing.T) {
	for _, m := range modes {
		t.Run("variant="+m.String(), func(t *testing.T) {
			var l SpinLock
			stop := make(chan struct{})
			var wg sync.WaitGroup
			t.Cleanup(func() { close(stop); wg.Wait() })
			var cycles atomic.Int64
			wg.Add(1)
			go func() { // the hog: a 100 us period, holding the first half
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					t0 := time.Now()
					lockVariant(&l, m)
					for time.Since(t0) < 50*time.Microsecond {
					}
					unlockVariant(&l, m)
					for time.Since(t0) < 100*time.Microsecond {
					}
					cycles.Add(1)
				}
			}()
			waitFor(t, "the hog to run", func() bool { return cycles.Load() >= 10 })
			slow := ReadStats().SlowAcquires
			start := time.Now()
			for range 10 {
				// Ask while the hog holds the lock, so every
				// acquisition has to wait for a release.
				for word(&l) == free && time.Since(start) < 10*time.Second {
				}
				lockVariant(&l, m)
				unlockVariant(&l, m)
				if time.Since(start) > 10*time.Second {
					break
				}
			}
			took := time.Since(start)
			t.Logf("10 acquisitions in %v, %d of them slow, while the hog cycled %d times", took, ReadStats().SlowAcquires-slow, cycles.Load())
			if ReadStats().SlowAcquires == slow {
				t.Fatal("no acquisition had to wait: the hog did not contend")
			}
			if took > 10*time.Second {
				t.Fatalf("10 acquisitions took %v, want <= 10 s", took)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range modes {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("fast"); err == nil || !strings.Contains(err.Error(), "pvlock") {
		t.Errorf("ParseMode(\"fast\") error = %v, want one naming pvlock", err)
	}
	if s := Mode(7).String(); s != "Mode(7)" {
		t.Errorf("Mode(7).String() = %q", s)
	}
}

func TestModeFromEnv(t *testing.T) {
	for _, tc := range []struct {
		val    string
		set    bool
		want   Mode
		logged bool
	}{
		{"", false, Native, false},
		{"", true, Native, false},
		{"native", true, Native, false},
		{"paravirt", true, Paravirt, false},
		{"Paravirt", true, Native, true},
		{"bogus", true, Native, true},
	} {
		var logs []string
		lookup := func(k string) (string, bool) {
			if k != EnvMode {
				t.Fatalf("looked up %q", k)
			}
			return tc.val, tc.set
		}
		logf := func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
		if got := modeFromEnv(lookup, logf); got != tc.want {
			t.Errorf("%s=%q: mode %v, want %v", EnvMode, tc.val, got, tc.want)
		}
		if (len(logs) > 0) != tc.logged {
			t.Errorf("%s=%q: logs %q, want logged=%v", EnvMode, tc.val, logs, tc.logged)
		}
		if tc.logged && !strings.Contains(logs[0], tc.val) {
			t.Errorf("log %q does not name the bad value", logs[0])
		}
	}
}

// TestEnvModeSubprocess checks PVLOCK_MODE end to end in a fresh process,
// and that nothing is written at start when the mode is the built one (the
// other is written in the background once the patcher is ready: ready.go;
// ReadStatus waits for that).
func TestEnvModeSubprocess(t *testing.T) {
	if os.Getenv("PVLOCK_TEST_CHILD") == "mode" {
		m := CurrentMode() // published at init, before the patcher is ready
		ReadStatus()
		fmt.Printf("mode=%v writes-at-start=%d\n", m, patch.ReadStats().Switches)
		var l SpinLock
		l.Lock()
		l.Unlock()
		os.Exit(0)
	}
	// Starting in native costs one batch of site writes where the sites
	// are patched, none under dispatch.
	startWrites := "1"
	if ReadStatus().Mechanism != Patched {
		startWrites = "0"
	}
	for _, tc := range []struct{ env, want, log string }{
		// The sites are built paravirt: only native needs a write at start.
		{"native", "mode=native writes-at-start=" + startWrites, ""},
		{"paravirt", "mode=paravirt writes-at-start=0", ""},
		{"nonsense", "mode=native writes-at-start=" + startWrites, `PVLOCK_MODE="nonsense" ignored`},
	} {
		out := child(t, "TestEnvModeSubprocess", "mode", EnvMode+"="+tc.env)
		if !strings.Contains(out, tc.want) || !strings.Contains(out, tc.log) {
			t.Errorf("%s=%s: output %q, want %q and %q", EnvMode, tc.env, out, tc.want, tc.log)
		}
	}
}

// TestMisuse: Unlock of an unlocked lock is fatal under paravirt and in race
// builds, and undetected under native otherwise.
func TestMisuse(t *testing.T) {
	if v := os.Getenv("PVLOCK_TEST_CHILD"); strings.HasPrefix(v, "misuse-") {
		var l SpinLock
		if v == "misuse-paravirt" {
			unlockVariant(&l, Paravirt)
		} else {
			unlockVariant(&l, Native)
		}
		fmt.Println("survived")
		os.Exit(0)
	}
	const msg = "fatal error: pvlock: unlock of unlocked SpinLock"
	out := child(t, "TestMisuse", "misuse-paravirt")
	if !strings.Contains(out, msg) {
		t.Errorf("paravirt misuse: output %q, want %q", out, msg)
	}
	out = child(t, "TestMisuse", "misuse-native")
	if race.Enabled {
		if !strings.Contains(out, msg) {
			t.Errorf("native misuse in a race build: output %q, want %q", out, msg)
		}
	} else if !strings.Contains(out, "survived") {
		t.Errorf("native misuse: output %q, want the documented silent no-op", out)
	}
}

// child re-runs this test binary for one test with PVLOCK_TEST_CHILD=what
// and returns its combined output.
func child(t *testing.T, test, what string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PVLOCK_TEST_CHILD="+what)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running child: %v", err)
	}
	return string(out)
}

func TestNoAllocation(t *testing.T) {
	if race.Enabled {
		t.Skip("the race runtime allocates on its own")
	}
	for _, m := range modes {
		var l SpinLock
		if n := testing.AllocsPerRun(1000, func() {
			lockVariant(&l, m)
			unlockVariant(&l, m)
			if l.TryLock() {
				l.Unlock()
			}
		}); n != 0 {
			t.Errorf("variant=%v: %v allocations per Lock/Unlock/TryLock", m, n)
		}
	}
	// The contended paths: a waiter that parks and is kicked, every round,
	// through the paravirt variant directly and through the public methods
	// (the sites and the switch barrier) in paravirt mode.
	parkKickAllocs(t, func(l *SpinLock) { lockVariant(l, Paravirt) }, func(l *SpinLock) { unlockVariant(l, Paravirt) })
	if !flagDispatch {
		start := CurrentMode()
		defer mustSwitch(t, start)
		mustSwitch(t, Paravirt)
		parkKickAllocs(t, (*SpinLock).Lock, (*SpinLock).Unlock)
	}
}

// parkKickAllocs runs rounds in which a waiter parks on a held lock and is
// kicked, and fails on any allocation made under pvlock's code. MemStats
// would also count the runtime's own allocations (a new M when it starts a
// thread), so every allocation is profiled and those made under pvlock's
// code are counted, except one: the runtime semaphore refills its pool of
// wait-queue entries (acquireSudog) after a GC emptied the central pool,
// exactly as under sync.Mutex.
func parkKickAllocs(t *testing.T, lock, unlock func(*SpinLock)) {
	t.Helper()
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	var l SpinLock
	var round, taken atomic.Int64
	const warm, rounds = 300, 300
	go func() {
		for i := int64(1); i <= warm+rounds; i++ {
			for round.Load() < i {
				runtime.Gosched()
			}
			lock(&l)
			unlock(&l)
			taken.Store(i)
		}
	}()
	var before map[string]int64
	parks := ReadStats().Parks
	for i := int64(1); i <= warm+rounds; i++ {
		if i == warm+1 {
			before = pvlockAllocs()
		}
		lock(&l)
		round.Store(i)
		for word(&l) != lockedParked { // the waiter has marked the word and sleeps
			runtime.Gosched()
		}
		unlock(&l)
		for taken.Load() < i {
			runtime.Gosched()
		}
	}
	if p := ReadStats().Parks - parks; p < rounds {
		t.Fatalf("only %d parks in %d rounds: the contended path was not exercised", p, rounds)
	}
	for stack, n := range pvlockAllocs() {
		if n > before[stack] {
			t.Errorf("%d allocations in %d park/kick rounds at:\n%s", n-before[stack], rounds, stack)
		}
	}
}

// pvlockAllocs returns the allocation counts of the memory profile by
// stack, for the stacks that pass through pvlock's code (not its tests).
func pvlockAllocs() map[string]int64 {
	runtime.GC()
	runtime.GC() // the profile lags up to two cycles
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	out := map[string]int64{}
	for _, r := range recs {
		var stack strings.Builder
		ours := false
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			fmt.Fprintf(&stack, "\t%s\n", f.Function)
			if strings.HasPrefix(f.Function, "github.com/pvswitch/pvswitch/pvlock.") &&
				!strings.HasSuffix(f.File, "_test.go") && !strings.Contains(f.Function, ".init") {
				ours = true
			}
			if !more {
				break
			}
		}
		if ours && !strings.Contains(stack.String(), "runtime.acquireSudog\n") {
			out[stack.String()] += r.AllocObjects
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// word reads a lock word atomically (the tests read words that other
// goroutines write).
func word(l *SpinLock) uint32 { return atomic.LoadUint32(&l.key) }
