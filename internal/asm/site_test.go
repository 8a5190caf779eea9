//go:build amd64

package asm_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/testsite"
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

// TestBindRefusesForeignBytes: a declaration whose variant 0 is not what
// the binary holds is refused with a *MismatchError naming the site and
// the bytes found.
func TestBindRefusesForeignBytes(t *testing.T) {
	d := testsite.FlagSite.Decl()
	d.Name = "FlagForeign"
	d.Variants = append([]asm.Variant(nil), d.Variants...)
	d.Variants[0].Imm = 9
	d.Variants[0].Bytes = []byte{0xc6, 0x44, 0x27, 0x00, 0x09}
	s := asm.Bind(&d, testsite.FlagSite.Func(), []uintptr{0, 0})
	var me *asm.MismatchError
	if !errors.As(s.Err(), &me) || !errors.Is(s.Err(), asm.ErrMismatch) {
		t.Fatalf("Bind over foreign bytes: Err = %v", s.Err())
	}
	if me.Site != "testsite.FlagForeign" || !bytes.Equal(me.Bytes, testsite.FlagSite.Bytes(0)) {
		t.Fatalf("error names %s and % x", me.Site, me.Bytes)
	}
	if _, err := s.Verify(); err == nil {
		t.Fatal("Verify of a refused site succeeded")
	}

	// A JMP whose rel32 does not reach the declared target is refused too.
	j := testsite.CountSite.Decl()
	j.Name = "CountForeign"
	s = asm.Bind(&j, testsite.CountSite.Func(), []uintptr{testsite.CountSite.Target(1), testsite.CountSite.Target(0)})
	if !errors.Is(s.Err(), asm.ErrMismatch) {
		t.Fatalf("Bind with swapped targets: Err = %v", s.Err())
	}
}

// TestMismatchBlamesTheRightCause: bytes that changed after start are not
// blamed on the build. An INT3 over a variant's first byte names a uprobe
// or a debugger breakpoint; other foreign bytes name another tool; only a
// binary that does not hold its declared variant 0 at bind time says to
// rebuild.
func TestMismatchBlamesTheRightCause(t *testing.T) {
	s := testsite.FlagSite
	bp := append([]byte{0xCC}, s.Bytes(1)[1:]...)
	_, err := s.Match(bp)
	var me *asm.MismatchError
	if !errors.As(err, &me) || me.Build || !strings.Contains(err.Error(), "uprobe") || strings.Contains(err.Error(), "go generate") || !strings.Contains(err.Error(), "cc") {
		t.Fatalf("INT3 over a variant: %v", err)
	}
	foreign := append([]byte(nil), s.Bytes(0)...)
	foreign[len(foreign)-1] ^= 0x55
	_, err = s.Match(foreign)
	if !errors.As(err, &me) || me.Build || !strings.Contains(err.Error(), "another tool") || strings.Contains(err.Error(), "go generate") {
		t.Fatalf("foreign bytes: %v", err)
	}
	d := testsite.FlagSite.Decl()
	d.Name = "FlagStale"
	d.Variants = append([]asm.Variant(nil), d.Variants...)
	d.Variants[0].Imm = 9
	d.Variants[0].Bytes = []byte{0xc6, 0x44, 0x27, 0x00, 0x09}
	stale := asm.Bind(&d, testsite.FlagSite.Func(), []uintptr{0, 0})
	if !errors.As(stale.Err(), &me) || !me.Build || !strings.Contains(stale.Err().Error(), "go generate") {
		t.Fatalf("stale declaration at bind: %v", stale.Err())
	}
}
