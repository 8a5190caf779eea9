package encode_test

import (
	"bytes"
	"testing"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/asm/internal/encode"
)

func TestVariantLengths(t *testing.T) {
	for _, tc := range []struct {
		v    asm.Variant
		n    int
		want []byte
	}{
		{asm.Store("s", 1, "DI", 0, 0), 5, []byte{0xC6, 0x44, 0x27, 0x00, 0x00}},
		{asm.Store("s", 1, "DI", 0, 0), 4, []byte{0xC6, 0x47, 0x00, 0x00}},
		{asm.Store("s", 1, "R12", 0, 7), 5, []byte{0x41, 0xC6, 0x44, 0x24, 0x00, 0x07}[:0]},
		{asm.Store("s", 2, "AX", 0x100, 1), 9, nil},
		{asm.Store("s", 4, "BP", 0, 1), 8, nil},
		{asm.Store("s", 8, "R13", -8, -2), 8, nil},
		{asm.Nop("n"), 5, []byte{0x0F, 0x1F, 0x44, 0x00, 0x00}},
		{asm.Nop("n"), 12, nil},
		{asm.Jmp("j", "f"), 5, []byte{0xE9, 0, 0, 0, 0}},
		{asm.Call("c", "f"), 5, []byte{0xE8, 0, 0, 0, 0}},
		{asm.Store("s", 4, "DI", 0, 0), 6, []byte{0xC7, 0x07, 0, 0, 0, 0}},
	} {
		d := asm.Decl{Pkg: "p", Name: "s", Len: max(tc.n, 5), Variants: []asm.Variant{tc.v, asm.Nop("n")}}
		d.Len = tc.n
		b, err := encode.Variant(&d, 0)
		if tc.n < asm.MinLen {
			// Below MinLen a declaration is refused by Check, but the
			// encoder itself can still produce the form.
			if err != nil || !bytes.Equal(b, tc.want) {
				t.Errorf("%+v len %d: % x, %v", tc.v, tc.n, b, err)
			}
			continue
		}
		if err != nil {
			if tc.v.Base == "R12" { // 0x41 C6 44 24 00 07 is 6 bytes: no 5-byte form
				continue
			}
			t.Errorf("%+v len %d: %v", tc.v, tc.n, err)
			continue
		}
		if len(b) != tc.n || (tc.want != nil && len(tc.want) > 0 && !bytes.Equal(b, tc.want)) {
			t.Errorf("%+v len %d: got % x, want % x", tc.v, tc.n, b, tc.want)
		}
	}
}

// TestPaddedBranches: a JMP/CALL in a slot of 6..9 bytes is Len-5 DS
// prefixes, the opcode and a rel32; it decodes as one instruction whose
// rel32 is relative to the end of the slot; 10 bytes (5 prefixes) is
// refused by Check and by the encoder.
func TestPaddedBranches(t *testing.T) {
	for _, v := range []asm.Variant{asm.Jmp("j", "f"), asm.Call("c", "f")} {
		op := byte(asm.OpJmpRel32)
		if v.Kind == asm.KindCall {
			op = asm.OpCallRel32
		}
		for n := 5; n <= 9; n++ {
			d := asm.Decl{Pkg: "p", Name: "s", Len: n, Variants: []asm.Variant{v, asm.Store("s", 4, "DI", 0, 0)}}
			if n == 5 {
				d.Variants[1] = asm.Nop("n")
			}
			if err := d.Check(); err != nil {
				t.Fatalf("%v len %d: Check: %v", v.Kind, n, err)
			}
			b, err := encode.Variant(&d, 0)
			if err != nil {
				t.Fatalf("%v len %d: %v", v.Kind, n, err)
			}
			want := append(bytes.Repeat([]byte{0x3E}, n-5), op, 0, 0, 0, 0)
			if !bytes.Equal(b, want) {
				t.Fatalf("%v len %d: got % x, want % x", v.Kind, n, b, want)
			}
			// With a resolved rel32 the target is pc+Len+rel32.
			const pc, target = 0x401000, 0x402345
			rel := uint32(target - (pc + n))
			b[n-4], b[n-3], b[n-2], b[n-1] = byte(rel), byte(rel>>8), byte(rel>>16), byte(rel>>24)
			if err := asm.CheckInst(&d, 0, b, pc, target); err != nil {
				t.Fatalf("%v len %d: % x: %v", v.Kind, n, b, err)
			}
			if err := asm.CheckInst(&d, 0, b, pc, target+5); err == nil {
				t.Fatalf("%v len %d: % x accepted with a wrong target", v.Kind, n, b)
			}
			// rel32 relative to the unpadded opcode's end (site+5) is wrong
			// unless there is no padding.
			if n > 5 {
				r5 := uint32(target - (pc + 5))
				b5 := append([]byte(nil), b...)
				b5[n-4], b5[n-3], b5[n-2], b5[n-1] = byte(r5), byte(r5>>8), byte(r5>>16), byte(r5>>24)
				if err := asm.CheckInst(&d, 0, b5, pc, target); err == nil {
					t.Fatalf("%v len %d: rel32 from site+5 accepted", v.Kind, n)
				}
			}
			if n == 5 {
				continue
			}
			// Any prefix but DS is refused, and so is the wrong count.
			for _, p := range []byte{0x66, 0x2E, 0x26, 0x64, 0x48, 0xF2, 0xF3, 0xF0} {
				for j := 0; j < n-5; j++ {
					bad := append([]byte(nil), want...)
					bad[j] = p
					if err := asm.CheckInst(&d, 0, bad, 0, 0); err == nil {
						t.Errorf("%v len %d: % x accepted", v.Kind, n, bad)
					}
				}
			}
			other := byte(asm.OpCallRel32)
			if op == asm.OpCallRel32 {
				other = asm.OpJmpRel32
			}
			wrongOp := append(bytes.Repeat([]byte{0x3E}, n-5), other, 0, 0, 0, 0)
			if err := asm.CheckInst(&d, 0, wrongOp, 0, 0); err == nil {
				t.Errorf("%v len %d: % x accepted", v.Kind, n, wrongOp)
			}
			// A 2-byte JMP rel8 behind prefixes, then NOP filler: two instructions.
			if v.Kind == asm.KindJmp {
				short := append(bytes.Repeat([]byte{0x3E}, n-5), 0xEB, 0, 0x0F, 0x1F, 0x00)
				if err := asm.CheckInst(&d, 0, short, 0, 0); err == nil {
					t.Errorf("len %d: % x accepted", n, short)
				}
			}
		}
		d := asm.Decl{Pkg: "p", Name: "s", Len: 10, Variants: []asm.Variant{v, asm.Nop("n")}}
		if err := d.Check(); err == nil {
			t.Errorf("%v len 10 (5 prefixes) accepted by Check", v.Kind)
		}
		if b, err := encode.Variant(&d, 0); err == nil {
			t.Errorf("%v len 10 encoded as % x", v.Kind, b)
		}
		want := append(bytes.Repeat([]byte{0x3E}, 5), op, 0, 0, 0, 0)
		if err := asm.CheckInst(&d, 0, want, 0, 0); err == nil {
			t.Errorf("%v len 10: % x accepted by CheckInst", v.Kind, want)
		}
	}
}

func TestCheckInstRefuses(t *testing.T) {
	d := asm.Decl{Pkg: "p", Name: "s", Len: 5, Variants: []asm.Variant{asm.Store("s", 1, "DI", 0, 1), asm.Nop("n")}}
	for _, b := range [][]byte{
		{0xC6, 0x44, 0x27, 0x00, 0x02}, // wrong immediate
		{0xC6, 0x44, 0x26, 0x00, 0x01}, // wrong base (SI)
		{0xC6, 0x47, 0x00, 0x01, 0x90}, // two instructions
		{0x0F, 0x1F, 0x44, 0x00, 0x00}, // a NOP
		{0xF0, 0x80, 0x07, 0x01, 0x90}, // lock add: not a store
	} {
		if err := asm.CheckInst(&d, 0, b, 0, 0); err == nil {
			t.Errorf("% x accepted as %+v", b, d.Variants[0])
		}
	}
}

func TestCheckRefusesImmediates(t *testing.T) {
	for _, v := range []asm.Variant{
		asm.Store("s", 8, "DI", 0, 1<<40),
		asm.Store("s", 1, "DI", 0, 256),
		asm.Store("s", 2, "DI", 0, -40000),
	} {
		d := asm.Decl{Pkg: "p", Name: "s", Len: 8, Variants: []asm.Variant{v, asm.Nop("n")}}
		if err := d.Check(); err == nil {
			t.Errorf("%+v accepted", v)
		}
	}
}

// TestEncodeMatrix encodes stores for every base register, width and a
// spread of displacements into every slot length from 5 to 12; whatever
// encodes must decode (asm.CheckInst, inside Variant) to exactly the
// declared store, and the common forms must always encode.
func TestEncodeMatrix(t *testing.T) {
	regs := []string{"AX", "CX", "DX", "BX", "SP", "BP", "SI", "DI", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"}
	encoded := 0
	for _, r := range regs {
		for _, w := range []int{1, 2, 4, 8} {
			for _, disp := range []int32{0, 1, -8, 127, -128, 128, 4096, -70000} {
				shortest := 0
				for n := 5; n <= 12; n++ {
					v := asm.Store("s", w, r, disp, 0x5a)
					d := asm.Decl{Pkg: "p", Name: "s", Len: n, Variants: []asm.Variant{v, asm.Nop("n")}}
					if _, err := encode.Variant(&d, 0); err == nil {
						encoded++
						if shortest == 0 {
							shortest = n
						}
					} else if shortest != 0 && n < shortest+5 {
						// Once a length encodes, the next few must too (SIB,
						// disp8->disp32, DS prefixes).
						t.Errorf("%s w%d disp %d: len %d encodes but %d does not: %v", r, w, disp, shortest, n, err)
					}
				}
				if shortest == 0 && w == 1 {
					t.Errorf("MOVB $0x5a, %d(%s): no encoding of 5..12 bytes", disp, r)
				}
			}
		}
	}
	t.Logf("%d store encodings verified", encoded)
}
