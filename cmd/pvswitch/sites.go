package main

import (
	"fmt"
	"io"
	"runtime"

	"golang.org/x/arch/x86/x86asm"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/pvlock"
)

// sitesCmd lists this binary's patchable lock-op sites: address, the live
// bytes, and every variant disassembled at the site's address, marking the
// one that runs now.
func sitesCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sites", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "pvswitch sites: unexpected arguments %q\n", fs.Args())
		return 2
	}
	st := pvlock.ReadStatus()
	fmt.Fprintf(stdout, "mode %v, mechanism %s\n", st.Mode, mechanism(st))
	all := asm.Sites()
	if len(all) == 0 {
		fmt.Fprintln(stdout, "no patchable sites in this binary (not amd64?)")
		return 0
	}
	for _, s := range all {
		fmt.Fprintf(stdout, "\n%s at %#x, %d bytes, live % x", s.Name(), s.Addr(), s.Len(), s.Live())
		if err := s.Err(); err != nil {
			fmt.Fprintf(stdout, "\n  refused: %v\n", err)
			continue
		}
		cur := -1
		if st.Mechanism == "patched" {
			cur = patch.Current(s)
			fmt.Fprintf(stdout, ", traps %d", patch.Traps(s))
		}
		fmt.Fprintln(stdout)
		for i := range s.NumVariants() {
			mark := " "
			if i == cur {
				mark = "*"
			}
			fmt.Fprintf(stdout, "  %s %d %-9s % -17x %s\n", mark, i, s.Variant(i).Name, s.Bytes(i), disasm(s.Bytes(i), s.Addr()))
		}
	}
	return 0
}

// disasm decodes one instruction at pc in Go syntax, naming the functions
// that jump targets fall in.
func disasm(b []byte, pc uintptr) string {
	inst, err := x86asm.Decode(b, 64)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return x86asm.GoSyntax(inst, uint64(pc), func(addr uint64) (string, uint64) {
		if f := runtime.FuncForPC(uintptr(addr)); f != nil {
			return f.Name(), uint64(f.Entry())
		}
		return "", 0
	})
}

// statusCmd prints pvlock's status and statistics.
func statusCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "pvswitch status: unexpected arguments %q\n", fs.Args())
		return 2
	}
	s := pvlock.ReadStats()
	fmt.Fprintf(stdout, "%v\nstats: slow=%d parks=%d kicks=%d rescues=%d untracked=%d\n",
		pvlock.ReadStatus(), s.SlowAcquires, s.Parks, s.Kicks, s.Rescues, s.Untracked)
	return 0
}
