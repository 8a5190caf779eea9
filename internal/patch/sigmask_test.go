//go:build linux && amd64

package patch_test

import (
	"testing"

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
