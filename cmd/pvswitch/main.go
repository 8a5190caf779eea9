// Command pvswitch is the operator's tool for pvlock.
//
// Usage:
//
//	pvswitch demo   [-threads N] [-goroutines N] [-locks N] [-phase D] [-tick D]
//	pvswitch stress [-threads N] [-goroutines N] [-locks N] [-duration D]
//	pvswitch sites    [-p PID] [-json]
//	pvswitch status   [-p PID] [-json]
//	pvswitch list     [-json]
//	pvswitch native   -p PID [-json] [-switch-timeout D]
//	pvswitch paravirt -p PID [-json] [-switch-timeout D]
//	pvswitch auto     -p PID [-json]
//	pvswitch watch    -p PID [-interval D] [-n N] [-json]
//	pvswitch version  [-json]
//
// demo runs an oversubscribed workload (more OS threads than CPUs, as in a
// VM whose host overcommits its vCPUs) and switches the lock mode live under
// it: native, paravirt, native again, printing the throughput as it goes.
// stress runs the workload in the process's mode (PVLOCK_MODE) and prints
// throughput and pvlock's statistics. Both check mutual exclusion and exit
// non-zero if it was violated or a wakeup was lost. sites disassembles the
// binary's patchable lock-op sites, every variant, marking the live one;
// status prints pvlock's switch mechanism and statistics.
//
// # Operating a running program
//
// A program that starts pvlock's control endpoint (package
// github.com/pvswitch/pvswitch/pvlock/control) can be driven by pid: list
// shows the processes with an endpoint (pid, command, mode, mechanism);
// status -p PID its mode, mechanism, switch history and slow-path counters
// (with -json one object whose "mode" is "native" or "paravirt"); native -p
// PID and paravirt -p PID switch it live and print the latency, taking
// control from its auto policy if one runs, and auto -p PID hands control
// back to the policy (starting it if it was not running); sites -p PID
// shows its lock-op sites, the live bytes read from /proc/PID/mem and each
// variant disassembled; watch -p PID prints its mode and counter rates once
// per interval. Without -p, status and sites show pvswitch's own process.
// All these commands take -dir (the endpoint directory, default as
// control.DefaultDir) and -timeout. Every command takes -h.
//
// # Exit codes
//
//	0  success (and -h)
//	1  the operation failed: the switch was refused or gave up, the
//	   endpoint answered with an error, the process could not be read
//	2  usage error: unknown command, bad flag or value, stray argument
//	3  no endpoint for the pid: no such process, no socket, or a stale
//	   socket (removed)
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: pvswitch <command> [flags]

commands:
  demo     switch native -> paravirt -> native live under 32 OS threads
  stress   run the workload in this process's mode (PVLOCK_MODE) and print stats
  sites    disassemble the patchable lock-op sites, marking the live variant (-p PID: of a running process)
  status   print the switch mechanism and lock statistics (-p PID: of a running process)
  list     list the processes with a control endpoint
  native   switch a running process to native (-p PID)
  paravirt switch a running process to paravirt (-p PID)
  auto     hand a running process's mode back to its auto policy (-p PID)
  watch    print a running process's mode and counter rates every interval (-p PID)
  version  print the version
  bench    stress benchmarks: every lock variant vs sync.Mutex, tables, JSON/CSV and plots

Run 'pvswitch <command> -h' for the flags of a command.
Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 no endpoint for the pid.
`)
}

func run(args []string, stdout, stderr io.Writer) (code int) {
	if len(args) == 0 {
		args = []string{"demo"}
	}
	if len(args) > 1 && isHelp(args[1]) {
		// The flag package printed the command's usage and the command
		// returned its usage-error code: asking for help is not an error.
		defer func() {
			if code == exitUsage {
				code = exitOK
			}
		}()
	}
	switch args[0] {
	case "demo":
		return demo(args[1:], stdout, stderr)
	case "stress":
		return stressCmd(args[1:], stdout, stderr)
	case "sites":
		return sitesCmd(args[1:], stdout, stderr)
	case "status":
		return statusCmd(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "list":
		return listCmd(args[1:], stdout, stderr)
	case "native", "paravirt":
		return switchCmd(args[0], args[1:], stdout, stderr)
	case "auto":
		return autoCmd(args[1:], stdout, stderr)
	case "watch":
		return watchCmd(args[1:], stdout, stderr)
	case "version":
		return versionCmd(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "pvswitch: unknown command %q; 'pvswitch -h' lists the commands\n", args[0])
		return exitUsage
	}
}

// newFlagSet returns a FlagSet that reports errors to stderr and does not
// exit the process.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pvswitch "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseNoArgs parses the flags of a command that takes no flags and no
// arguments (only -h); it reports whether the command may run.
func parseNoArgs(name string, args []string, stderr io.Writer) bool {
	fs := newFlagSet(name, stderr)
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "pvswitch %s: unexpected arguments %q\n", name, fs.Args())
		return false
	}
	return true
}

// isHelp reports whether arg asks for a command's usage.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}
