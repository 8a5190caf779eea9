package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/pvswitch/pvswitch/pvlock/control"
)

// listCmd lists the processes with an endpoint in the directory.
func listCmd(args []string, stdout, stderr io.Writer) int {
	var r remoteFlags
	fs := newFlagSet("list", stderr)
	r.add(fs, "")
	if code := parseRemote(fs, args, &r, false, stderr); code >= 0 {
		return code
	}
	eps, err := control.List(r.dir)
	if err != nil {
		fmt.Fprintf(stderr, "pvswitch list: %v\n", err)
		return exitFail
	}
	type row struct {
		PID       int    `json:"pid"`
		Command   string `json:"command"`
		Mode      string `json:"mode"`
		Mechanism string `json:"mechanism"`
		Error     string `json:"error,omitempty"`
	}
	rows := []row{}
	for _, e := range eps {
		x := row{PID: e.PID}
		c, err := control.Dial(r.dir, e.PID, r.timeout)
		if err == nil {
			var resp control.Response
			resp, err = c.Call(control.Request{Op: control.OpStatus})
			c.Close()
			if err == nil {
				x.Command, x.Mode, x.Mechanism = resp.Status.Command, resp.Status.Mode, resp.Status.Mechanism
			}
		}
		if err != nil {
			x.Error = err.Error()
		}
		rows = append(rows, x)
	}
	if r.json {
		printJSON(stdout, rows)
		return exitOK
	}
	if len(rows) == 0 {
		dir := r.dir
		if dir == "" {
			dir = control.DefaultDir()
		}
		fmt.Fprintf(stdout, "no processes with an endpoint in %s\n", dir)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tCOMMAND\tMODE\tMECHANISM")
	for _, x := range rows {
		if x.Error != "" {
			fmt.Fprintf(tw, "%d\t?\t?\t%s\n", x.PID, x.Error)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", x.PID, x.Command, x.Mode, x.Mechanism)
	}
	tw.Flush()
	return exitOK
}
