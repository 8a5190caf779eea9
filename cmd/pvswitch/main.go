// Command pvswitch is the operator's tool for pvlock.
//
// Usage:
//
//	pvswitch demo   [-threads N] [-duration D]
//	pvswitch stress [-threads N] [-goroutines N] [-locks N] [-duration D]
//
// demo runs the same oversubscribed workload (more OS threads than CPUs, as
// in a VM whose host overcommits its vCPUs) once under each mode, in child
// processes started with PVLOCK_MODE set, and prints the throughput of each.
// stress runs the workload once in the process's own mode (PVLOCK_MODE) and
// prints throughput and pvlock's statistics. Both check mutual exclusion and
// exit non-zero if it was violated or a wakeup was lost.
//
// Switching a running process's mode is not available yet: the mode is
// chosen at start.
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
  demo     run an oversubscribed workload under each mode and compare
  stress   run the workload in this process's mode (PVLOCK_MODE) and print stats

Run 'pvswitch <command> -h' for the flags of a command.
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"demo"}
	}
	switch args[0] {
	case "demo":
		return demo(args[1:], stdout, stderr)
	case "stress":
		return stressCmd(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "pvswitch: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
}

// newFlagSet returns a FlagSet that reports errors to stderr and does not
// exit the process.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pvswitch "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
