//go:build amd64

package asm_test

import (
	"testing"

	"github.com/pvswitch/pvswitch/asm"
	"github.com/pvswitch/pvswitch/asm/testsite"
)

func TestBoundSitesVerify(t *testing.T) {
	sites := asm.Sites()
	if len(sites) < 4+512 {
		t.Fatalf("%d sites bound, want >= 516", len(sites))
	}
	for _, s := range sites {
		if s.Err() != nil {
			t.Fatalf("%v: %v", s, s.Err())
		}
		v, err := s.Verify()
		if err != nil || v != 0 {
			t.Fatalf("%v: Verify = %d, %v; want variant 0", s, v, err)
		}
	}
	// The sites run their variant 0.
	var b uint8
	testsite.Flag(&b)
	var w [2]uint64
	testsite.Wide(&w)
	var c testsite.Counter
	testsite.Count(&c)
	before := testsite.TickA.Load()
	testsite.Tick()
	if b != 1 || w[0] != ^uint64(0) || c.A != 1 || c.B != 0 || testsite.TickA.Load() != before+1 {
		t.Fatalf("variant 0 did not run: b=%d w=%x c=%+v", b, w, c)
	}
}
