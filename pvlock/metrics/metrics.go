// Package metrics exports pvlock's state as Prometheus metrics, all named
// pvlock_*. It is a separate package so that programs that do not import it
// do not link client_golang; package expvars publishes the same counters
// through expvar without it.
//
// The metrics (counters are cumulative since the process started, except
// the histogram, which holds the switches completed since NewCollector):
//
//	pvlock_mode{mode}                      1 for the mode the locks run now, 0 for the other
//	pvlock_mechanism{mechanism}            1 for "patched" or "dispatch", 0 for the other
//	pvlock_switches_total                  completed switches
//	pvlock_switch_aborts_total             switches given up (ErrBusy)
//	pvlock_switch_failures_total           switches refused or not finished
//	pvlock_switch_duration_seconds         histogram of completed switches' latency
//	pvlock_last_switch_seconds             latency of the last completed switch
//	pvlock_worst_switch_seconds            latency of the slowest completed switch
//	pvlock_traps_total                     lock-op executions emulated during a rewrite
//	pvlock_slow_acquires_total             Lock calls that took the slow path
//	pvlock_parks_total                     paravirt waiters' sleeps
//	pvlock_kicks_total                     releases that woke a sleeper
//	pvlock_rescues_total                   sleepers the backstop woke (lost wakeups; should stay 0)
//	pvlock_untracked_sleeps_total          sleeps the backstop could not watch
//	pvlock_handoffs_total                  acquisitions handed to a long waiter
//	pvlock_switch_wakes_total              sleepers a switch woke
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pvswitch/pvswitch/pvlock"
)

// DefaultBuckets are the switch-latency histogram's upper bounds in
// seconds: 10 µs to about 5 s, doubling.
var DefaultBuckets = prometheus.ExponentialBuckets(10e-6, 2, 20)

// Collector is a prometheus.Collector of pvlock's state. Register one per
// registry; Close it when done.
type Collector struct {
	hist prometheus.Histogram
	stop func()

	mode, mechanism, last, worst *prometheus.Desc
	counters                     []counter
}

type counter struct {
	desc *prometheus.Desc
	get  func(pvlock.Status, pvlock.Stats) float64
}

// NewCollector returns a Collector whose switch-latency histogram observes
// every switch that completes from now on (through pvlock.ObserveSwitches).
func NewCollector() *Collector {
	c := &Collector{
		hist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pvlock_switch_duration_seconds",
			Help:    "Latency of completed pvlock switches, from the call of Switch to its return.",
			Buckets: DefaultBuckets,
		}),
		mode:      prometheus.NewDesc("pvlock_mode", "1 for the mode pvlock's locks run now, 0 for the other.", []string{"mode"}, nil),
		mechanism: prometheus.NewDesc("pvlock_mechanism", "1 for the switch mechanism in use (patched or dispatch), 0 for the other.", []string{"mechanism"}, nil),
		last:      prometheus.NewDesc("pvlock_last_switch_seconds", "Latency of the last completed switch.", nil, nil),
		worst:     prometheus.NewDesc("pvlock_worst_switch_seconds", "Latency of the slowest completed switch.", nil, nil),
	}
	add := func(name, help string, get func(pvlock.Status, pvlock.Stats) float64) {
		c.counters = append(c.counters, counter{prometheus.NewDesc(name, help, nil, nil), get})
	}
	add("pvlock_switches_total", "Completed switches.", func(s pvlock.Status, _ pvlock.Stats) float64 { return float64(s.Switches) })
	add("pvlock_switch_aborts_total", "Switches given up with ErrBusy.", func(s pvlock.Status, _ pvlock.Stats) float64 { return float64(s.Aborts) })
	add("pvlock_switch_failures_total", "Switches the patcher refused or could not finish.", func(s pvlock.Status, _ pvlock.Stats) float64 { return float64(s.Failures) })
	add("pvlock_traps_total", "Lock-op executions that hit an INT3 during a rewrite and were emulated.", func(s pvlock.Status, _ pvlock.Stats) float64 { return float64(s.Traps) })
	add("pvlock_slow_acquires_total", "Lock calls that did not get the lock with their first compare-and-swap.", func(_ pvlock.Status, t pvlock.Stats) float64 { return float64(t.SlowAcquires) })
	add("pvlock_parks_total", "Paravirt waiters' sleeps.", func(_ pvlock.Status, t pvlock.Stats) float64 { return float64(t.Parks) })
	add("pvlock_kicks_total", "Paravirt releases that woke a sleeper.", func(_ pvlock.Status, t pvlock.Stats) float64 { return float64(t.Kicks) })
	add("pvlock_rescues_total", "Sleepers the backstop woke: lost wakeups, should stay 0.", func(_ pvlock.Status, t pvlock.Stats) float64 { return float64(t.Rescues) })
	add("pvlock_untracked_sleeps_total", "Sleeps the backstop could not watch (registry full).", func(_ pvlock.Status, t pvlock.Stats) float64 { return float64(t.Untracked) })
	add("pvlock_handoffs_total", "Acquisitions handed to a waiter that had waited 1 ms or more.", func(_ pvlock.Status, t pvlock.Stats) float64 { return float64(t.Handoffs) })
	add("pvlock_switch_wakes_total", "Paravirt sleepers a switch woke.", func(_ pvlock.Status, t pvlock.Stats) float64 { return float64(t.SwitchWakes) })
	add("pvlock_switch_evictions_total", "Paravirt sleepers a switch took out of its drain without waiting for them to run.", func(_ pvlock.Status, t pvlock.Stats) float64 { return float64(t.SwitchEvictions) })
	c.stop = pvlock.ObserveSwitches(func(_ pvlock.Mode, d time.Duration) { c.hist.Observe(d.Seconds()) })
	return c
}

// Close stops the histogram's observation of switches. The Collector
// still collects the other metrics.
func (c *Collector) Close() { c.stop() }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.mode
	ch <- c.mechanism
	ch <- c.last
	ch <- c.worst
	for _, k := range c.counters {
		ch <- k.desc
	}
	c.hist.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st, ss := pvlock.ReadStatus(), pvlock.ReadStats()
	for _, m := range []pvlock.Mode{pvlock.Native, pvlock.Paravirt} {
		ch <- prometheus.MustNewConstMetric(c.mode, prometheus.GaugeValue, b2f(st.Mode == m), m.String())
	}
	for _, m := range []pvlock.Mechanism{pvlock.Patched, pvlock.Dispatch} {
		ch <- prometheus.MustNewConstMetric(c.mechanism, prometheus.GaugeValue, b2f(st.Mechanism == m), m.String())
	}
	ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, st.LastSwitch.Seconds())
	ch <- prometheus.MustNewConstMetric(c.worst, prometheus.GaugeValue, st.WorstSwitch.Seconds())
	for _, k := range c.counters {
		ch <- prometheus.MustNewConstMetric(k.desc, prometheus.CounterValue, k.get(st, ss))
	}
	c.hist.Collect(ch)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
