package asm

import "fmt"

// Kind is what a variant's one instruction does. The trap handler (package
// int3) emulates each kind itself, so every kind here has an emulation.
type Kind uint8

const (
	// KindNop is a multi-byte NOP (Intel SDM Vol. 2B, NOP, Table 4-12):
	// executing it only moves RIP to the end of the site.
	KindNop Kind = iota
	// KindStore is MOV $imm, disp(base) of Width bytes: one store, never a
	// read-modify-write.
	KindStore
	// KindJmp is JMP rel32 (E9), after Len-5 DS prefixes (3E) in a slot
	// longer than 5 bytes: a tail call to a function with the site
	// function's Go signature.
	KindJmp
	// KindCall is CALL rel32 (E8), after Len-5 DS prefixes (3E) in a slot
	// longer than 5 bytes, to a func() in the owner package; it returns to
	// the end of the site (site+Len).
	KindCall
)

// String returns the kind's name: nop, store, jmp or call.
func (k Kind) String() string {
	switch k {
	case KindNop:
		return "nop"
	case KindStore:
		return "store"
	case KindJmp:
		return "jmp"
	case KindCall:
		return "call"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Opcodes of the branch variants (Intel SDM Vol. 2A, CALL and JMP: "E8 cd",
// "E9 cd"). Unpadded, both are 5 bytes: the opcode and a rel32 relative to
// the end of the instruction. In a slot of Len > 5 the opcode is preceded by
// Len-5 DS segment-override prefixes (PrefixDS). In 64-bit mode the CS,
// DS, ES and SS overrides are ignored, and 3E has another meaning only on a
// Jcc (branch hint) or an indirect JMP/CALL (CET NOTRACK), neither of which
// a variant is; a direct rel32 JMP/CALL just becomes longer (the shape of
// GCC's -mindirect-branch-cs-prefix, "2E E8 rel32", that Linux rewrites in
// place). The padded form is still ONE instruction: its opcode is at offset
// Len-5, its rel32 at Len-4, relative to the end of the site (site+Len).
const (
	OpCallRel32 = 0xE8
	OpJmpRel32  = 0xE9
	// PrefixDS is the DS segment-override prefix: the only padding allowed
	// before a CALL/JMP opcode (never 66, which AMD CPUs honour on a near
	// branch, truncating the target to 16 bits).
	PrefixDS = 0x3E
	// Rel32Len is the length of an unpadded CALL or JMP rel32 instruction.
	Rel32Len = 5
	// MaxBranchPad is the most DS prefixes before a CALL/JMP opcode: such
	// a variant is 5 to 9 bytes long.
	MaxBranchPad = 4
	// MinLen is the shortest slot: a CALL or JMP rel32 must fit.
	MinLen = Rel32Len
)

// Variant is one of a site's instructions. Build variants with Store, Jmp,
// Call and Nop; the generator fills Bytes.
type Variant struct {
	Name   string // short name used in errors and stats, e.g. "native"
	Kind   Kind
	Width  int    // KindStore: 1, 2, 4 or 8 bytes
	Base   string // KindStore: base register in Go syntax, e.g. "DI"
	Disp   int32  // KindStore: displacement from Base
	Imm    int64  // KindStore: immediate (sign-extended to 8 bytes for Width 8)
	Target string // KindJmp, KindCall: Go name of a function in the owner package

	// Bytes is the encoded instruction, exactly Decl.Len bytes. For KindJmp
	// and KindCall (Decl.Len-5 DS prefixes, the opcode, a rel32 in the last
	// 4 bytes) the rel32 is zero here; Bind computes it from the addresses
	// of the site end (site+Len) and the target.
	Bytes []byte
}

// Store declares a variant that stores the immediate imm, width bytes wide,
// to disp(base).
func Store(name string, width int, base string, disp int32, imm int64) Variant {
	return Variant{Name: name, Kind: KindStore, Width: width, Base: base, Disp: disp, Imm: imm}
}

// Jmp declares a variant that tail-calls target, a function of the owner
// package with the site function's Go signature. In a slot of Len > 5 it
// is encoded with Len-5 DS prefixes before E9 rel32.
func Jmp(name, target string) Variant { return Variant{Name: name, Kind: KindJmp, Target: target} }

// Call declares a variant that calls target, a func() of the owner package,
// and continues after the site (the return address is site+Len). In a slot
// of Len > 5 it is encoded with Len-5 DS prefixes before E8 rel32.
func Call(name, target string) Variant { return Variant{Name: name, Kind: KindCall, Target: target} }

// Nop declares a variant that does nothing.
func Nop(name string) Variant { return Variant{Name: name, Kind: KindNop} }

// Decl declares one site: a frameless assembly function of the owner
// package made of a preamble, the slot, and an epilogue. The owner package
// declares its sites in a program of its own that package sitegen turns
// into the owner's generated files; see the package documentation.
type Decl struct {
	Pkg      string    // owner package directory relative to the module root, e.g. "pvlock"
	Name     string    // Go name of the site function, e.g. "release"
	Sig      string    // Go parameters and results, e.g. "(l *uint8)"
	Args     int       // argument+result size in bytes (the N of $0-N)
	Pre      []string  // preamble, one Go assembly instruction per element (e.g. MovDI("l"))
	Len      int       // slot length in bytes, >= MinLen
	Variants []Variant // variant 0 is what the binary starts with
	Post     []string  // epilogue, e.g. Ret(); none when every variant jumps
	NoEscape bool      // mark the site function //go:noescape (no variant lets a pointer argument escape)
}

// FullName is the site's name in errors and stats: last element of Pkg, a
// dot, Name.
func (d *Decl) FullName() string {
	pkg := d.Pkg
	for i := len(pkg) - 1; i >= 0; i-- {
		if pkg[i] == '/' {
			pkg = pkg[i+1:]
			break
		}
	}
	return pkg + "." + d.Name
}

// regNames lists the Go assembler register names by x86 register number
// (Intel SDM Vol. 2A, Table 2-2: the 3-bit reg field, plus REX.B for
// R8-R15). An array, not a map: it costs nothing at init.
var regNames = [...]string{
	"AX", "CX", "DX", "BX", "SP", "BP", "SI", "DI",
	"R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15",
}

// RegNum returns the x86 register number of a Go assembler register name
// (AX=0 ... R15=15), or -1.
func RegNum(name string) int {
	for n, r := range regNames {
		if r == name {
			return n
		}
	}
	return -1
}

// MovDI returns the preamble that loads the pointer argument arg, the
// first argument of the site function (at 0(FP)), into DI, where a store
// variant with Base "DI" writes through it.
func MovDI(arg string) []string { return []string{"MOVQ " + arg + "+0(FP), DI"} }

// Ret returns the epilogue of a site function that returns after the slot.
func Ret() []string { return []string{"RET"} }

// Check reports what is wrong with a declaration, or nil.
func (d *Decl) Check() error {
	if d.Pkg == "" || d.Name == "" {
		return fmt.Errorf("asm: site %q: Pkg and Name are required", d.FullName())
	}
	if d.Len < MinLen {
		return fmt.Errorf("asm: site %s: Len %d < %d: a rel32 CALL/JMP must fit", d.FullName(), d.Len, MinLen)
	}
	if len(d.Variants) < 2 || len(d.Variants) > MaxVariants {
		return fmt.Errorf("asm: site %s: %d variants, want 2..%d", d.FullName(), len(d.Variants), MaxVariants)
	}
	for i, v := range d.Variants {
		switch v.Kind {
		case KindStore:
			if v.Width != 1 && v.Width != 2 && v.Width != 4 && v.Width != 8 {
				return fmt.Errorf("asm: site %s variant %d: store width %d, want 1, 2, 4 or 8", d.FullName(), i, v.Width)
			}
			if v.Width == 8 && v.Imm != int64(int32(v.Imm)) {
				return fmt.Errorf("asm: site %s variant %d: a 64-bit store takes a sign-extended 32-bit immediate, not %#x", d.FullName(), i, v.Imm)
			}
			if v.Width < 8 && (v.Imm >= 1<<(8*v.Width) || v.Imm < -(1<<(8*v.Width-1))) {
				return fmt.Errorf("asm: site %s variant %d: immediate %#x does not fit %d bytes", d.FullName(), i, v.Imm, v.Width)
			}
			if RegNum(v.Base) < 0 {
				return fmt.Errorf("asm: site %s variant %d: unknown base register %q", d.FullName(), i, v.Base)
			}
		case KindJmp, KindCall:
			if d.Len > Rel32Len+MaxBranchPad {
				return fmt.Errorf("asm: site %s variant %d: %v needs Len %d..%d (at most %d DS prefixes), have %d",
					d.FullName(), i, v.Kind, Rel32Len, Rel32Len+MaxBranchPad, MaxBranchPad, d.Len)
			}
			if v.Target == "" {
				return fmt.Errorf("asm: site %s variant %d: %v without Target", d.FullName(), i, v.Kind)
			}
		case KindNop:
		default:
			return fmt.Errorf("asm: site %s variant %d: unknown kind %v", d.FullName(), i, v.Kind)
		}
	}
	return nil
}

// MaxVariants bounds the variants of one site (the patcher packs variant
// indexes into 8 bits).
const MaxVariants = 16
