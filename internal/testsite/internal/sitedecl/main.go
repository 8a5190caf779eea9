// Command sitedecl declares the test sites of package testsite and writes
// them into its zsites_amd64.s and zsites_amd64.go. It runs at
// `go generate` (internal/testsite/gen.go holds the //go:generate line).
package main

import (
	"fmt"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/asm/sitegen"
)

const pkg = "internal/testsite"

// owner holds one site of each kind of variant, longer slots, and the
// batch sites.
var owner = sitegen.Owner{
	Pkg:       pkg,
	Generator: pkg + "/internal/sitedecl",
	Decls: append([]asm.Decl{
		{Pkg: pkg, Name: "Flag", Sig: "(p *uint8)", Args: 8, Pre: asm.MovDI("p"), Len: 5, Variants: []asm.Variant{asm.Store("one", 1, "DI", 0, 1), asm.Store("two", 1, "DI", 0, 2)}, Post: asm.Ret(), NoEscape: true},
		{Pkg: pkg, Name: "Wide", Sig: "(p *[2]uint64)", Args: 8, Pre: asm.MovDI("p"), Len: 8, Variants: []asm.Variant{asm.Store("all", 8, "DI", 0, -1), asm.Store("high", 4, "DI", 8, 0x7eadbeef), asm.Nop("none")}, Post: asm.Ret(), NoEscape: true},
		{Pkg: pkg, Name: "Back", Sig: "(p *[2]uint64)", Args: 8, Pre: []string{"MOVQ p+0(FP), R13", "ADDQ $16, R13"}, Len: 8, Variants: []asm.Variant{asm.Store("low", 4, "R13", -16, 0x11111111), asm.Store("high", 2, "R13", -8, -2)}, Post: asm.Ret(), NoEscape: true},
		{Pkg: pkg, Name: "Count", Sig: "(c *Counter)", Args: 8, Len: 5, Variants: []asm.Variant{asm.Jmp("a", "countA"), asm.Jmp("b", "countB")}},
		{Pkg: pkg, Name: "Release", Sig: "(l *uint8)", Args: 8, Pre: asm.MovDI("l"), Len: 5, Variants: []asm.Variant{asm.Store("native", 1, "DI", 0, 0), asm.Jmp("paravirt", "releaseParavirt")}, Post: asm.Ret()},
		{Pkg: pkg, Name: "Tick", Sig: "()", Args: 0, Len: 5, Variants: []asm.Variant{asm.Call("a", "tickA"), asm.Call("b", "tickB"), asm.Nop("none")}, Post: asm.Ret()},
		// Longer slots: a JMP/CALL padded with Len-5 DS prefixes (3E..
		// E9/E8 rel32) beside a 4-byte store or a 6-byte NOP.
		{Pkg: pkg, Name: "Release32", Sig: "(l *uint32)", Args: 8, Pre: asm.MovDI("l"), Len: 6, Variants: []asm.Variant{asm.Store("native", 4, "DI", 0, 0), asm.Jmp("paravirt", "releaseParavirt32")}, Post: asm.Ret()},
		{Pkg: pkg, Name: "Tick6", Sig: "()", Args: 0, Len: 6, Variants: []asm.Variant{asm.Call("a", "tick6A"), asm.Call("b", "tick6B"), asm.Nop("none")}, Post: asm.Ret()},
		// The longest padded branch (4 DS prefixes), starting as a JMP.
		{Pkg: pkg, Name: "Count9", Sig: "(c *Counter)", Args: 8, Len: 9, Variants: []asm.Variant{asm.Jmp("a", "countA"), asm.Jmp("b", "countB")}},
	}, batch...),
	// batch (the site functions) and BatchSites, for package testsite's
	// Batch and the batch switches of package patch's tests.
	Lists: []sitegen.List{{Funcs: "batch", Sites: "BatchSites", Names: names(batch)}},
}

// batch declares the 512 sites B000..B511 that store 1 ("old") or 2 ("new")
// through their argument, for batch switches.
var batch = func() []asm.Decl {
	out := make([]asm.Decl, 512)
	for i := range out {
		out[i] = asm.Decl{Pkg: pkg, Name: fmt.Sprintf("B%03d", i), Sig: "(p *uint8)", Args: 8, Pre: asm.MovDI("p"), Len: 5,
			Variants: []asm.Variant{asm.Store("old", 1, "DI", 0, 1), asm.Store("new", 1, "DI", 0, 2)}, Post: asm.Ret(), NoEscape: true}
	}
	return out
}()

func names(decls []asm.Decl) []string {
	out := make([]string, len(decls))
	for i, d := range decls {
		out[i] = d.Name
	}
	return out
}

func main() { sitegen.Main(&owner) }
