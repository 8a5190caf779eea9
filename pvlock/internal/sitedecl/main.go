// Command sitedecl declares pvlock's patchable sites and writes them into
// pvlock's zsites_amd64.s and zsites_amd64.go. It runs at `go generate`
// (pvlock/gen.go holds the //go:generate line); being a command, it is
// linked into no binary that uses pvlock. See pvlock/sites.go for what the
// sites do and package internal/asm for the rules a site obeys.
package main

import (
	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/asm/sitegen"
)

// owner holds pvlock's two lock-op sites. Variant 0 of each is "paravirt",
// the variant the binary is built with; "native" is variant 1. pvlock
// switches a site to the variant named after the mode.
var owner = sitegen.Owner{
	Pkg:       "pvlock",
	Generator: "pvlock/internal/sitedecl",
	Decls: []asm.Decl{
		// release: a tail call to unlockParavirtEntry (3E E9 rel32), or
		// the plain store of 0 to the lock word (C7 07 00 00 00 00).
		{Pkg: "pvlock", Name: "release", Sig: "(l *SpinLock)", Args: 8, Pre: asm.MovDI("l"), Len: 6,
			Variants: []asm.Variant{asm.Jmp("paravirt", "unlockParavirtEntry"), asm.Store("native", 4, "DI", 0, 0)},
			Post:     asm.Ret(), NoEscape: true},
		// lockSlowEntry: a tail call to the slow path of either mode.
		{Pkg: "pvlock", Name: "lockSlowEntry", Sig: "(l *SpinLock) bool", Args: 9, Len: 5,
			Variants: []asm.Variant{asm.Jmp("paravirt", "lockSlowParavirtEntry"), asm.Jmp("native", "lockSlowNativeEntry")},
			NoEscape: true},
	},
}

func main() { sitegen.Main(&owner) }
