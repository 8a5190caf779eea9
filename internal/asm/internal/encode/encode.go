// Package encode assembles the variants of a site declaration into
// fixed-length instructions: github.com/twitchyliquid64/golang-asm gives the
// canonical (shortest) encoding, this package widens it to the slot length
// by equivalent longer forms, and asm.CheckInst verifies the result by
// decoding it. Only the generator (package internal/asm/sitegen, run by the
// owners' declaring programs at `go generate`) and tests use it.
package encode

import (
	"bytes"
	"fmt"

	golangasm "github.com/twitchyliquid64/golang-asm"
	"github.com/twitchyliquid64/golang-asm/obj"
	"github.com/twitchyliquid64/golang-asm/obj/x86"

	"github.com/pvswitch/pvswitch/internal/asm"
)

// Encoding bytes (Intel SDM Vol. 2A, chapter 2).
const (
	prefixDS      = asm.PrefixDS // segment override; ignored in 64-bit mode (data and near JMP/CALL), used as padding
	prefixOpsize  = 0x66         // operand-size override (16-bit operand)
	modIndirect   = 0 << 6
	modDisp8      = 1 << 6
	modDisp32     = 2 << 6
	rmSIB         = 4 // r/m = 100: a SIB byte follows
	sibNoIndex    = 4 << 3
	maxPadPrefix  = asm.MaxBranchPad // at most this many DS prefixes are added
	maxInstLength = 15               // Intel SDM Vol. 2A, 2.3.11
)

// goReg maps a Go register name to golang-asm's register constant.
var goReg = map[string]int16{
	"AX": x86.REG_AX, "CX": x86.REG_CX, "DX": x86.REG_DX, "BX": x86.REG_BX,
	"SP": x86.REG_SP, "BP": x86.REG_BP, "SI": x86.REG_SI, "DI": x86.REG_DI,
	"R8": x86.REG_R8, "R9": x86.REG_R9, "R10": x86.REG_R10, "R11": x86.REG_R11,
	"R12": x86.REG_R12, "R13": x86.REG_R13, "R14": x86.REG_R14, "R15": x86.REG_R15,
}

// Canonical assembles variant v with golang-asm, which picks the shortest
// encoding. CALL/JMP rel32 come back with a zero rel32 (golang-asm drops
// the relocation).
func Canonical(v asm.Variant) ([]byte, error) {
	b, err := golangasm.NewBuilder("amd64", 8)
	if err != nil {
		return nil, err
	}
	p := b.NewProg()
	switch v.Kind {
	case asm.KindStore:
		p.As = map[int]obj.As{1: x86.AMOVB, 2: x86.AMOVW, 4: x86.AMOVL, 8: x86.AMOVQ}[v.Width]
		p.From.Type = obj.TYPE_CONST
		p.From.Offset = v.Imm
		p.To.Type = obj.TYPE_MEM
		p.To.Reg = goReg[v.Base]
		p.To.Offset = int64(v.Disp)
	case asm.KindJmp, asm.KindCall:
		p.As = obj.AJMP
		if v.Kind == asm.KindCall {
			p.As = obj.ACALL
		}
		p.To.Type = obj.TYPE_BRANCH
		p.To.Sym = &obj.LSym{Name: v.Target}
	default:
		return nil, fmt.Errorf("encode: %v has no golang-asm form", v.Kind)
	}
	b.AddInstruction(p)
	return b.Assemble(), nil
}

// nops are Intel's recommended multi-byte NOPs (SDM Vol. 2B, NOP, Table 4-12).
var nops = [][]byte{
	nil,
	{0x90},
	{0x66, 0x90},
	{0x0F, 0x1F, 0x00},
	{0x0F, 0x1F, 0x40, 0x00},
	{0x0F, 0x1F, 0x44, 0x00, 0x00},
	{0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00},
	{0x0F, 0x1F, 0x80, 0x00, 0x00, 0x00, 0x00},
	{0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x66, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
}

// Variant returns variant i of d encoded as exactly d.Len bytes, verified
// with asm.CheckInst.
func Variant(d *asm.Decl, i int) ([]byte, error) {
	v := d.Variants[i]
	var out []byte
	switch v.Kind {
	case asm.KindNop:
		if d.Len >= len(nops)+6 {
			return nil, fmt.Errorf("encode: site %s: no NOP of %d bytes", d.FullName(), d.Len)
		}
		n := min(d.Len, len(nops)-1)
		out = append(bytes.Repeat([]byte{prefixOpsize}, d.Len-n), nops[n]...)
	case asm.KindJmp, asm.KindCall:
		c, err := Canonical(v)
		if err != nil {
			return nil, err
		}
		if len(c) != asm.Rel32Len {
			return nil, fmt.Errorf("encode: site %s: golang-asm gave % x for %v, want 5 bytes", d.FullName(), c, v.Kind)
		}
		// Widen by DS prefixes before the opcode: one instruction of
		// d.Len bytes, opcode at d.Len-5, rel32 (zero here) at d.Len-4.
		pad := d.Len - asm.Rel32Len
		if pad < 0 || pad > maxPadPrefix {
			return nil, fmt.Errorf("encode: site %s: no %v rel32 of %d bytes (5 plus at most %d DS prefixes)", d.FullName(), v.Kind, d.Len, maxPadPrefix)
		}
		out = append(bytes.Repeat([]byte{prefixDS}, pad), c...)
	case asm.KindStore:
		c, err := Canonical(v)
		if err != nil {
			return nil, err
		}
		if out, err = widenStore(d, v, c); err != nil {
			return nil, err
		}
	}
	if err := asm.CheckInst(d, i, out, 0, 0); err != nil {
		return nil, fmt.Errorf("encode: site %s: % x: %v", d.FullName(), out, err)
	}
	return out, nil
}

// widenStore re-encodes the canonical MOV $imm, disp(base) c with a longer
// ModRM form (SIB byte, wider displacement) and DS prefixes until it is
// exactly d.Len bytes. The opcode, REX, operand size and immediate are
// taken from c unchanged.
func widenStore(d *asm.Decl, v asm.Variant, c []byte) ([]byte, error) {
	// Split c: [66] [REX] opcode ModRM [SIB] [disp] imm.
	i := 0
	var legacy, rex []byte
	if c[i] == prefixOpsize {
		legacy = c[i : i+1]
		i++
	}
	if c[i]&0xF0 == 0x40 {
		rex = c[i : i+1]
		i++
	}
	op := c[i]
	if op != 0xC6 && op != 0xC7 {
		return nil, fmt.Errorf("encode: site %s: golang-asm gave % x, not MOV imm to memory", d.FullName(), c)
	}
	immLen := min(v.Width, 4)
	imm := c[len(c)-immLen:]
	base := byte(asm.RegNum(v.Base) & 7)
	for pad := 0; pad <= maxPadPrefix; pad++ {
		for _, form := range []struct {
			sib   bool
			dispN int
		}{{false, 0}, {false, 1}, {true, 0}, {true, 1}, {false, 4}, {true, 4}} {
			if form.dispN == 0 && (v.Disp != 0 || base == 5) { // BP/R13 have no disp-less form
				continue
			}
			if form.dispN == 1 && v.Disp != int32(int8(v.Disp)) {
				continue
			}
			if !form.sib && base == 4 { // SP/R12 always need a SIB
				continue
			}
			var b []byte
			b = append(b, bytes.Repeat([]byte{prefixDS}, pad)...)
			b = append(b, legacy...)
			b = append(b, rex...)
			b = append(b, op)
			mod := byte(modIndirect)
			switch form.dispN {
			case 1:
				mod = modDisp8
			case 4:
				mod = modDisp32
			}
			if form.sib {
				b = append(b, mod|rmSIB, sibNoIndex|base)
			} else {
				b = append(b, mod|base)
			}
			switch form.dispN {
			case 1:
				b = append(b, byte(v.Disp))
			case 4:
				u := uint32(v.Disp)
				b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
			}
			b = append(b, imm...)
			if len(b) == d.Len {
				return b, nil
			}
		}
	}
	return nil, fmt.Errorf("encode: site %s: no encoding of %d bytes for %s (canonical % x)", d.FullName(), d.Len, v.Name, c)
}
