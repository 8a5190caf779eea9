package main

import (
	"fmt"
	"io"
	"time"

	"github.com/pvswitch/pvswitch/pvlock/control"
)

// watchCmd prints one line per interval: process -p's mode and the rates
// of its counters over the interval.
func watchCmd(args []string, stdout, stderr io.Writer) int {
	var r remoteFlags
	fs := newFlagSet("watch", stderr)
	r.add(fs, "process to watch (required)")
	interval := fs.Duration("interval", time.Second, "time between lines")
	count := fs.Int("n", 0, "stop after this many lines (0: until interrupted or the process exits)")
	if code := parseRemote(fs, args, &r, true, stderr); code >= 0 {
		return code
	}
	if *interval < 10*time.Millisecond || *count < 0 {
		fmt.Fprintf(stderr, "pvswitch watch: -interval %v must be at least 10ms and -n %d not negative\n", *interval, *count)
		return exitUsage
	}
	c, code := r.dial("watch", stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	read := func() (*control.StatusReply, time.Time, bool) {
		resp, err := c.Call(control.Request{Op: control.OpStatus})
		if err != nil {
			fmt.Fprintf(stderr, "pvswitch watch -p %d: %v (has the process exited? 'pvswitch list')\n", r.pid, err)
			return nil, time.Time{}, false
		}
		return resp.Status, time.Now(), true
	}
	prev, t0, ok := read()
	if !ok {
		return exitFail
	}
	if !r.json {
		fmt.Fprintf(stdout, "pid %d (%s), every %v\n%-8s %-8s %8s %10s %10s %10s %7s %7s\n", prev.PID, prev.Command, *interval,
			"time", "mode", "switches", "slow/s", "parks/s", "kicks/s", "rescues", "traps")
	}
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for n := 0; *count == 0 || n < *count; n++ {
		<-tick.C
		cur, t1, ok := read()
		if !ok {
			return exitFail
		}
		sec := t1.Sub(t0).Seconds()
		rate := func(a, b int64) float64 { return float64(b-a) / sec }
		if r.json {
			printJSONLine(stdout, map[string]any{
				"time": t1.UTC().Format(time.RFC3339Nano), "mode": cur.Mode, "mechanism": cur.Mechanism,
				"switches": cur.Switches, "slow_per_second": rate(prev.SlowAcquires, cur.SlowAcquires),
				"parks_per_second": rate(prev.Parks, cur.Parks), "kicks_per_second": rate(prev.Kicks, cur.Kicks),
				"rescues": cur.Rescues, "traps": cur.Traps,
			})
		} else {
			fmt.Fprintf(stdout, "%-8s %-8s %8d %10.0f %10.0f %10.0f %7d %7d\n", t1.Format("15:04:05"), cur.Mode, cur.Switches,
				rate(prev.SlowAcquires, cur.SlowAcquires), rate(prev.Parks, cur.Parks), rate(prev.Kicks, cur.Kicks), cur.Rescues, cur.Traps)
		}
		prev, t0 = cur, t1
	}
	return exitOK
}
