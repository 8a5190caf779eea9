package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/pvswitch/pvswitch/pvlock"
	"github.com/pvswitch/pvswitch/pvlock/control"
)

// siteView is one lock-op site to print, from this process (control.Sites)
// or from another (its endpoint, plus its memory), with a note where the
// two disagree.
type siteView struct {
	control.SiteReply
	Note string `json:"note,omitempty"`
}

// sitesCmd lists the patchable lock-op sites of process -p, or of this
// binary without -p: address, the live bytes, and every variant
// disassembled at the site's address, marking the one that runs now.
//
// With -p, the names, addresses and variants come from the endpoint, and
// the current bytes are read by pvswitch itself from /proc/PID/mem (which
// needs the right to trace the process: the same user under ptrace_scope 0,
// or root), so that what is shown is what the CPU fetches, not the
// process's own account of it; the variants are disassembled here with
// x86asm. A difference from the process's account is reported.
func sitesCmd(args []string, stdout, stderr io.Writer) int {
	var r remoteFlags
	fs := newFlagSet("sites", stderr)
	r.add(fs, "process whose sites to show (default: pvswitch's own process)")
	if code := parseRemote(fs, args, &r, false, stderr); code >= 0 {
		return code
	}
	var header string
	var views []siteView
	patched := true
	if r.pid == 0 {
		st := pvlock.ReadStatus()
		patched = st.Mechanism == pvlock.Patched
		header = fmt.Sprintf("mode %v, mechanism %v", st.Mode, st.Mechanism)
		for _, s := range control.Sites() {
			views = append(views, siteView{SiteReply: s})
		}
	} else {
		var code int
		views, header, patched, code = remoteSites(&r, stderr)
		if code >= 0 {
			return code
		}
	}
	if r.json {
		printJSON(stdout, views)
		return exitOK
	}
	fmt.Fprintln(stdout, header)
	if len(views) == 0 {
		fmt.Fprintln(stdout, "no patchable sites in this binary (not amd64?)")
		return exitOK
	}
	printSites(stdout, views, patched)
	return exitOK
}

// remoteSites reads the sites of process r.pid; code >= 0 is an exit code.
func remoteSites(r *remoteFlags, stderr io.Writer) (views []siteView, header string, patched bool, code int) {
	c, code := r.dial("sites", stderr)
	if c == nil {
		return nil, "", false, code
	}
	defer c.Close()
	st, err := c.Call(control.Request{Op: control.OpStatus})
	if err != nil {
		fmt.Fprintf(stderr, "pvswitch sites -p %d: %v\n", r.pid, err)
		return nil, "", false, exitFail
	}
	resp, err := c.Call(control.Request{Op: control.OpSites})
	if err != nil {
		fmt.Fprintf(stderr, "pvswitch sites -p %d: %v\n", r.pid, err)
		return nil, "", false, exitFail
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", r.pid))
	if err != nil {
		fmt.Fprintf(stderr, "pvswitch sites -p %d: read its code: %v (run as root, or as its user with kernel.yama.ptrace_scope=0)\n", r.pid, err)
		return nil, "", false, exitFail
	}
	defer mem.Close()
	patched = st.Status.Mechanism == "patched"
	header = fmt.Sprintf("pid %d (%s): mode %s, mechanism %s; live bytes read from /proc/%d/mem", r.pid, st.Status.Command, st.Status.Mode, st.Status.Mechanism, r.pid)
	for _, s := range resp.Sites {
		v := siteView{SiteReply: control.SiteReply{Name: s.Name, Addr: s.Addr, Len: s.Len, Traps: s.Traps, Err: s.Err}}
		v.Live = make([]byte, s.Len)
		if _, err := mem.ReadAt(v.Live, int64(s.Addr)); err != nil {
			fmt.Fprintf(stderr, "pvswitch sites -p %d: read %s at %#x: %v\n", r.pid, s.Name, s.Addr, err)
			return nil, "", false, exitFail
		}
		for _, x := range s.Variants {
			v.Variants = append(v.Variants, control.VariantReply{Name: x.Name, Bytes: x.Bytes, Asm: withSymbol(disasm(x.Bytes, s.Addr), x.Asm)})
			if bytes.Equal(x.Bytes, v.Live) {
				v.LiveVariant = x.Name
			}
		}
		if v.LiveVariant != s.LiveVariant && patched && s.Err == "" {
			v.Note = fmt.Sprintf("memory holds variant %q, the process reported %q (a switch ran between the reads? run again)", v.LiveVariant, s.LiveVariant)
		}
		views = append(views, v)
	}
	return views, header, patched, -1
}

// disasm disassembles one instruction at pc in Go syntax.
func disasm(b []byte, pc uint64) string {
	inst, err := x86asm.Decode(b, 64)
	if err != nil {
		return "?? " + err.Error()
	}
	return x86asm.GoSyntax(inst, pc, nil)
}

// withSymbol appends to our disassembly the symbol a branch goes to, as
// the process's own disassembly names it ("JMP 0x7a2da0
// <pvlock.unlockParavirtEntry>"): pvswitch does not read the target's
// symbol table.
func withSymbol(ours, theirs string) string {
	f := strings.Fields(theirs)
	if len(f) == 0 || !strings.HasSuffix(f[len(f)-1], "(SB)") {
		return ours
	}
	sym := strings.TrimSuffix(f[len(f)-1], "(SB)")
	if i := strings.LastIndex(sym, "/"); i >= 0 {
		sym = sym[i+1:]
	}
	return ours + " <" + sym + ">"
}

// printSites prints the sites, marking each one's live variant.
func printSites(w io.Writer, views []siteView, patched bool) {
	for _, s := range views {
		fmt.Fprintf(w, "\n%s at %#x, %d bytes, live % x", s.Name, s.Addr, s.Len, s.Live)
		if s.Err != "" {
			fmt.Fprintf(w, "\n  refused: %s\n", s.Err)
			continue
		}
		if patched {
			fmt.Fprintf(w, ", traps %d", s.Traps)
		}
		fmt.Fprintln(w)
		if s.Note != "" {
			fmt.Fprintf(w, "  note: %s\n", s.Note)
		}
		for i, v := range s.Variants {
			mark := " "
			if v.Name == s.LiveVariant {
				mark = "*"
			}
			fmt.Fprintf(w, "  %s %d %-9s % -17x %s\n", mark, i, v.Name, v.Bytes, v.Asm)
		}
	}
}
