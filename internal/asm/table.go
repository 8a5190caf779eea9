package asm

import "fmt"

// Table declares every patchable site of the module, one line per site.
// After changing it run `go generate ./...` and commit the regenerated
// zsites_amd64.s and zsites_amd64.go of the owner packages. See the package
// documentation for the fields and the rules a site obeys.
var Table = append([]Decl{
	// pvlock's lock-op sites (see pvlock/sites.go). Variant 0 is the
	// paravirt variant, the one the binary is built with.
	{Pkg: "pvlock", Name: "release", Sig: "(l *SpinLock)", Args: 8, Pre: movDI("l"), Len: 6, Variants: []Variant{Jmp("paravirt", "unlockParavirtEntry"), Store("native", 4, "DI", 0, 0)}, Post: ret, NoEscape: true},
	{Pkg: "pvlock", Name: "lockSlowEntry", Sig: "(l *SpinLock) bool", Args: 9, Len: 5, Variants: []Variant{Jmp("paravirt", "lockSlowParavirtEntry"), Jmp("native", "lockSlowNativeEntry")}, NoEscape: true},

	// Test sites (internal/testsite): one of each kind of variant.
	{Pkg: testsite, Name: "Flag", Sig: "(p *uint8)", Args: 8, Pre: movDI("p"), Len: 5, Variants: []Variant{Store("one", 1, "DI", 0, 1), Store("two", 1, "DI", 0, 2)}, Post: ret, NoEscape: true},
	{Pkg: testsite, Name: "Wide", Sig: "(p *[2]uint64)", Args: 8, Pre: movDI("p"), Len: 8, Variants: []Variant{Store("all", 8, "DI", 0, -1), Store("high", 4, "DI", 8, 0x7eadbeef), Nop("none")}, Post: ret, NoEscape: true},
	{Pkg: testsite, Name: "Back", Sig: "(p *[2]uint64)", Args: 8, Pre: []string{"MOVQ p+0(FP), R13", "ADDQ $16, R13"}, Len: 8, Variants: []Variant{Store("low", 4, "R13", -16, 0x11111111), Store("high", 2, "R13", -8, -2)}, Post: ret, NoEscape: true},
	{Pkg: testsite, Name: "Count", Sig: "(c *Counter)", Args: 8, Len: 5, Variants: []Variant{Jmp("a", "countA"), Jmp("b", "countB")}},
	{Pkg: testsite, Name: "Release", Sig: "(l *uint8)", Args: 8, Pre: movDI("l"), Len: 5, Variants: []Variant{Store("native", 1, "DI", 0, 0), Jmp("paravirt", "releaseParavirt")}, Post: ret},
	{Pkg: testsite, Name: "Tick", Sig: "()", Args: 0, Len: 5, Variants: []Variant{Call("a", "tickA"), Call("b", "tickB"), Nop("none")}, Post: ret},
	// Longer slots: a JMP/CALL padded with Len-5 DS prefixes (3E.. E9/E8
	// rel32) beside a 4-byte store or a 6-byte NOP.
	{Pkg: testsite, Name: "Release32", Sig: "(l *uint32)", Args: 8, Pre: movDI("l"), Len: 6, Variants: []Variant{Store("native", 4, "DI", 0, 0), Jmp("paravirt", "releaseParavirt32")}, Post: ret},
	{Pkg: testsite, Name: "Tick6", Sig: "()", Args: 0, Len: 6, Variants: []Variant{Call("a", "tick6A"), Call("b", "tick6B"), Nop("none")}, Post: ret},
	// The longest padded branch (4 DS prefixes), starting as a JMP.
	{Pkg: testsite, Name: "Count9", Sig: "(c *Counter)", Args: 8, Len: 9, Variants: []Variant{Jmp("a", "countA"), Jmp("b", "countB")}},
}, batchSites(512)...)

const testsite = "internal/testsite"

var ret = []string{"RET"}

// movDI is the preamble that loads the first pointer argument into DI.
func movDI(arg string) []string { return []string{"MOVQ " + arg + "+0(FP), DI"} }

// batchSites declares n test sites B000.. that store 1 ("old") or 2 ("new")
// through their argument, for batch switches.
func batchSites(n int) []Decl {
	out := make([]Decl, n)
	for i := range out {
		out[i] = Decl{Pkg: testsite, Name: fmt.Sprintf("B%03d", i), Sig: "(p *uint8)", Args: 8, Pre: movDI("p"), Len: 5,
			Variants: []Variant{Store("old", 1, "DI", 0, 1), Store("new", 1, "DI", 0, 2)}, Post: ret, NoEscape: true}
	}
	return out
}
