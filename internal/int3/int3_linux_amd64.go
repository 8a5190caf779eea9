package int3

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/pvswitch/pvswitch/internal/asm"
)

// Kernel ABI for x86-64 (arch/x86/include/uapi/asm/signal.h,
// include/uapi/asm-generic/siginfo.h, sys/ucontext.h).
const (
	sigTrap = 5 // SIGTRAP

	saSigInfo  = 0x4        // SA_SIGINFO: three-argument handler
	saOnStack  = 0x08000000 // SA_ONSTACK: run on the sigaltstack (Go gives every M one)
	saRestart  = 0x10000000 // SA_RESTART
	saRestorer = 0x04000000 // SA_RESTORER: sa_restorer is our rt_sigreturn trampoline
	// handlerFlags are the flags Go's runtime uses for its own handlers.
	handlerFlags = saSigInfo | saOnStack | saRestart | saRestorer

	sigsetSize = 8 // the kernel's sigset_t is 64 bits on x86-64

	sigDFL = 0 // SIG_DFL
	sigIGN = 1 // SIG_IGN

	// The signal frame's offsets, the one place they are written down:
	// handler_amd64.s takes them from go_asm.h (const_siCode, const_ucRSP,
	// const_ucRIP) and the descriptors' register offsets from gregIndex.
	//
	// siginfo_t: si_signo @0, si_errno @4, si_code @8
	// (include/uapi/asm-generic/siginfo.h).
	siCode = 8
	// ucontext_t: uc_flags @0, uc_link @8, uc_stack (24 bytes) @16,
	// uc_mcontext.gregs[23] @40 (sys/ucontext.h, REG_R8=0 ... REG_RIP=16).
	ucGregs = 40
	regRSP  = 15                 // REG_RSP
	regRIP  = 16                 // REG_RIP
	ucRSP   = ucGregs + 8*regRSP // 0xa0: the interrupted stack pointer
	ucRIP   = ucGregs + 8*regRIP // 0xa8: the interrupted instruction pointer
)

// gregIndex maps an x86 register number (AX=0 ... R15=15, asm.RegNum) to
// its index in mcontext gregs (sys/ucontext.h: REG_R8=0..REG_R15=7,
// REG_RDI=8, REG_RSI=9, REG_RBP=10, REG_RBX=11, REG_RDX=12, REG_RAX=13,
// REG_RCX=14, REG_RSP=15, REG_RIP=16).
var gregIndex = [16]int{13, 14, 12, 11, 15, 10, 9, 8, 0, 1, 2, 3, 4, 5, 6, 7}

// Sigaction is the kernel's struct sigaction for rt_sigaction(2) on x86-64
// (arch/x86/include/uapi/asm/signal.h, not glibc's). It is declared here
// only; the tests of other packages use it, with RtSigaction, to replace
// SIGTRAP's handler the way a misbehaving neighbour would.
type Sigaction struct {
	Handler  uintptr // SIG_DFL (0), SIG_IGN (1) or the handler's address
	Flags    uint64  // SA_* flags
	Restorer uintptr // with SA_RESTORER: the rt_sigreturn trampoline
	Mask     uint64  // signals blocked while the handler runs
}

// desc is one variant's emulation descriptor, read by the handler. It is
// immutable once its site is registered and never freed (the site keeps
// it). Offsets are taken by the handler from go_asm.h.
type desc struct {
	Kind    uint64  // asm.Kind
	Len     uint64  // slot length: where execution continues after the site
	RegOff  uint64  // KindStore: offset in ucontext of the base register
	Disp    int64   // KindStore: displacement
	Imm     uint64  // KindStore: immediate, as stored
	Width   uint64  // KindStore: 1, 2, 4 or 8
	Target  uintptr // KindJmp, KindCall: where RIP goes
	NilStub uintptr // KindStore: stub that redoes a store below nilLimit in Go text
}

// Kinds as the handler compares them (asm.Kind values).
const (
	kindNop   = uint64(asm.KindNop)
	kindStore = uint64(asm.KindStore)
	kindJmp   = uint64(asm.KindJmp)
	kindCall  = uint64(asm.KindCall)
)

// Handler constants (see handler_amd64.s).
const (
	opInt3    = 0xCC // INT3 (Intel SDM Vol. 2A, INT n/INTO/INT3/INT1)
	siKernel  = 0x80 // si_code of a trap raised by the kernel (INT3 gives SI_KERNEL)
	nilLimit  = 4096 // stores below this address are nil dereferences (Go: runtime.sigpanic)
	nShards   = 64   // handlers-in-flight shards, one cache line each
	shardLog  = 6    // log2 of the cache line (64 bytes)
	spShift   = 15   // the shard is (SP >> 15) % nShards: Go's signal stacks are 32 KiB per thread
	trapShard = 8    // per-site trap counter shards
	stateGen  = 16   // entry.state = gen<<16 | new<<8 | old
)

type paddedCount struct {
	n uint64
	_ [64 - 8]byte
}

// entry is one registered site. It is permanent: the handler may hold a
// pointer to it at any time.
type entry struct {
	addr   uintptr
	state  uint64 // atomic: gen<<stateGen | new<<8 | old (variant indexes)
	descs  [asm.MaxVariants]*desc
	firsts [asm.MaxVariants]byte // first byte of each variant: a late trap sees one of these
	nvar   uint64
	traps  [trapShard]paddedCount
	site   *asm.Site
}

// siteTable is an immutable sorted table of entries, published by one
// atomic pointer store to sites. Old tables are kept forever.
type siteTable struct {
	addrs []uintptr // sorted
	ents  []*entry  // same order
}

var (
	// Read by the handler (handler_amd64.s).
	sites       *siteTable // atomic; never a table that was freed
	commitGen   uint64     // atomic; the last committed switch generation
	inflight    [nShards]paddedCount
	prevHandler uintptr // the handler we replaced; foreign traps go there
	rewound     uint64  // atomic: traps whose PC a debugger had rewound to the INT3
	nilStubTab  [16]uintptr

	mu        sync.Mutex // serializes Install and Register
	installed atomic.Bool
	allTables []*siteTable // every table ever published: never freed
	byAddr    = map[uintptr]*Site{}
)

// Assembly (handler_amd64.s).
func handlerAddr() uintptr
func restorerAddr() uintptr
func nilStubs(tab *[16]uintptr)

// callHandler calls the handler with a fake signal frame (tests only; it
// must only be used for traps the handler does not pass on).
func callHandler(sig uintptr, info, uc unsafe.Pointer)

// RtSigaction calls rt_sigaction(2) for signal sig: it installs act unless
// act is nil, and stores the previous action in old unless old is nil.
func RtSigaction(sig int, act, old *Sigaction) syscall.Errno {
	_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), sigsetSize, 0, 0)
	return e
}

// Install installs the SIGTRAP handler once; later calls return the first
// result. The replaced handler (the Go runtime's) receives every trap that
// is not an INT3 on a registered site.
func Install() error {
	mu.Lock()
	defer mu.Unlock()
	if installed.Load() {
		return nil
	}
	nilStubs(&nilStubTab)
	var old Sigaction
	if e := RtSigaction(sigTrap, nil, &old); e != 0 {
		return fmt.Errorf("int3: rt_sigaction(SIGTRAP) query: %w", e)
	}
	if old.Handler == handlerAddr() {
		installed.Store(true)
		return nil
	}
	if old.Handler == sigDFL || old.Handler == sigIGN {
		return ErrNoPrevious
	}
	prevHandler = old.Handler
	act := Sigaction{Handler: handlerAddr(), Flags: handlerFlags, Restorer: restorerAddr(), Mask: ^uint64(0)}
	if e := RtSigaction(sigTrap, &act, nil); e != 0 {
		return fmt.Errorf("int3: rt_sigaction(SIGTRAP) install: %w", e)
	}
	installed.Store(true)
	return nil
}

// Check reports whether our handler is still the installed SIGTRAP
// handler: nil, ErrNotInstalled or ErrReplaced. The patcher calls it before
// every switch.
func Check() error {
	if !installed.Load() {
		return ErrNotInstalled
	}
	var cur Sigaction
	if e := RtSigaction(sigTrap, nil, &cur); e != 0 {
		return fmt.Errorf("int3: rt_sigaction(SIGTRAP) query: %w", e)
	}
	if cur.Handler != handlerAddr() {
		return fmt.Errorf("%w (installed: %#x, ours: %#x)", ErrReplaced, cur.Handler, handlerAddr())
	}
	return nil
}

// Owned reports whether our handler is the installed SIGTRAP handler
// (false before Install): one raw rt_sigaction query, nothing allocated,
// so the patcher can ask inside its pinned window, at every step.
func Owned() bool {
	if !installed.Load() {
		return false
	}
	var cur Sigaction
	if RtSigaction(sigTrap, nil, &cur) != 0 {
		return false
	}
	return cur.Handler == handlerAddr()
}

// Site is a site registered with the handler. Its emulation descriptors are
// fixed at registration; which of them a trap uses is selected by
// Prepare and Commit.
type Site struct{ e *entry }

// Register registers sites with the handler (idempotent per site) and
// publishes the new sorted table with one atomic store. A site whose
// binding failed (asm.Site.Err) is refused. All sites start on variant 0.
func Register(ss ...*asm.Site) ([]*Site, error) {
	mu.Lock()
	defer mu.Unlock()
	out := make([]*Site, len(ss))
	var add []*entry
	for i, s := range ss {
		if r, ok := byAddr[s.Addr()]; ok {
			out[i] = r
			continue
		}
		if err := s.Err(); err != nil {
			return nil, err
		}
		e := &entry{addr: s.Addr(), nvar: uint64(s.NumVariants()), site: s}
		for v := 0; v < s.NumVariants(); v++ {
			e.descs[v] = descOf(s, v)
			e.firsts[v] = s.Bytes(v)[0]
			if e.firsts[v] == opInt3 {
				return nil, fmt.Errorf("int3: site %s variant %d starts with INT3; a variant may not", s.Name(), v)
			}
		}
		r := &Site{e: e}
		byAddr[s.Addr()] = r
		out[i] = r
		add = append(add, e)
	}
	if len(add) == 0 {
		return out, nil
	}
	var t siteTable
	if old := (*siteTable)(atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(&sites)))); old != nil {
		t.ents = append(t.ents, old.ents...)
	}
	t.ents = append(t.ents, add...)
	sortEntries(t.ents)
	t.addrs = make([]uintptr, len(t.ents))
	for i, e := range t.ents {
		t.addrs[i] = e.addr
	}
	allTables = append(allTables, &t)
	atomic.StorePointer((*unsafe.Pointer)(unsafe.Pointer(&sites)), unsafe.Pointer(&t))
	return out, nil
}

func sortEntries(es []*entry) {
	for i := 1; i < len(es); i++ { // insertion sort: tables are built rarely
		for j := i; j > 0 && es[j].addr < es[j-1].addr; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

func descOf(s *asm.Site, i int) *desc {
	v := s.Variant(i)
	d := &desc{Kind: uint64(v.Kind), Len: uint64(s.Len()), Target: s.Target(i)}
	if v.Kind == asm.KindStore {
		r := asm.RegNum(v.Base)
		d.RegOff = uint64(ucGregs + 8*gregIndex[r])
		d.Disp = int64(v.Disp)
		d.Imm = uint64(v.Imm)
		d.Width = uint64(v.Width)
		d.NilStub = nilStubTab[r]
	}
	return d
}

// Prepare makes traps on s emulate variant old until generation gen is
// committed, and variant new from then on. Only the patcher calls it, with
// gen greater than CommittedGen, before it writes INT3 on s.
func (s *Site) Prepare(old, new int, gen uint64) {
	atomic.StoreUint64(&s.e.state, gen<<stateGen|uint64(new)<<8|uint64(old))
}

// Current returns the variant a trap on s emulates now.
func (s *Site) Current() int {
	st := atomic.LoadUint64(&s.e.state)
	if atomic.LoadUint64(&commitGen) >= st>>stateGen {
		return int(st >> 8 & 0xff)
	}
	return int(st & 0xff)
}

// Traps returns how many traps on s the handler emulated.
func (s *Site) Traps() uint64 {
	var n uint64
	for i := range s.e.traps {
		n += atomic.LoadUint64(&s.e.traps[i].n)
	}
	return n
}

// Rewound returns how many traps reached the handler with their PC
// rewound to the INT3 byte itself (a debugger such as gdb does that before
// it passes a SIGTRAP on) and were handled as traps on that site.
func Rewound() uint64 { return atomic.LoadUint64(&rewound) }

// CommittedGen returns the last committed generation.
func CommittedGen() uint64 { return atomic.LoadUint64(&commitGen) }

// Commit makes generation gen current for every site prepared with it: one
// atomic store, the commit point of a batch.
func Commit(gen uint64) { atomic.StoreUint64(&commitGen, gen) }

// InFlight returns the number of handlers between their count and their
// return (a snapshot, for tests and stats).
func InFlight() int64 {
	var n int64
	for i := range inflight {
		n += int64(atomic.LoadUint64(&inflight[i].n))
	}
	return n
}

// WaitHandlers returns once every handler that was running when it was
// called has returned: each shard is read until it is zero, yielding the
// CPU (raw sched_yield, safe while pinned) between reads. A handler that
// loaded a descriptor before a Commit incremented its shard before that
// load, so after WaitHandlers no handler acts on a pre-commit descriptor.
func WaitHandlers() {
	for i := range inflight {
		for atomic.LoadUint64(&inflight[i].n) != 0 {
			syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		}
	}
}
