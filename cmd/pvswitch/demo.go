package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/pvswitch/pvswitch/pvlock"
)

// demo runs `pvswitch stress` in a child process per mode and compares.
func demo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr)
	var w workload
	w.flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := w.validate(); err != nil {
		fmt.Fprintf(stderr, "pvswitch demo: %v\n", err)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "pvswitch demo: cannot find own executable to re-run: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "pvswitch demo: %d OS threads (+%d goroutines) on %d lock(s) for %v per mode.\n",
		w.threads, w.goroutines, w.locks, w.duration)
	fmt.Fprintf(stdout, "Each mode runs in a fresh process with %s set (live switching is not available yet).\n\n", pvlock.EnvMode)
	rate := map[pvlock.Mode]float64{}
	for _, m := range []pvlock.Mode{pvlock.Native, pvlock.Paravirt} {
		cmd := exec.Command(self, "stress",
			"-threads", strconv.Itoa(w.threads), "-goroutines", strconv.Itoa(w.goroutines),
			"-locks", strconv.Itoa(w.locks), "-duration", w.duration.String())
		cmd.Env = append(os.Environ(), pvlock.EnvMode+"="+m.String())
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		io.Copy(stdout, bytes.NewReader(out.Bytes()))
		if err != nil {
			fmt.Fprintf(stderr, "pvswitch demo: the %v run failed: %v\n", m, err)
			return 1
		}
		r, ok := parseRate(out.Bytes())
		if !ok {
			fmt.Fprintf(stderr, "pvswitch demo: no throughput in the %v run's output\n", m)
			return 1
		}
		rate[m] = r
	}
	fmt.Fprintf(stdout, "\nparavirt / native throughput: %.1fx\n", rate[pvlock.Paravirt]/rate[pvlock.Native])
	return 0
}

// parseRate finds "NNN ops/s" in a stress run's output.
func parseRate(out []byte) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		for i := 1; i < len(f); i++ {
			if f[i] == "ops/s" {
				v, err := strconv.ParseFloat(f[i-1], 64)
				return v, err == nil
			}
		}
	}
	return 0, false
}
