package main

import (
	"fmt"
	"io"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
	"github.com/pvswitch/pvswitch/pvlock/control"
)

// statusCmd prints the lock state of process -p through its endpoint, or,
// without -p, of pvswitch's own process.
func statusCmd(args []string, stdout, stderr io.Writer) int {
	var r remoteFlags
	fs := newFlagSet("status", stderr)
	r.add(fs, "process whose status to read (default: pvswitch's own process)")
	if code := parseRemote(fs, args, &r, false, stderr); code >= 0 {
		return code
	}
	if r.pid == 0 {
		if r.json {
			fmt.Fprintln(stderr, "pvswitch status: -json needs -p PID")
			return exitUsage
		}
		s := pvlock.ReadStats()
		fmt.Fprintf(stdout, "%v\nstats: slow=%d parks=%d kicks=%d rescues=%d untracked=%d\n",
			pvlock.ReadStatus(), s.SlowAcquires, s.Parks, s.Kicks, s.Rescues, s.Untracked)
		return exitOK
	}
	resp, code := r.call("status", control.Request{Op: control.OpStatus}, stderr)
	if code >= 0 {
		return code
	}
	if r.json {
		printJSON(stdout, resp.Status)
		return exitOK
	}
	printStatus(stdout, resp.Status)
	return exitOK
}

// printStatus formats a StatusReply for a person.
func printStatus(w io.Writer, s *control.StatusReply) {
	mech := s.Mechanism
	if s.Writer != "" {
		mech += " (" + s.Writer + ")"
	}
	fmt.Fprintf(w, "pid %d (%s)\n", s.PID, s.Command)
	fmt.Fprintf(w, "mode       %s\n", s.Mode)
	fmt.Fprintf(w, "mechanism  %s\n", mech)
	if s.Why != "" {
		fmt.Fprintf(w, "why        %s\n", s.Why)
	}
	fmt.Fprintf(w, "switches   %d (aborts %d, failures %d), last %v, worst %v, traps %d\n",
		s.Switches, s.Aborts, s.Failures, time.Duration(s.LastSwitchNS), time.Duration(s.WorstSwitchNS), s.Traps)
	fmt.Fprintf(w, "slow paths %d, parks %d, kicks %d, rescues %d, untracked %d, handoffs %d, switch wakes %d, evictions %d\n",
		s.SlowAcquires, s.Parks, s.Kicks, s.Rescues, s.Untracked, s.Handoffs, s.SwitchWakes, s.Evictions)
	fmt.Fprintf(w, "hypervisor %v\n", s.Hypervisor)
	a := "off"
	switch {
	case s.Auto.Enabled && s.Auto.Held:
		a = "on, held by an operator (pvswitch auto -p PID hands control back)"
	case s.Auto.Enabled:
		a = "on, in control"
	}
	fmt.Fprintf(w, "auto       %s; policy switches %d, failed %d\n", a, s.Auto.Switches, s.Auto.Failed)
	if d := s.Auto.LastDecision; d != nil {
		fmt.Fprintf(w, "           last decision %s -> %s at %s: %s\n", d.From, d.To, d.At.Format(time.TimeOnly), d.Reason)
	}
	if s.Auto.Enabled && s.Auto.Verdict != "" {
		fmt.Fprintf(w, "           last sample %s\n", s.Auto.Verdict)
	}
	if len(s.Auto.Missing) > 0 {
		fmt.Fprintf(w, "           missing inputs: %v\n", s.Auto.Missing)
	}
	fmt.Fprintf(w, "endpoint   refused %d connections\n", s.Refused)
}
