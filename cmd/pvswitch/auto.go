package main

import (
	"fmt"
	"io"

	"github.com/pvswitch/pvswitch/pvlock/control"
)

// autoCmd hands the mode of process -p back to its auto policy (starting
// the policy if it was not running): the way back after `pvswitch native`
// or `pvswitch paravirt` took control from it.
func autoCmd(args []string, stdout, stderr io.Writer) int {
	var r remoteFlags
	fs := newFlagSet("auto", stderr)
	r.add(fs, "process whose auto policy takes control (required)")
	if code := parseRemote(fs, args, &r, true, stderr); code >= 0 {
		return code
	}
	resp, code := r.call("auto", control.Request{Op: control.OpAuto}, stderr)
	if code >= 0 {
		return code
	}
	if r.json {
		printJSON(stdout, resp.Status)
		return exitOK
	}
	a := resp.Status.Auto
	fmt.Fprintf(stdout, "pid %d: auto policy in control (mode %s, policy switches %d, every %v)\n",
		r.pid, resp.Status.Mode, a.Switches, a.Config.Interval)
	return exitOK
}
