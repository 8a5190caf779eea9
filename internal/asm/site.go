package asm

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"unsafe"

	"golang.org/x/arch/x86/x86asm"
)

// ErrMismatch is matched (errors.Is) by every *MismatchError.
var ErrMismatch = errors.New("asm: site bytes do not match a declared variant")

// MismatchError reports a site whose bytes are not exactly one declared
// variant that decodes as declared. It names the site, the bytes found and
// the likely cause: the build only if the binary itself does not hold what
// its declarations say (Build); otherwise something outside the program
// changed the code since it was verified at start.
type MismatchError struct {
	Site   string // full site name, e.g. "pvlock.release"
	Addr   uintptr
	Bytes  []byte // the bytes found
	Reason string
	// Build is set when the bytes were checked at bind time against the
	// declarations and did not match: stale generated code. It is not
	// set for a site whose bytes changed after start, nor for one that
	// held a breakpoint (0xCC over variant 0's first byte) at start.
	Build bool
}

// Error names the site, its address and the bytes, and says what most
// likely put them there and what to do.
func (e *MismatchError) Error() string {
	var cause string
	switch {
	case e.Build:
		cause = "the binary does not hold what the site's declaration says: rebuild after `go generate ./...`; this site is not patched"
	case len(e.Bytes) > 0 && e.Bytes[0] == 0xCC:
		cause = "INT3 (0xCC) on its first byte where no switch left one: a uprobe (tracefs uprobe_events, perf probe, bpftrace) or a debugger's breakpoint is on this site; remove it, then retry; the site is not patched meanwhile"
	default:
		cause = "another tool rewrote this code after start (a debugger, a live patcher; removing a uprobe puts back the first byte of the binary file's instruction): the site is not patched; restart the process to patch it again"
	}
	return fmt.Sprintf("asm: site %s at %#x holds % x: %s; %s", e.Site, e.Addr, e.Bytes, e.Reason, cause)
}

// Is makes errors.Is(err, ErrMismatch) true.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// Site is a declared site bound to its address in this binary. Sites are
// created by the generated code of their owner package (Bind) and live for
// the whole process. A Site is immutable; which variant is live is the
// patcher's business (package patch).
type Site struct {
	decl    *Decl     // never written after Bind
	fn      uintptr   // entry of the site function
	addr    uintptr   // first byte of the slot
	targets []uintptr // per variant: ABI0 address of the target, or 0
	bytes   []byte    // variant i's instruction, rel32 resolved, at [i*Len, (i+1)*Len)
	nbytes  int       // variants resolved into bytes (all of them unless err)
	err     error     // why the site cannot be patched, or nil
	next    *Site     // the site bound before this one (registry list)
}

// registry lists every bound site, newest first: a linked list, so binding
// a site allocates nothing but the Site.
var registry struct {
	mu   sync.Mutex
	last *Site
	n    int
}

// Bind binds a declaration to the site function at fn, whose CALL/JMP
// variant i targets targets[i] (0 for other kinds). All addresses must come
// from assembly helpers (MOVQ $·sym(SB), AX): a Go func value points at an
// ABI wrapper, not at the body. Bind never fails: a site that does not
// verify records the error (Err) and the patcher refuses it. Only generated
// code calls Bind.
//
// The site keeps d and targets, which nothing may change afterwards: the
// generated code passes a declaration that is a variable of its own,
// static data nothing writes, so binding copies no declaration.
func Bind(d *Decl, fn uintptr, targets []uintptr) *Site {
	s := &Site{decl: d, fn: fn, targets: targets}
	s.err = s.bind()
	registry.mu.Lock()
	s.next = registry.last
	registry.last = s
	registry.n++
	registry.mu.Unlock()
	return s
}

func (s *Site) bind() error {
	d := s.decl
	if err := d.Check(); err != nil {
		return err
	}
	if len(s.targets) != len(d.Variants) {
		return fmt.Errorf("asm: site %s: %d targets for %d variants; run `go generate ./...`", d.FullName(), len(s.targets), len(d.Variants))
	}
	// The site function is NOSPLIT|NOFRAME with a $0 frame, so it has no
	// prologue: the slot starts after exactly len(Pre) instructions.
	off := uintptr(0)
	for i := range d.Pre {
		inst, err := x86asm.Decode(text(s.fn+off, 15), 64)
		if err != nil {
			return &MismatchError{Site: d.FullName(), Addr: s.fn + off, Bytes: readText(s.fn+off, 8), Reason: fmt.Sprintf("preamble instruction %d does not decode: %v", i, err), Build: true}
		}
		off += uintptr(inst.Len)
	}
	s.addr = s.fn + off
	// One array holds every variant's bytes, variant i at [i*Len, (i+1)*Len).
	s.bytes = make([]byte, len(d.Variants)*d.Len)
	for i, v := range d.Variants {
		if len(v.Bytes) != d.Len {
			return fmt.Errorf("asm: site %s variant %d: %d bytes, want %d; run `go generate ./...`", d.FullName(), i, len(v.Bytes), d.Len)
		}
		b := s.bytes[i*d.Len : (i+1)*d.Len]
		copy(b, v.Bytes)
		if v.Kind == KindJmp || v.Kind == KindCall {
			// Len-5 DS prefixes, the opcode, then rel32 in the last 4
			// bytes, relative to the end of the whole (padded) instruction.
			rel := int64(s.targets[i]) - int64(s.addr+uintptr(d.Len))
			if s.targets[i] == 0 || rel != int64(int32(rel)) {
				return fmt.Errorf("asm: site %s variant %d: target %s at %#x out of rel32 reach", d.FullName(), i, v.Target, s.targets[i])
			}
			r := uint32(int32(rel))
			o := d.Len - 4
			b[o], b[o+1], b[o+2], b[o+3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
		}
		if err := CheckInst(d, i, b, s.addr, s.targets[i]); err != nil {
			return &MismatchError{Site: d.FullName(), Addr: s.addr, Bytes: b, Reason: err.Error(), Build: true}
		}
		s.nbytes++
	}
	// The binary must start with variant 0 exactly.
	// A breakpoint over variant 0's first byte (a uprobe registered before
	// the program started, a debugger's) is not the build's fault.
	if v0, live := s.Bytes(0), s.Live(); string(live) != string(v0) {
		bp := live[0] == 0xCC && string(live[1:]) == string(v0[1:])
		return &MismatchError{Site: d.FullName(), Addr: s.addr, Bytes: live, Reason: fmt.Sprintf("not variant 0 (% x) at start", v0), Build: !bp}
	}
	return nil
}

// text returns the n bytes of code at addr (which must be readable text)
// in place: the caller only reads them and does not keep the slice.
func text(addr uintptr, n int) []byte {
	// addr is a code address, never Go heap: converting through a pointer
	// to the integer keeps vet's unsafeptr check quiet.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*byte)(p), n)
}

// readText copies n bytes of code at addr (which must be readable text).
func readText(addr uintptr, n int) []byte { return append([]byte(nil), text(addr, n)...) }

// Sites returns every bound site of the program, sorted by address.
func Sites() []*Site {
	registry.mu.Lock()
	out := make([]*Site, registry.n)
	i := len(out)
	for s := registry.last; s != nil; s = s.next {
		i--
		out[i] = s // in the order of binding
	}
	registry.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out
}

// Name returns the full site name, e.g. "pvlock.release".
func (s *Site) Name() string { return s.decl.FullName() }

// Decl returns a copy of the site's declaration.
func (s *Site) Decl() Decl { return *s.decl }

// Addr returns the address of the slot's first byte.
func (s *Site) Addr() uintptr { return s.addr }

// Func returns the entry address of the site function.
func (s *Site) Func() uintptr { return s.fn }

// Len returns the slot length in bytes.
func (s *Site) Len() int { return s.decl.Len }

// NumVariants returns the number of declared variants.
func (s *Site) NumVariants() int { return len(s.decl.Variants) }

// Variant returns declared variant i.
func (s *Site) Variant(i int) Variant { return s.decl.Variants[i] }

// VariantIndex returns the index of the variant named name, or -1.
func (s *Site) VariantIndex(name string) int {
	for i, v := range s.decl.Variants {
		if v.Name == name {
			return i
		}
	}
	return -1
}

// Bytes returns the instruction of variant i as it is written into the
// slot (rel32 resolved), or nil if the site did not bind (Err). The caller
// must not modify it.
func (s *Site) Bytes(i int) []byte {
	_ = s.decl.Variants[i] // i must be a declared variant
	if i >= s.nbytes {
		return nil
	}
	n := s.decl.Len
	return s.bytes[i*n : (i+1)*n : (i+1)*n]
}

// Target returns the address variant i jumps to or calls, or 0.
func (s *Site) Target(i int) uintptr { return s.targets[i] }

// Err returns why the site cannot be patched (a *MismatchError or a
// declaration error), or nil.
func (s *Site) Err() error { return s.err }

// Live returns a copy of the slot's current bytes.
func (s *Site) Live() []byte { return readText(s.addr, s.decl.Len) }

// Match returns the variant whose bytes are exactly b, or a *MismatchError
// naming the site and b.
func (s *Site) Match(b []byte) (int, error) {
	if s.err != nil {
		return -1, s.err
	}
	for i := range s.nbytes {
		if string(s.Bytes(i)) == string(b) {
			return i, nil
		}
	}
	return -1, &MismatchError{Site: s.Name(), Addr: s.addr, Bytes: append([]byte(nil), b...), Reason: "not a declared variant"}
}

// Verify returns the variant that is live in the slot, checking that the
// live bytes are exactly one declared variant.
func (s *Site) Verify() (int, error) { return s.Match(s.Live()) }

// String returns the site name and address.
func (s *Site) String() string { return fmt.Sprintf("%s@%#x", s.Name(), s.addr) }

// CheckInst checks that b, as variant i of d at address pc, decodes
// (x86asm) to exactly one instruction of d.Len bytes doing what the variant
// declares. A CALL/JMP must be exactly d.Len-5 DS prefixes (0x3E, at most
// MaxBranchPad), the E8/E9 opcode and a rel32 relative to pc+d.Len; target
// 0 skips the target check (the generator does not know addresses).
func CheckInst(d *Decl, i int, b []byte, pc, target uintptr) error {
	v := &d.Variants[i]
	if len(b) != d.Len {
		return fmt.Errorf("variant %d %q: %d bytes, want %d", i, v.Name, len(b), d.Len)
	}
	inst, err := x86asm.Decode(b, 64)
	if err != nil {
		return fmt.Errorf("variant %d %q: does not decode: %v", i, v.Name, err)
	}
	if inst.Len != d.Len {
		return fmt.Errorf("variant %d %q: decodes to %d bytes (%v), want one instruction of %d", i, v.Name, inst.Len, inst, d.Len)
	}
	bad := func(what string) error {
		return fmt.Errorf("variant %d %q: decodes as %q: %s", i, v.Name, x86asm.GoSyntax(inst, uint64(pc), nil), what)
	}
	switch v.Kind {
	case KindNop:
		if inst.Op != x86asm.NOP {
			return bad("want NOP")
		}
	case KindStore:
		if inst.Op != x86asm.MOV || inst.MemBytes != v.Width {
			return bad(fmt.Sprintf("want a %d-byte MOV store", v.Width))
		}
		m, ok := inst.Args[0].(x86asm.Mem)
		// x86asm reports a disp32 zero-extended: compare its low 32 bits.
		if !ok || m.Segment != 0 || m.Index != 0 || int(m.Base-x86asm.RAX) != RegNum(v.Base) || int32(m.Disp) != v.Disp {
			return bad(fmt.Sprintf("want destination %d(%s)", v.Disp, v.Base))
		}
		imm, ok := inst.Args[1].(x86asm.Imm)
		if !ok || storedBits(int64(imm), v.Width) != storedBits(v.Imm, v.Width) || inst.Args[2] != nil {
			return bad(fmt.Sprintf("want immediate %#x", v.Imm))
		}
		for _, p := range inst.Prefix {
			if p == 0 {
				break
			}
			if p&0xff == x86asm.PrefixLOCK&0xff || p&0xff == x86asm.PrefixREP&0xff || p&0xff == x86asm.PrefixREPN&0xff {
				return bad("unexpected LOCK/REP prefix")
			}
		}
	case KindJmp, KindCall:
		// Exactly Len-5 DS prefixes (at most MaxBranchPad), the opcode at
		// Len-5, rel32 at Len-4. Any other prefix is refused: 66 would make
		// the branch 16-bit on AMD, REX/REP/LOCK have no business here.
		op, opb := x86asm.JMP, byte(OpJmpRel32)
		if v.Kind == KindCall {
			op, opb = x86asm.CALL, OpCallRel32
		}
		pad := d.Len - Rel32Len
		if pad < 0 || pad > MaxBranchPad {
			return bad(fmt.Sprintf("want %s rel32 after 0..%d DS prefixes, not in %d bytes", v.Kind, MaxBranchPad, d.Len))
		}
		for j := range pad {
			if b[j] != PrefixDS {
				return bad(fmt.Sprintf("want %d DS (%#x) prefixes before the opcode, byte %d is %#02x", pad, PrefixDS, j, b[j]))
			}
		}
		if inst.Op != op || b[pad] != opb {
			return bad(fmt.Sprintf("want %s rel32 (opcode %#02x at offset %d)", v.Kind, opb, pad))
		}
		rel, ok := inst.Args[0].(x86asm.Rel)
		if !ok {
			return bad("want a rel32 operand")
		}
		if target != 0 && pc+uintptr(d.Len)+uintptr(int64(rel)) != target {
			return bad(fmt.Sprintf("want target %s at %#x", v.Target, target))
		}
	}
	return nil
}

// storedBits returns the low width bytes of imm, as a store of that width
// writes them (an 8-byte store sign-extends its 32-bit immediate, which the
// decoder has already done).
func storedBits(imm int64, width int) int64 {
	if width >= 8 {
		return imm
	}
	return imm & (1<<(8*width) - 1)
}
