package patch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/int3"
)

// membarrier(2) commands (include/uapi/linux/membarrier.h).
const (
	membarrierQuery                  = 0
	membarrierPrivateExpeditedSync   = 1 << 5 // MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE
	membarrierRegisterPrivateExpSync = 1 << 6 // MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
	sysMembarrier                    = 324    // arch/x86/entry/syscalls/syscall_64.tbl
)

const (
	opInt3   = 0xCC // INT3 (Intel SDM Vol. 2A)
	pageSize = 4096

	// Environment switches.
	envAllowTracer = "PVSWITCH_ALLOW_TRACER" // "1": patch even with a tracer attached
	envWriter      = "PVSWITCH_PATCH_WRITER" // "mprotect": use the fallback writer
)

// Text writers.
const (
	writerProcMem  = "procmem"  // pwrite to /proc/self/mem: text never writable+executable
	writerMprotect = "mprotect" // mprotect RWX for the write only, then back to R-X
)

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// poke copies n bytes from src to dst (text made writable by mprotect).
// Assembly: no race instrumentation of text addresses.
func poke(dst, src, n uintptr)

var (
	initOnce sync.Once
	initErr  error
	writer   string // writerProcMem or writerMprotect
	memFD    = -1   // /proc/self/mem, opened once, before any window

	allowTracer atomic.Bool

	mu    sync.Mutex             // one switch at a time; guards below
	reg   sync.Map               // *asm.Site -> *int3.Site; entries are added, never changed
	armed = map[*asm.Site]bool{} // sites left with INT3 by a failed roll-forward

	switches, aborted, lastWindow, maxWindow atomic.Int64

	// Test seams.
	tracerPid = readTracerPid
	inject    func(step string, i int) syscall.Errno // fault injection, nil in production
	hookArmed func()                                 // runs in the window after INT3+SYNC_CORE, before the commit
)

// Init prepares live patching once: installs the SIGTRAP handler,
// registers for membarrier SYNC_CORE, picks the text writer and registers
// every bound site. It returns the same error on every call; a non-nil
// error matches ErrUnavailable (except a *asm.MismatchError, which only
// concerns that site) and the program keeps running unpatched.
func Init() error {
	initOnce.Do(func() { initErr = doInit() })
	return initErr
}

func doInit() error {
	if err := int3.Install(); err != nil {
		return &UnavailableError{What: "sigtrap", Err: err}
	}
	mask, _, e := syscall.RawSyscall(sysMembarrier, membarrierQuery, 0, 0)
	if e != 0 {
		return &UnavailableError{What: "membarrier", Err: fmt.Errorf("membarrier(QUERY): %w", e)}
	}
	if mask&membarrierPrivateExpeditedSync == 0 || mask&membarrierRegisterPrivateExpSync == 0 {
		return &UnavailableError{What: "membarrier", Err: fmt.Errorf("kernel lacks MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE (query mask %#x)", mask)}
	}
	if _, _, e := syscall.RawSyscall(sysMembarrier, membarrierRegisterPrivateExpSync, 0, 0); e != 0 {
		return &UnavailableError{What: "membarrier", Err: fmt.Errorf("membarrier(REGISTER_PRIVATE_EXPEDITED_SYNC_CORE): %w", e)}
	}
	ok := asmSites()
	rs, err := int3.Register(ok...)
	if err != nil {
		return &UnavailableError{What: "sigtrap", Err: err}
	}
	for i, s := range ok {
		reg.Store(s, rs[i])
	}
	if err := pickWriter(ok); err != nil {
		return &UnavailableError{What: "text writes", Err: err}
	}
	return nil
}

// asmSites returns the bound sites that verified.
func asmSites() []*asm.Site {
	var ok []*asm.Site
	for _, s := range asm.Sites() {
		if s.Err() == nil {
			ok = append(ok, s)
		}
	}
	return ok
}

// pickWriter opens /proc/self/mem and checks that a write of a site's own
// first byte goes through; if not (proc_mem.force_override=never), or if
// PVSWITCH_PATCH_WRITER=mprotect, it falls back to mprotect after checking
// that the sites' pages are r-x.
func pickWriter(sites []*asm.Site) error {
	var procErr error
	if os.Getenv(envWriter) != writerMprotect {
		fd, err := syscall.Open("/proc/self/mem", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err == nil {
			memFD = fd
			if len(sites) > 0 {
				s := sites[0]
				b := s.Live()[:1]
				if e := pwrite(s.Addr(), b); e != 0 {
					procErr = fmt.Errorf("pwrite /proc/self/mem: %w", e)
				}
			}
			if procErr == nil {
				writer = writerProcMem
				return nil
			}
		} else {
			procErr = err
		}
	}
	if err := checkTextProt(sites); err != nil {
		return errors.Join(procErr, err)
	}
	writer = writerMprotect
	return nil
}

// checkTextProt verifies (from /proc/self/maps) that every site's page is
// mapped r-x, the protection the mprotect writer restores.
func checkTextProt(sites []*asm.Site) error {
	maps, err := readMaps()
	if err != nil {
		return err
	}
	for _, s := range sites {
		for p := s.Addr() &^ (pageSize - 1); p < s.Addr()+uintptr(s.Len()); p += pageSize {
			m, ok := maps.find(p)
			if !ok || m.perms[:3] != "r-x" {
				return fmt.Errorf("site %s: page %#x is not mapped r-x (%q); the mprotect writer would change its protection", s.Name(), p, m.perms)
			}
		}
	}
	return nil
}

// register returns s's handler registration, registering it now if it was
// bound after Init (a package initialized after the one that called Init).
// Called with mu held.
func register(s *asm.Site) (*int3.Site, error) {
	if r, ok := reg.Load(s); ok {
		return r.(*int3.Site), nil
	}
	if writer == writerMprotect {
		if err := checkTextProt([]*asm.Site{s}); err != nil {
			return nil, err
		}
	}
	rs, err := int3.Register(s)
	if err != nil {
		return nil, err
	}
	reg.Store(s, rs[0])
	return rs[0], nil
}

// Mechanism returns how text is written: "procmem" (pwrite to
// /proc/self/mem, no page ever writable+executable) or "mprotect" (the
// page is RWX for the write only), or "" if patching is unavailable.
func Mechanism() string {
	if Init() != nil {
		return ""
	}
	return writer
}

// AllowTracer allows (or again refuses) switching while a tracer is
// attached; see ErrTracer. PVSWITCH_ALLOW_TRACER=1 does the same.
func AllowTracer(allow bool) { allowTracer.Store(allow) }

func readTracerPid() (int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "TracerPid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("no TracerPid in /proc/self/status")
}

// Current returns the variant site s runs now (what the trap handler's
// descriptors say, which is what the bytes hold outside a switch).
func Current(s *asm.Site) int {
	if Init() != nil {
		return 0
	}
	r, ok := reg.Load(s)
	if !ok {
		return 0
	}
	return r.(*int3.Site).Current()
}

// Traps returns how many INT3 traps on s the handler emulated.
func Traps(s *asm.Site) uint64 {
	if Init() != nil {
		return 0
	}
	r, ok := reg.Load(s)
	if !ok {
		return 0
	}
	return r.(*int3.Site).Traps()
}

// Stats are the patcher's counters.
type Stats struct {
	Switches   int64         // switches that committed
	Aborted    int64         // switches undone before their commit point
	LastWindow time.Duration // pinned window of the last committed switch
	MaxWindow  time.Duration // longest pinned window so far
	Mechanism  string        // Mechanism()
	InFlight   int64         // trap handlers running now
	Armed      int           // sites left on INT3 by a failed roll-forward (switch them again to finish)
}

// ReadStats returns the current counters.
func ReadStats() Stats {
	mu.Lock()
	n := 0
	for _, a := range armed {
		if a {
			n++
		}
	}
	mu.Unlock()
	return Stats{
		Armed:      n,
		Switches:   switches.Load(),
		Aborted:    aborted.Load(),
		LastWindow: time.Duration(lastWindow.Load()),
		MaxWindow:  time.Duration(maxWindow.Load()),
		Mechanism:  Mechanism(),
		InFlight:   int3.InFlight(),
	}
}

// op is one site of a batch.
type op struct {
	site     *asm.Site
	r        *int3.Site
	old, new int
	oldFirst [1]byte // first byte before the window (INT3 if the site was armed)
	newBytes []byte  // the new variant
	wrote    bool    // INT3 written in this window
}

// Switch switches each site of batch (of any owner packages) to its
// Variant as one batch with a single commit point: every execution of any
// of the sites before the commit runs its old variant and every execution
// after it runs its new one, so a goroutine that runs the sites in order
// never sees one site new and a later one old. Sites already on their
// target are left alone; a site named twice must ask for the same variant.
// Switch returns once no trap handler can still act on an old variant. It
// serializes with other switches and waits for nothing else: a caller that
// must drain users of the old variants does so before calling it. It
// refuses (changing nothing) when the SIGTRAP handler was replaced
// (int3.ErrReplaced), a tracer is attached (ErrTracer), a site's bytes are
// not the variant the handler says (asm.ErrMismatch), or a variant index is
// out of range (ErrVariant); see WindowError for failures inside the window.
func Switch(batch []Change) error {
	if err := Init(); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if err := int3.Check(); err != nil {
		return err
	}
	if !allowTracer.Load() && os.Getenv(envAllowTracer) != "1" {
		pid, err := tracerPid()
		if err != nil {
			return fmt.Errorf("patch: cannot tell whether a tracer is attached: %w", err)
		}
		if pid != 0 {
			return fmt.Errorf("%w (TracerPid %d)", ErrTracer, pid)
		}
	}
	ops := make([]op, 0, len(batch))
	seen := map[*asm.Site]int{}
	for _, c := range batch {
		s, v := c.Site, c.Variant
		if v < 0 || v >= s.NumVariants() {
			return fmt.Errorf("%w: site %s has %d variants, asked for %d", ErrVariant, s.Name(), s.NumVariants(), v)
		}
		if w, ok := seen[s]; ok {
			if w != v {
				return fmt.Errorf("%w: site %s asked for variants %d and %d in one batch", ErrVariant, s.Name(), w, v)
			}
			continue
		}
		seen[s] = v
		if err := s.Err(); err != nil {
			return err
		}
		r, err := register(s)
		if err != nil {
			return err
		}
		cur := r.Current()
		live := s.Live()
		if armed[s] {
			if live[0] != opInt3 {
				return &asm.MismatchError{Site: s.Name(), Addr: s.Addr(), Bytes: live, Reason: "left armed with INT3 but INT3 is gone"}
			}
		} else {
			got, err := s.Match(live)
			if err != nil {
				return err
			}
			if got != cur {
				return &asm.MismatchError{Site: s.Name(), Addr: s.Addr(), Bytes: live, Reason: fmt.Sprintf("variant %d is live but the handler says %d", got, cur)}
			}
			if v == cur {
				continue
			}
		}
		ops = append(ops, op{site: s, r: r, old: cur, new: v, oldFirst: [1]byte{live[0]}, newBytes: s.Bytes(v)})
	}
	if len(ops) == 0 {
		return nil
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].site.Addr() < ops[j].site.Addr() })
	return window(ops)
}

// window runs the INT3 protocol for a sorted batch (Linux
// text_poke_bp_batch) pinned to its P, with raw syscalls only:
//
//  1. publish descriptors that still give the OLD variants (Prepare);
//  2. INT3 on every site's first byte; SYNC_CORE;
//  3. commit: one atomic store makes every new variant current;
//  4. every site's tail (bytes 1..n-1); SYNC_CORE;
//  5. every site's new first byte; SYNC_CORE;
//  6. wait until no trap handler that may hold an old descriptor runs.
//
// A failure before 3 restores the old first bytes (same protocol) and
// reports ErrNotCommitted; a failure after 3 leaves INT3 where the rewrite
// did not complete (the handler emulates the new variant) and reports
// ErrRollForward.
func window(ops []op) error {
	gen := int3.CommittedGen() + 1
	var failStep string
	var failErr syscall.Errno
	committed := false

	procPin()
	start := time.Now()
	for i := range ops {
		ops[i].r.Prepare(ops[i].old, ops[i].new, gen)
	}
	// 2. INT3 everywhere.
	for i := range ops {
		if e := write(ops[i].site.Addr(), int3Byte[:], "int3", i); e != 0 {
			failStep, failErr = "int3", e
			break
		}
		ops[i].wrote = true
	}
	if failErr == 0 {
		if e := syncCore("sync1"); e != 0 {
			failStep, failErr = "sync1", e
		}
	}
	if failErr == 0 && hookArmed != nil {
		hookArmed()
	}
	if failErr != 0 {
		// Undo: descriptors back to old for good, old first bytes back.
		for i := range ops {
			ops[i].r.Prepare(ops[i].old, ops[i].old, gen)
		}
		restoreFailed := false
		for i := range ops {
			if ops[i].wrote && ops[i].oldFirst[0] != opInt3 {
				if write(ops[i].site.Addr(), ops[i].oldFirst[:], "restore", i) != 0 {
					restoreFailed = true
				}
			}
		}
		syncCore("restore")
		waitHandlers()
		procUnpin()
		aborted.Add(1)
		for i := range ops {
			if ops[i].site.Live()[0] == opInt3 {
				armed[ops[i].site] = true // still correct: the handler emulates the old variant
			}
		}
		err := &WindowError{Step: failStep, Err: failErr}
		if restoreFailed {
			return errors.Join(err, &WindowError{Step: "restore", Err: errors.New("some old first bytes could not be restored; those sites stay on INT3 running the old variant")})
		}
		return err
	}
	// 3. Commit point for the whole batch.
	int3.Commit(gen)
	committed = true
	// 4. Tails.
	for i := range ops {
		if e := write(ops[i].site.Addr()+1, ops[i].newBytes[1:], "tails", i); e != 0 {
			failStep, failErr = "tails", e
			break
		}
	}
	if failErr == 0 {
		if e := syncCore("sync2"); e != 0 {
			failStep, failErr = "sync2", e
		}
	}
	// 5. First bytes.
	if failErr == 0 {
		for i := range ops {
			if e := write(ops[i].site.Addr(), ops[i].newBytes[:1], "first", i); e != 0 {
				failStep, failErr = "first", e
				break
			}
		}
	}
	if failErr == 0 {
		if e := syncCore("sync3"); e != 0 {
			failStep, failErr = "sync3", e
		}
	}
	// 6. Wait out handlers that may hold an old descriptor.
	waitHandlers()
	d := time.Since(start)
	procUnpin()

	switches.Add(1)
	lastWindow.Store(int64(d))
	for {
		m := maxWindow.Load()
		if int64(d) <= m || maxWindow.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	for i := range ops {
		s := ops[i].site
		if b := s.Live(); bytes.Equal(b, ops[i].newBytes) {
			delete(armed, s)
		} else {
			armed[s] = b[0] == opInt3
		}
	}
	if failErr != 0 {
		return &WindowError{Step: failStep, Committed: committed, Err: failErr}
	}
	return nil
}

var int3Byte = [1]byte{opInt3}

// syncCore makes every thread of the process serialize its instruction
// stream (membarrier PRIVATE_EXPEDITED_SYNC_CORE).
func syncCore(step string) syscall.Errno {
	if inject != nil {
		if e := inject(step, 0); e != 0 {
			return e
		}
	}
	_, _, e := syscall.RawSyscall(sysMembarrier, membarrierPrivateExpeditedSync, 0, 0)
	return e
}

// write writes b at addr with the chosen writer (raw syscalls only).
func write(addr uintptr, b []byte, step string, i int) syscall.Errno {
	if inject != nil {
		if e := inject(step, i); e != 0 {
			return e
		}
	}
	if writer == writerProcMem {
		return pwrite(addr, b)
	}
	return mprotectWrite(addr, b)
}

func pwrite(addr uintptr, b []byte) syscall.Errno {
	n, _, e := syscall.RawSyscall6(syscall.SYS_PWRITE64, uintptr(memFD), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), addr, 0, 0)
	if e == 0 && n != uintptr(len(b)) {
		return syscall.EIO
	}
	return e
}

// mprotectWrite makes the pages of [addr, addr+len(b)) RWX, writes, and
// restores R-X at once. PROT_EXEC is never dropped: other threads may be
// running code on these pages.
func mprotectWrite(addr uintptr, b []byte) syscall.Errno {
	lo := addr &^ (pageSize - 1)
	hi := (addr + uintptr(len(b)) + pageSize - 1) &^ (pageSize - 1)
	const rx = syscall.PROT_READ | syscall.PROT_EXEC
	if _, _, e := syscall.RawSyscall(syscall.SYS_MPROTECT, lo, hi-lo, rx|syscall.PROT_WRITE); e != 0 {
		return e
	}
	poke(addr, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	_, _, e := syscall.RawSyscall(syscall.SYS_MPROTECT, lo, hi-lo, rx)
	return e
}

// mapping is one line of /proc/self/maps.
type mapping struct {
	lo, hi uintptr
	perms  string
}

type mapsList []mapping

func (m mapsList) find(p uintptr) (mapping, bool) {
	for _, x := range m {
		if p >= x.lo && p < x.hi {
			return x, true
		}
	}
	return mapping{}, false
}

func readMaps() (mapsList, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out mapsList
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, mapping{lo: uintptr(l), hi: uintptr(h), perms: fields[1]})
	}
	return out, sc.Err()
}
