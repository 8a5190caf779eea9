package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
)

// demo runs one oversubscribed workload (more OS threads than CPUs, as in a
// VM whose host overcommits its vCPUs) and switches the lock mode under it
// while it runs: native, then paravirt, then native again. It prints the
// throughput as it goes and the switches' latencies.
func demo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr)
	var w workload
	w.flags(fs)
	phase := fs.Duration("phase", time.Second, "how long each mode runs before the next switch")
	tick := fs.Duration("tick", 250*time.Millisecond, "how often to print the throughput")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	w.duration = 3 * *phase
	if err := w.validate(); err != nil || *tick <= 0 || *tick > *phase {
		if err == nil {
			err = fmt.Errorf("-tick must be positive and at most -phase")
		}
		fmt.Fprintf(stderr, "pvswitch demo: %v\n", err)
		return 2
	}
	st := pvlock.ReadStatus()
	fmt.Fprintf(stdout, "pvswitch demo: %d OS threads (+%d goroutines) on %d lock(s), %d CPUs; mechanism %s\n",
		w.threads, w.goroutines, w.locks, runtime.NumCPU(), mechanism(st))
	fmt.Fprintf(stdout, "native for %v, switch live to paravirt for %v, switch back to native for %v\n\n", *phase, *phase, *phase)

	plan := []pvlock.Mode{pvlock.Native, pvlock.Paravirt, pvlock.Native}
	perMode := map[pvlock.Mode][]float64{}
	// Per phase: whether its mode was reached, how many switch calls
	// failed, and the last error.
	reached := make([]bool, len(plan))
	failed := make([]int, len(plan))
	lastErr := make([]error, len(plan))
	r, err := stressLive(w, *tick, func(elapsed time.Duration, ops int64, rate float64) {
		m := pvlock.CurrentMode()
		perMode[m] = append(perMode[m], rate)
		fmt.Fprintf(stdout, "%7.2fs  %-8v %12.0f ops/s\n", elapsed.Seconds(), m, rate)
	}, func(elapsed time.Duration) (time.Duration, bool) {
		i := int(elapsed / *phase)
		if i >= len(plan) {
			return 0, false
		}
		want := plan[i]
		if pvlock.CurrentMode() == want {
			reached[i] = true
			return 0, false
		}
		t0 := time.Now()
		err := pvlock.Switch(context.Background(), want)
		d := time.Since(t0)
		if err != nil {
			failed[i]++
			lastErr[i] = err
			fmt.Fprintf(stdout, "         switch to %v: %v (will retry)\n", want, err)
			return d, false
		}
		reached[i] = true
		fmt.Fprintf(stdout, "         switched to %v in %v, while %d threads kept locking\n", want, d.Round(time.Microsecond), w.threads+w.goroutines)
		return d, true
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "\n%d critical sections; stats: slow=%d parks=%d kicks=%d rescues=%d\n",
		r.ops, r.stats.SlowAcquires, r.stats.Parks, r.stats.Kicks, r.stats.Rescues)
	nat, pv := median(perMode[pvlock.Native]), median(perMode[pvlock.Paravirt])
	if nat > 0 && pv > 0 {
		fmt.Fprintf(stdout, "median throughput: native %.0f ops/s, paravirt %.0f ops/s: paravirt/native %.1fx\n", nat, pv, pv/nat)
	}
	fmt.Fprintf(stdout, "status: %v\n", pvlock.ReadStatus())
	missed := false
	for i, ok := range reached {
		if !ok {
			missed = true
			fmt.Fprintf(stderr, "pvswitch demo: the switch to %v planned at %v never happened (%d attempts failed; last: %v)\n",
				plan[i], time.Duration(i)**phase, failed[i], lastErr[i])
		}
	}
	if missed {
		return 1
	}
	return 0
}

// mechanism names the switch mechanism, with how patched sites are written
// or why the dispatch fallback is in use.
func mechanism(s pvlock.Status) string {
	switch {
	case s.Why != nil:
		return fmt.Sprintf("%v (%v)", s.Mechanism, s.Why)
	case s.Writer != "":
		return fmt.Sprintf("%v via %s", s.Mechanism, s.Writer)
	}
	return s.Mechanism.String()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	for i := range s { // insertion sort: a handful of samples
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}
