package bench_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pvswitch/pvswitch/bench"
)

// A binary that runs suites re-executes itself for its child rows and
// antagonists, so it calls ChildMain first (a test binary, in TestMain).
// Here one in-process case, sync.Mutex against the TTAS reference, is run
// twice and its ratio read.
func Example() {
	if code, ok := bench.ChildMain(os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	exe, _ := os.Executable()
	r := &bench.Runner{Exe: exe, Args: []string{"-test.run=^$"}}
	s := bench.Suite{Name: "example", Reps: 2, Cases: []bench.Case{{
		Workload: bench.Workload{Name: "gor-4", Threads: 4, GOMAXPROCS: 2, CS: 20, Locks: 1, WritePct: 100, Duration: 20 * time.Millisecond},
		Locks:    []bench.Lock{bench.TTAS, bench.Mutex},
	}}}
	rep, err := r.Run(context.Background(), s)
	if err != nil {
		fmt.Println(err)
		return
	}
	row := rep.Row("gor-4", bench.TTAS)
	fmt.Println(len(row.Samples), "runs;", row.VsMutex > 0, "ratio to sync.Mutex")
	// Output: 2 runs; true ratio to sync.Mutex
}
