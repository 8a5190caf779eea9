package main

import (
	"fmt"
	"io"
	"time"

	"github.com/pvswitch/pvswitch/pvlock/control"
)

// switchCmd switches process -p to mode live through its endpoint and
// prints the latency.
func switchCmd(mode string, args []string, stdout, stderr io.Writer) int {
	var r remoteFlags
	fs := newFlagSet(mode, stderr)
	r.add(fs, "process to switch to "+mode+" (required)")
	budget := fs.Duration("switch-timeout", 0, "bound on the switch inside the process (default: the endpoint's, 5s)")
	if code := parseRemote(fs, args, &r, true, stderr); code >= 0 {
		return code
	}
	if *budget < 0 {
		fmt.Fprintf(stderr, "pvswitch %s: -switch-timeout %v must not be negative\n", mode, *budget)
		return exitUsage
	}
	start := time.Now()
	resp, code := r.call(mode, control.Request{Op: control.OpSwitch, Mode: mode, TimeoutMS: budget.Milliseconds()}, stderr)
	rtt := time.Since(start)
	if code >= 0 {
		if code == exitFail && resp.Status != nil {
			fmt.Fprintf(stderr, "pvswitch %s: the process stays %s; retry, or raise -switch-timeout if the switch gave up waiting (ErrBusy)\n", mode, resp.Status.Mode)
		}
		return code
	}
	if r.json {
		printJSON(stdout, struct {
			*control.SwitchReply
			RoundTripNS int64                `json:"round_trip_ns"`
			Status      *control.StatusReply `json:"status"`
		}{resp.Switch, int64(rtt), resp.Status})
		return exitOK
	}
	if resp.Switch.From == resp.Switch.To {
		fmt.Fprintf(stdout, "pid %d already %s (round trip %v)\n", r.pid, mode, rtt.Round(time.Microsecond))
		return exitOK
	}
	fmt.Fprintf(stdout, "pid %d switched %s -> %s in %v (round trip %v)\n", r.pid, resp.Switch.From, resp.Switch.To,
		time.Duration(resp.Switch.LatencyNS).Round(time.Microsecond), rtt.Round(time.Microsecond))
	return exitOK
}
