package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pvswitch/pvswitch/pvlock/control"
)

// Exit codes (documented in the package doc).
const (
	exitOK         = 0 // the command did what was asked
	exitFail       = 1 // the operation failed (switch refused, endpoint error)
	exitUsage      = 2 // bad command line
	exitNoEndpoint = 3 // the pid has no endpoint (no process, no socket, stale socket)
)

// remoteFlags are the flags of the commands that talk to a process's
// control endpoint.
type remoteFlags struct {
	pid     int
	dir     string
	json    bool
	timeout time.Duration
}

// add registers the flags on fs; -p only if pidHelp is not empty.
func (r *remoteFlags) add(fs *flag.FlagSet, pidHelp string) {
	if pidHelp != "" {
		fs.IntVar(&r.pid, "p", 0, pidHelp)
	}
	fs.StringVar(&r.dir, "dir", "", "endpoint directory (default: $"+control.DirEnv+", else $XDG_RUNTIME_DIR/pvswitch, /run/pvswitch for root, else $TMPDIR/pvswitch-UID)")
	fs.BoolVar(&r.json, "json", false, "print JSON for scripts")
	fs.DurationVar(&r.timeout, "timeout", 5*time.Second, "bound on connecting and on each reply")
}

// parse parses args into fs and checks them: no stray arguments, a
// positive -p if needPid. It returns -1 if the command may run, else the
// exit code (0 for -h).
func parseRemote(fs *flag.FlagSet, args []string, r *remoteFlags, needPid bool, stderr io.Writer) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q (flags go before them; see -h)\n", fs.Name(), fs.Args())
		return exitUsage
	}
	if needPid && r.pid <= 0 {
		fmt.Fprintf(stderr, "%s: -p PID is required and must be a positive process id; 'pvswitch list' shows the processes with an endpoint\n", fs.Name())
		return exitUsage
	}
	if r.timeout <= 0 {
		fmt.Fprintf(stderr, "%s: -timeout %v must be positive\n", fs.Name(), r.timeout)
		return exitUsage
	}
	return -1
}

// dial connects to the endpoint of r.pid, or reports why not and returns
// the exit code.
func (r *remoteFlags) dial(name string, stderr io.Writer) (*control.Client, int) {
	c, err := control.Dial(r.dir, r.pid, r.timeout)
	if err != nil {
		if errors.Is(err, control.ErrNoEndpoint) {
			fmt.Fprintf(stderr, "pvswitch %s: %v; 'pvswitch list' shows the processes with an endpoint\n", name, err)
			return nil, exitNoEndpoint
		}
		fmt.Fprintf(stderr, "pvswitch %s: %v\n", name, err)
		return nil, exitFail
	}
	return c, -1
}

// call dials, sends one request and returns the reply, or the exit code.
func (r *remoteFlags) call(name string, req control.Request, stderr io.Writer) (control.Response, int) {
	c, code := r.dial(name, stderr)
	if c == nil {
		return control.Response{}, code
	}
	defer c.Close()
	resp, err := c.Call(req)
	if err != nil {
		fmt.Fprintf(stderr, "pvswitch %s -p %d: %v\n", name, r.pid, err)
		return resp, exitFail
	}
	return resp, -1
}

// printJSON writes v as one indented JSON object.
func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// printJSONLine writes v as one JSON line.
func printJSONLine(w io.Writer, v any) {
	json.NewEncoder(w).Encode(v)
}
