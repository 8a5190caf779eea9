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

// TestStatAgreesWithStatus: one thread, first not blocking SIGTRAP, then
// blocking it (and SIGUSR1), then not again. Each time the stat field the
// check reads holds the same standard signals as SigBlk in status, and the
// check refuses exactly while the thread blocks SIGTRAP: the files it keeps
// open between checks are read afresh.
func TestStatAgreesWithStatus(t *testing.T) {
	const sigBlock, sigSetmask = 0, 2
	req := make(chan uint64) // a set to block, or 0 to restore
	tidc := make(chan int)
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var old uint64
		if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, sigBlock, 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			tidc <- -1
			return
		}
		tidc <- syscall.Gettid()
		for set := range req {
			how, p := uintptr(sigBlock), &set
			if set == 0 {
				how, p = sigSetmask, &old
			}
			_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, how, uintptr(unsafe.Pointer(p)), 0, 8, 0, 0)
			if e != 0 {
				errc <- e
			} else {
				errc <- nil
			}
		}
		syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, sigSetmask, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	}()
	defer close(req)
	tid := <-tidc
	if tid < 0 {
		t.Fatal("rt_sigprocmask query failed")
	}
	for i, set := range []uint64{0, 1<<(5-1) | 1<<(10-1), 0} {
		if i > 0 {
			req <- set
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		block := set != 0
		stat, found, err := patch.SigBlkStat(tid)
		status, found2 := patch.SigBlkStatus(tid)
		checkErr := patch.CheckSigMask()
		if err != nil || !found || !found2 {
			t.Fatalf("step %d: thread %d: stat found %v err %v, status found %v", i, tid, found, err, found2)
		}
		if stat != status&0x7fffffff {
			t.Errorf("step %d: thread %d: stat says blocked %#x, status SigBlk %#x", i, tid, stat, status)
		}
		if trap := stat&(1<<4) != 0; trap != block {
			t.Errorf("step %d: thread %d blocks SIGTRAP: stat says %v, want %v", i, tid, trap, block)
		}
		if (checkErr != nil) != block {
			t.Errorf("step %d: block=%v: CheckSigMask = %v", i, block, checkErr)
		}
	}
}
