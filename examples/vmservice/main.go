// Command vmservice is a small HTTP key-value service on loopback whose
// shared state is guarded by pvlock SpinLocks, built to be operated live:
// it starts pvlock's control endpoint (so `pvswitch status|native|paravirt
// -p PID` drive it) and serves Prometheus metrics on /metrics and expvar
// on /debug/vars.
//
// Usage:
//
//	go run ./examples/vmservice [-addr 127.0.0.1:8080] [-shards N] [-load N]
//
// The API: PUT /kv/KEY (body: the value), GET /kv/KEY, DELETE /kv/KEY,
// GET /stats. -load N runs N goroutines that put and get random keys in
// the store directly, as a busy service would, so that the locks are
// contended. It prints one line with its pid, its URL and its endpoint, and
// stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pvswitch/pvswitch/pvlock/control"
	_ "github.com/pvswitch/pvswitch/pvlock/expvars" // publishes "pvlock" on /debug/vars
	"github.com/pvswitch/pvswitch/pvlock/metrics"
)

func main() {
	os.Exit(run())
}

func run() int {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address; must be a loopback address")
	shards := flag.Int("shards", 8, "lock-guarded shards of the store")
	load := flag.Int("load", 0, "goroutines that put and get random keys in the store (0: none)")
	flag.Parse()
	if flag.NArg() != 0 || *shards < 1 || *load < 0 {
		fmt.Fprintln(os.Stderr, "vmservice: want -shards >= 1, -load >= 0 and no arguments; see -h")
		return 2
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "vmservice: -addr %q is not a loopback address (e.g. 127.0.0.1:8080)\n", *addr)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ctl, err := control.Start(control.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmservice: control endpoint: %v\n", err)
		return 1
	}
	defer ctl.Stop()

	st := newStore(*shards)
	col := metrics.NewCollector()
	defer col.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(col, prometheus.NewGoCollector())

	mux := http.NewServeMux()
	mux.Handle("/kv/", st)
	mux.HandleFunc("/stats", st.statsHandler)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/debug/vars", http.DefaultServeMux) // expvar's handler

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmservice: %v (is another instance running? try -addr 127.0.0.1:0)\n", err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	loadDone := startLoad(ctx, st, *load)
	fmt.Printf("vmservice: pid %d, http://%s, control endpoint %s, load %d\n", os.Getpid(), ln.Addr(), ctl.Path(), *load)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "vmservice: %v\n", err)
		return 1
	}
	<-loadDone
	if err := st.check(); err != nil {
		fmt.Fprintf(os.Stderr, "vmservice: %v\n", err)
		return 1
	}
	fmt.Println("vmservice: stopped")
	return 0
}
