//go:build linux && amd64

package patch_test

import (
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/patch"
)

// TestSigMaskClassification: SIGTRAP blocked on its own (or with a few
// others) counts; the sets of the runtime's transient states (every
// signal blocked, or every one but glibc's 32 and 33) do not.
func TestSigMaskClassification(t *testing.T) {
	for _, c := range []struct {
		blk  uint64
		want bool
	}{
		{0, false},
		{1 << 4, true},              // SIGTRAP only
		{1<<4 | 1<<1 | 1<<14, true}, // SIGTRAP, SIGINT, SIGALRM
		{0xfffffffffffbfeff, false}, // in a signal handler / not started (Go)
		{0xfffffffe7ffbfeff, false}, // not started (glibc's pthread_create)
		{0xfffffffffffbfeff &^ (1 << 4), false},
	} {
		if got := patch.BlocksTrap(c.blk); got != c.want {
			t.Errorf("BlocksTrap(%016x) = %v, want %v", c.blk, got, c.want)
		}
	}
	if err := patch.CheckSigMask(); err != nil {
		t.Fatalf("no thread of this test blocks SIGTRAP: %v", err)
	}
}

// BenchmarkCheckSigMask: what the check adds to every switch (one /proc
// read per thread).
func BenchmarkCheckSigMask(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := patch.CheckSigMask(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStatBlocked: field 32 of a stat line, counted from the last ')' so
// that a command name with spaces and parentheses does not shift it.
func TestStatBlocked(t *testing.T) {
	// Fields 3 (state) to 31, then 32 (blocked), then a few more.
	head := " S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31"
	tail := head + " 16400 33 34 35\n"
	for _, c := range []struct {
		line string
		want uint64
		ok   bool
	}{
		{"123 (pvlock.test)" + tail, 16400, true},
		{"123 (a) b (c) d)" + tail, 16400, true},
		{"123 (x)  S 1", 0, false},
		{"no parenthesis" + tail, 0, false},
		{"123 (x)" + head + " -1 33\n", 0, false},
		{"123 (x)" + head + "\n", 0, false},
	} {
		got, ok := patch.StatBlocked([]byte(c.line))
		if got != c.want || ok != c.ok {
			t.Errorf("StatBlocked(%q) = %d, %v; want %d, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// TestStatAgreesWithStatus: for a thread that blocks SIGTRAP (and SIGUSR1)
// and for one that does not, the stat field the check reads holds the
// same standard signals as SigBlk in status, and the check refuses while
// the one thread blocks SIGTRAP.
func TestStatAgreesWithStatus(t *testing.T) {
	type res struct {
		tid int
		err error
	}
	for _, block := range []bool{false, true} {
		got := make(chan res)
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set, old uint64 = 1<<(5-1) | 1<<(10-1), 0
			if block {
				if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 0 /* SIG_BLOCK */, uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
					got <- res{err: e}
					return
				}
				defer syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2 /* SIG_SETMASK */, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
			}
			got <- res{tid: syscall.Gettid()}
			<-done
		}()
		r := <-got
		if r.err != nil {
			t.Fatal(r.err)
		}
		stat, found, err := patch.SigBlkStat(r.tid)
		status, found2 := patch.SigBlkStatus(r.tid)
		checkErr := patch.CheckSigMask()
		close(done)
		if err != nil || !found || !found2 {
			t.Fatalf("thread %d: stat %v %v, status found %v", r.tid, found, err, found2)
		}
		if stat != status&0x7fffffff {
			t.Errorf("thread %d: stat says blocked %#x, status SigBlk %#x", r.tid, stat, status)
		}
		if trap := stat&(1<<4) != 0; trap != block {
			t.Errorf("thread %d blocks SIGTRAP: stat says %v, want %v", r.tid, trap, block)
		}
		if (checkErr != nil) != block {
			t.Errorf("block=%v: CheckSigMask = %v", block, checkErr)
		}
	}
}
