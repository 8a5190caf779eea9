package main

import (
	"fmt"
	"io"

	"github.com/pvswitch/pvswitch/pvlock"
)

// sitesCmd lists this binary's patchable lock-op sites: address, the live
// bytes, and every variant disassembled at the site's address, marking the
// one that runs now.
func sitesCmd(args []string, stdout, stderr io.Writer) int {
	if !parseNoArgs("sites", args, stderr) {
		return 2
	}
	st := pvlock.ReadStatus()
	fmt.Fprintf(stdout, "mode %v, mechanism %s\n", st.Mode, mechanism(st))
	sites := pvlock.Sites()
	if len(sites) == 0 {
		fmt.Fprintln(stdout, "no patchable sites in this binary (not amd64?)")
		return 0
	}
	for _, s := range sites {
		fmt.Fprintf(stdout, "\n%s at %#x, %d bytes, live % x", s.Name, s.Addr, s.Len, s.Live)
		if s.Err != nil {
			fmt.Fprintf(stdout, "\n  refused: %v\n", s.Err)
			continue
		}
		if st.Mechanism == pvlock.Patched {
			fmt.Fprintf(stdout, ", traps %d", s.Traps)
		}
		fmt.Fprintln(stdout)
		for i, v := range s.Variants {
			mark := " "
			if v.Name == s.LiveVariant {
				mark = "*"
			}
			fmt.Fprintf(stdout, "  %s %d %-9s % -17x %s\n", mark, i, v.Name, v.Bytes, v.Asm)
		}
	}
	return 0
}

// statusCmd prints pvlock's status and statistics.
func statusCmd(args []string, stdout, stderr io.Writer) int {
	if !parseNoArgs("status", args, stderr) {
		return 2
	}
	s := pvlock.ReadStats()
	fmt.Fprintf(stdout, "%v\nstats: slow=%d parks=%d kicks=%d rescues=%d untracked=%d\n",
		pvlock.ReadStatus(), s.SlowAcquires, s.Parks, s.Kicks, s.Rescues, s.Untracked)
	return 0
}
