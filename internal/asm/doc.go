// Package asm describes patchable code sites and verifies them in the
// running binary: each site is one fixed-length instruction slot whose
// every variant is exactly one instruction of that length.
//
// Package asm knows no client: a package that owns sites declares them
// itself (Decl), package asm/sitegen emits them into the owner's Go
// assembly at `go generate`, and the generated code binds each site to
// this binary (Bind) at init.
//
// # Declaring a site
//
// The owner package keeps its declarations in a small command under its
// directory, by convention <owner>/internal/sitedecl: an asm/sitegen Owner
// whose main is sitegen.Main. For example pvlock/internal/sitedecl
// declares pvlock's lock release (variant 0 "paravirt", the one the binary
// is built with: a tail call to a Go function, 3E E9 rel32; variant 1
// "native": store 0 to the 32-bit lock word, C7 07 00 00 00 00, in the same
// 6 bytes) and slow-path entry (a tail call either way, E9 rel32):
//
//	var owner = sitegen.Owner{Pkg: "pvlock", Generator: "pvlock/internal/sitedecl", Decls: []asm.Decl{
//		{Pkg: "pvlock", Name: "release", Sig: "(l *SpinLock)", Args: 8, Pre: asm.MovDI("l"), Len: 6,
//			Variants: []asm.Variant{asm.Jmp("paravirt", "unlockParavirtEntry"), asm.Store("native", 4, "DI", 0, 0)},
//			Post: asm.Ret(), NoEscape: true},
//		{Pkg: "pvlock", Name: "lockSlowEntry", Sig: "(l *SpinLock) bool", Args: 9, Len: 5,
//			Variants: []asm.Variant{asm.Jmp("paravirt", "lockSlowParavirtEntry"), asm.Jmp("native", "lockSlowNativeEntry")},
//			NoEscape: true},
//	}}
//
//	func main() { sitegen.Main(&owner) }
//
// Decl fields: Pkg is the owner's directory relative to the module root
// (its last element must be the package name); Name the Go name of the
// site function; Sig its parameters and results; Args their size in bytes
// (the N of $0-N); Pre the assembly before the slot (MovDI(arg) loads the
// first pointer argument into DI); Len the slot length; Variants, variant 0
// being what the binary starts with; Post the assembly after the slot
// (Ret() is {"RET"}; a site whose variants all jump needs none); NoEscape
// marks the prototype //go:noescape when no variant lets a pointer argument
// escape. An Owner may also ask for Lists: ordered arrays of some of its
// site functions and bound sites (internal/testsite lists its 512 batch
// sites so).
//
// A file of the owner package holds the line that runs the command (for
// pvlock, pvlock/gen.go):
//
//	//go:generate go run ./internal/sitedecl
//
// so that
//
//	go generate ./...
//
// from the module root regenerates every owner. The command writes into
// the owner package directory:
//
//   - zsites_amd64.s: the site function
//     TEXT ·release(SB), NOSPLIT|NOFRAME, $0-8 made of the preamble, the
//     slot holding variant 0 (raw BYTEs for stores and NOPs; for a JMP or
//     CALL its DS prefixes as `BYTE $0x3e;` then a real `JMP ·target(SB)` /
//     `CALL ·target(SB)` so the linker relocates it), the
//     epilogue, and for CALL variants an unreachable `CALL ·target(SB)` per
//     target after the epilogue so the linker's nosplit check sees every
//     call; plus one address helper per site function and target
//     (`MOVQ $·sym(SB), AX`: the ABI0 entry, never a Go func value, which
//     points at an ABI wrapper);
//   - zsites_amd64.go: the Go prototype of the site function, its
//     declaration with the variants encoded (a variable of its own, which
//     the linker lays out as static data), and
//     `var releaseSite = asm.Bind(...)` (the Name plus "Site"), the site
//     bound to this binary.
//
// Both files start with a header naming the command that wrote them.
// Commit them; a test next to the command (Owner.Check) fails when they are
// stale, or remain after the owner stopped declaring sites, and a test of
// asm/sitegen fails on a generated file whose command is gone. Being a
// command, the declarations and their assembler (asm/internal/encode,
// golang-asm) are linked into no binary of the owner. The owner package
// defines the targets as ordinary Go functions in the same package (the
// linker gives each an ABI0 wrapper, which is what the JMP reaches, with
// the arguments where the caller put them) and, for other platforms, its
// own non-amd64 fallback (the generated files are amd64 only). It switches
// the site with package patch, e.g. to pvlock's native mode:
// patch.Switch([]patch.Change{{Site: releaseSite, Variant: 1},
// {Site: lockSlowEntrySite, Variant: 1}}), the variant found by name with
// Site.VariantIndex("native").
//
// # Rules every site obeys (they are checked)
//
//   - The site function is NOSPLIT|NOFRAME with a $0 frame, so it has no
//     prologue: the slot starts after exactly len(Pre) instructions, which
//     Bind finds by decoding.
//   - Len >= 5; every variant encodes to exactly Len bytes as ONE
//     instruction (a thread may resume at any instruction boundary of any
//     variant, so variants may not have inner boundaries). Variants are
//     assembled with golang-asm and widened to Len by longer ModRM/SIB and
//     displacement forms and DS prefixes (asm/internal/encode), then decoded
//     with x86asm to check op, operands, width and length.
//   - A JMP or CALL variant is Len-5 DS segment-override prefixes (3E, the
//     only prefix allowed, at most 4: Len 5..9) followed by E9/E8 rel32:
//     one instruction, its opcode at offset Len-5, its rel32 at Len-4,
//     relative to the end of the site (site+Len). The CPU ignores DS on a
//     direct near JMP/CALL in 64-bit mode, so a Len-6 slot can hold both a
//     4-byte MOVL store (C7 07 imm32) and 3E E9 rel32. A JMP is a tail
//     call: its target has the site function's Go signature (the arguments
//     are still where the caller put them, since the frame is empty). A
//     CALL target is a func() of the owner package and returns to the end
//     of the site (site+Len, natively and when the trap handler emulates
//     it); the epilogue must follow the slot (an instruction after the
//     site) and no register or flag may be live across the slot.
//   - A store variant is one MOV $imm, disp(base) of 1, 2, 4 or 8 bytes, no
//     index register: the trap handler emulates it with one store of that
//     width (never a read-modify-write).
//   - At init Bind computes each CALL/JMP rel32 (target - (site+Len)) from
//     the helper addresses and checks that the live slot is byte-identical
//     to variant 0 (so the linker's relocation of a padded JMP/CALL is
//     checked too) and decodes as declared. Anything else is recorded in
//     Site.Err as a *MismatchError naming the site and the bytes, and
//     package patch refuses the site.
//
// # Never
//
// asm never writes code; it only describes and verifies it. It never takes
// an address from a Go func value.
//
// Test sites of every kind live in package internal/testsite (declared by
// internal/testsite/internal/sitedecl), including slots of 6 and 9 bytes
// with DS-padded JMP/CALL variants (Release32, Tick6, Count9); only test
// binaries link it.
//
// Package asm does no work at init. Bind, run by the generated code at the
// owner's init, copies no declaration (the generated one is static data)
// and allocates the Site, one array of the variants' bytes, and what
// decoding the slot takes.
//
// Measured on this project's 2-vCPU KVM guest: a site running its variant
// natively costs ~1.5 ns per call (a call of a tiny assembly function);
// switching and trap costs are in package patch.
package asm
