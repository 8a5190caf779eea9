// Command neighbour runs contending SpinLocks while it switches the mode
// back to back, under whatever neighbour the test that runs it set up: a
// debugger (gdb), a uprobe on a lock-op site (-wait: placed once the sites
// are printed), a memory-deny-write-execute
// policy (-mdwe), or a seccomp filter that denies membarrier after start
// (-seccomp). pvlock/neighbours_linux_test.go builds and runs it and reads
// its report from stdout, one "key value" line each:
//
//	sites release=0x... lockSlowEntry=0x...
//	switch-error <count> <message>   (each distinct error once)
//	switches <ok> <failed>
//	rewound <n>                      (traps whose PC a debugger had rewound)
//	status <pvlock.Status.String()>
//	mechanism <patched|dispatch>
//	DONE                             (every goroutine finished in time)
//
// If the contending goroutines do not finish within -watchdog after -dur,
// it prints LIVELOCK and exits with status 3.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/int3"
	"github.com/pvswitch/pvswitch/pvlock"
)

var (
	dur      = flag.Duration("dur", time.Second, "how long the goroutines contend")
	every    = flag.Duration("every", 5*time.Millisecond, "switch period (0: no switching; one switch attempt at the end)")
	nG       = flag.Int("g", 4, "contending goroutines")
	watchdog = flag.Duration("watchdog", 10*time.Second, "how long after -dur the goroutines must have finished")
	doSec    = flag.Bool("seccomp", false, "install a seccomp filter denying membarrier (EPERM) before switching")
	doMDWE   = flag.Bool("mdwe", false, "set PR_SET_MDWE(PR_MDWE_REFUSE_EXEC_GAIN) and re-execute without -mdwe")
	onlySite = flag.Bool("sites", false, "print the site addresses and exit")
	wait     = flag.Bool("wait", false, "after printing the site addresses, wait for a line on stdin before contending")
)

func main() {
	flag.Parse()
	if *doMDWE {
		reexecMDWE()
	}
	var addrs []string
	for _, s := range pvlock.Sites() {
		addrs = append(addrs, fmt.Sprintf("%s=%#x", s.Name[len("pvlock."):], s.Addr))
	}
	fmt.Println("sites", addrs)
	var live []string
	for _, s := range pvlock.Sites() {
		live = append(live, s.LiveVariant)
	}
	st0 := pvlock.ReadStatus()
	fmt.Println("start", st0.Mode, st0.Mechanism, strings.Join(live, ","))
	if *onlySite {
		return
	}
	if *wait {
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	if *doSec {
		if err := denyMembarrier(); err != nil {
			fmt.Println("seccomp-error", err)
			os.Exit(2)
		}
	}

	var l pvlock.SpinLock
	var shared int64
	var wg sync.WaitGroup
	stop := time.Now().Add(*dur)
	var finished atomic.Int32
	for range *nG {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer finished.Add(1)
			for i := 0; ; i++ {
				if i%64 == 0 && time.Now().After(stop) {
					return
				}
				l.Lock()
				shared++
				for j := 0; j < 50; j++ { // hold it a little: contention reaches the slow path
					_ = j
				}
				l.Unlock()
			}
		}()
	}

	errs := map[string]int{}
	ok, failed := 0, 0
	try := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		to := pvlock.Native
		if pvlock.CurrentMode() == pvlock.Native {
			to = pvlock.Paravirt
		}
		if err := pvlock.Switch(ctx, to); err != nil {
			failed++
			errs[err.Error()]++
		} else {
			ok++
		}
		cancel()
	}
	if *every > 0 {
		for time.Now().Before(stop) {
			try()
			time.Sleep(*every)
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(stop) + *watchdog):
		fmt.Printf("LIVELOCK %d of %d goroutines finished within %v after the run\n", finished.Load(), *nG, *watchdog)
		os.Exit(3)
	}
	if *every == 0 {
		try()
	}
	msgs := make([]string, 0, len(errs))
	for m := range errs {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for _, m := range msgs {
		fmt.Println("switch-error", errs[m], m)
	}
	fmt.Println("switches", ok, failed)
	fmt.Println("rewound", int3.Rewound())
	st := pvlock.ReadStatus()
	fmt.Println("status", st)
	fmt.Println("mechanism", st.Mechanism)
	fmt.Println("DONE", shared > 0)
}

// reexecMDWE turns on memory-deny-write-execute for this process and its
// future images (prctl PR_SET_MDWE = 65, PR_MDWE_REFUSE_EXEC_GAIN = 1;
// inherited across execve), then re-executes itself without -mdwe, so
// that pvlock starts under the policy.
func reexecMDWE() {
	const prSetMDWE, mdweRefuseExecGain = 65, 1
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetMDWE, mdweRefuseExecGain, 0, 0, 0, 0); e != 0 {
		fmt.Println("mdwe-error", e)
		os.Exit(2)
	}
	var args []string
	for _, a := range os.Args {
		if a != "-mdwe" && a != "--mdwe" {
			args = append(args, a)
		}
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, args, os.Environ())
	}
	fmt.Println("mdwe-error", err)
	os.Exit(2)
}

// sockFilter is struct sock_filter (include/uapi/linux/filter.h).
type sockFilter struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

// sockFprog is struct sock_fprog.
type sockFprog struct {
	n      uint16
	filter *sockFilter
}

// denyMembarrier installs, on every thread of the process
// (SECCOMP_FILTER_FLAG_TSYNC), a seccomp filter under which membarrier(2)
// fails with EPERM and every other system call is allowed.
func denyMembarrier() error {
	const (
		bpfLdWAbs      = 0x00 | 0x00 | 0x20 // BPF_LD|BPF_W|BPF_ABS
		bpfJeqK        = 0x05 | 0x10 | 0x00 // BPF_JMP|BPF_JEQ|BPF_K
		bpfRetK        = 0x06 | 0x00        // BPF_RET|BPF_K
		auditArchX8664 = 0xc000003e
		retAllow       = 0x7fff0000
		retErrno       = 0x00050000
		sysMembarrier  = 324
		prSetNoNewPriv = 38
		sysSeccomp     = 317
		setModeFilter  = 1
		flagTSync      = 1
	)
	prog := []sockFilter{
		{bpfLdWAbs, 0, 0, 4}, // seccomp_data.arch
		{bpfJeqK, 1, 0, auditArchX8664},
		{bpfRetK, 0, 0, retAllow},
		{bpfLdWAbs, 0, 0, 0}, // seccomp_data.nr
		{bpfJeqK, 0, 1, sysMembarrier},
		{bpfRetK, 0, 0, retErrno | uint32(syscall.EPERM)},
		{bpfRetK, 0, 0, retAllow},
	}
	fp := sockFprog{n: uint16(len(prog)), filter: &prog[0]}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPriv, 1, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", e)
	}
	if r, _, e := syscall.RawSyscall(sysSeccomp, setModeFilter, flagTSync, uintptr(unsafe.Pointer(&fp))); e != 0 || r != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER, TSYNC) = %d: %v", r, e)
	}
	runtime.KeepAlive(prog)
	return nil
}
