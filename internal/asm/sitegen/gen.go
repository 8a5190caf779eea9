package sitegen

import (
	"bytes"
	"fmt"
	"go/format"
	"go/token"
	"path"
	"strings"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/asm/internal/encode"
)

// gen returns o's assembly and Go files; Generate has checked o.
func (o *Owner) gen() (sFile, goFile []byte, err error) {
	var s, g bytes.Buffer
	header := Header(o.Generator)
	fmt.Fprintf(&s, "%s\n\n#include \"textflag.h\"\n", header)
	fmt.Fprintf(&g, "%s\n\n//go:build amd64\n\npackage %s\n\nimport \"github.com/pvswitch/pvswitch/internal/asm\"\n", header, path.Base(o.Pkg))
	helpers := map[string]bool{} // symbols that need an address helper
	var helperOrder []string
	addHelper := func(sym string) {
		if !helpers[sym] {
			helpers[sym] = true
			helperOrder = append(helperOrder, sym)
		}
	}
	sigs := map[string]string{} // site name -> Sig
	for _, d := range o.Decls {
		sigs[d.Name] = d.Sig
		enc := make([][]byte, len(d.Variants))
		for i := range d.Variants {
			if enc[i], err = encode.Variant(&d, i); err != nil {
				return nil, nil, err
			}
		}
		v0 := d.Variants[0]
		fmt.Fprintf(&s, "\n// Site %s: a %d-byte slot; variants:", d.FullName(), d.Len)
		for i, v := range d.Variants {
			fmt.Fprintf(&s, "\n//   %d %s: %s = % x", i, v.Name, describe(v), enc[i])
		}
		fmt.Fprintf(&s, "\nTEXT ·%s(SB), NOSPLIT|NOFRAME, $0-%d\n", d.Name, d.Args)
		for _, l := range d.Pre {
			fmt.Fprintf(&s, "\t%s\n", l)
		}
		fmt.Fprintf(&s, "\t// slot: variant 0 %q\n", v0.Name)
		switch v0.Kind {
		case asm.KindJmp, asm.KindCall:
			// The DS padding prefixes as raw bytes, then a real instruction
			// so the linker relocates it (E9/E8 rel32 relative to its own
			// end, which is the end of the slot); Bind checks the whole
			// slot is the declared Len-byte instruction with that target.
			op := "JMP"
			if v0.Kind == asm.KindCall {
				op = "CALL"
			}
			s.WriteString("\t")
			for range d.Len - asm.Rel32Len {
				fmt.Fprintf(&s, "BYTE $0x%02x; ", asm.PrefixDS)
			}
			fmt.Fprintf(&s, "%s ·%s(SB)\n", op, v0.Target)
		default:
			parts := make([]string, len(enc[0]))
			for i, b := range enc[0] {
				parts[i] = fmt.Sprintf("BYTE $0x%02x", b)
			}
			fmt.Fprintf(&s, "\t%s\n", strings.Join(parts, "; "))
		}
		for _, l := range d.Post {
			fmt.Fprintf(&s, "\t%s\n", l)
		}
		calls := false
		for _, v := range d.Variants {
			if v.Kind == asm.KindCall {
				if !calls {
					fmt.Fprintf(&s, "\t// Never executed: shows the linker's nosplit check every call a variant makes.\n")
					calls = true
				}
				fmt.Fprintf(&s, "\tCALL ·%s(SB)\n", v.Target)
			}
		}

		// Go side: prototype, bound site, address helpers. The declaration
		// is a variable of its own so that the linker lays it out as static
		// data: binding the site at init copies nothing but the Decl.
		fmt.Fprintf(&g, "\n// %s is the site function of site %s (declared in %s).\n", d.Name, d.FullName(), o.Generator)
		if d.NoEscape {
			fmt.Fprintf(&g, "//\n//go:noescape\n")
		}
		fmt.Fprintf(&g, "func %s%s\n", d.Name, d.Sig)
		targets := make([]string, len(d.Variants))
		for i, v := range d.Variants {
			targets[i] = "0"
			if v.Target != "" {
				targets[i] = "zsiteAddr_" + v.Target + "()"
				addHelper(v.Target)
			}
		}
		fmt.Fprintf(&g, "\n// %sSite is site %s bound to this binary.\n", d.Name, d.FullName())
		fmt.Fprintf(&g, "var %sSite = asm.Bind(&zsiteDecl_%s, zsiteAddr_%s(), []uintptr{%s})\n", d.Name, d.Name, d.Name, strings.Join(targets, ", "))
		fmt.Fprintf(&g, "\n// zsiteDecl_%s declares site %s with its variants encoded (static data).\n", d.Name, d.FullName())
		fmt.Fprintf(&g, "\nvar zsiteDecl_%s = asm.Decl{\n\tPkg: %q, Name: %q, Sig: %q, Args: %d, Len: %d, NoEscape: %v,\n\tPre: %#v, Post: %#v,\n\tVariants: []asm.Variant{\n",
			d.Name, d.Pkg, d.Name, d.Sig, d.Args, d.Len, d.NoEscape, nilIfEmpty(d.Pre), nilIfEmpty(d.Post))
		for i, v := range d.Variants {
			fmt.Fprintf(&g, "\t\t{Name: %q, Kind: asm.%s, Width: %d, Base: %q, Disp: %d, Imm: %d, Target: %q, Bytes: %s},\n",
				v.Name, kindName(v.Kind), v.Width, v.Base, v.Disp, v.Imm, v.Target, byteLit(enc[i]))
		}
		fmt.Fprintf(&g, "\t},\n}\n")
		addHelper(d.Name)
	}
	for _, l := range o.Lists {
		if err := genList(&g, l, sigs); err != nil {
			return nil, nil, fmt.Errorf("sitegen: owner %s: %v", o.Pkg, err)
		}
	}
	fmt.Fprintf(&s, "\n// Address helpers: the ABI0 entry of each site function and target\n// (a Go func value would give an ABI wrapper's address instead).\n")
	fmt.Fprintf(&g, "\n// Address helpers (ABI0 entries), in %s.\n", AsmFile)
	for _, sym := range helperOrder {
		fmt.Fprintf(&s, "TEXT ·zsiteAddr_%s(SB), NOSPLIT|NOFRAME, $0-8\n\tMOVQ $·%s(SB), AX\n\tMOVQ AX, ret+0(FP)\n\tRET\n", sym, sym)
		fmt.Fprintf(&g, "func zsiteAddr_%s() uintptr\n", sym)
	}
	goFile, err = format.Source(g.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("sitegen: owner %s: gofmt: %v\n%s", o.Pkg, err, g.Bytes())
	}
	return s.Bytes(), goFile, nil
}

// genList writes the variables of list l; sigs maps the owner's site names
// to their Sig.
func genList(g *bytes.Buffer, l List, sigs map[string]string) error {
	if !token.IsIdentifier(l.Funcs) || (l.Sites != "" && !token.IsIdentifier(l.Sites)) || len(l.Names) == 0 {
		return fmt.Errorf("list %q/%q of %d sites: want identifiers and at least one site", l.Funcs, l.Sites, len(l.Names))
	}
	sig, ok := sigs[l.Names[0]]
	for _, n := range l.Names {
		if sigs[n] != sig || !ok {
			return fmt.Errorf("list %s: site %s is not declared or has not the Sig %q of %s", l.Funcs, n, sig, l.Names[0])
		}
	}
	span := fmt.Sprintf("%s .. %s", l.Names[0], l.Names[len(l.Names)-1])
	if len(l.Names) == 1 {
		span = l.Names[0]
	}
	span = fmt.Sprintf("%d sites %s", len(l.Names), span)
	elems := func(suffix string) {
		for i, n := range l.Names {
			if i%8 == 0 {
				g.WriteString("\n\t")
			} else {
				g.WriteString(" ")
			}
			fmt.Fprintf(g, "%s%s,", n, suffix)
		}
		g.WriteString("\n}\n")
	}
	fmt.Fprintf(g, "\n// %s lists the site functions of the %s, in declaration order.\nvar %s = [...]func%s{", l.Funcs, span, l.Funcs, sig)
	elems("")
	if l.Sites != "" {
		fmt.Fprintf(g, "\n// %s lists the %s bound to this binary, in the order of %s.\nvar %s = []*asm.Site{", l.Sites, span, l.Funcs, l.Sites)
		elems("Site")
	}
	return nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func kindName(k asm.Kind) string {
	return map[asm.Kind]string{asm.KindNop: "KindNop", asm.KindStore: "KindStore", asm.KindJmp: "KindJmp", asm.KindCall: "KindCall"}[k]
}

func byteLit(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("0x%02x", x)
	}
	return "[]byte{" + strings.Join(parts, ", ") + "}"
}

func describe(v asm.Variant) string {
	switch v.Kind {
	case asm.KindStore:
		suf := map[int]string{1: "B", 2: "W", 4: "L", 8: "Q"}[v.Width]
		return fmt.Sprintf("MOV%s $%d, %d(%s)", suf, v.Imm, v.Disp, v.Base)
	case asm.KindJmp:
		return "JMP " + v.Target
	case asm.KindCall:
		return "CALL " + v.Target
	}
	return "NOP"
}
