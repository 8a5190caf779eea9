package pvlock

import (
	"context"
	"errors"
	"fmt"
	"log"
	"runtime"
	"sync/atomic"

	"golang.org/x/arch/x86/x86asm"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/patch"
)

// The lock-op sites, and pvlock's one boundary to the patched code: this
// file is the only non-test file of pvlock that talks to package asm or
// package patch. Outside it, only the two site calls (lockSlowOp and
// unlockOp, in sites_amd64.go, sites_other.go or sites_flag.go) and the
// constant flagDispatch depend on the build.
//
// Two places differ between the variants, and each is a patchable site
// (declared for package asm, generated into zsites_amd64.*):
//
//	site           variant "paravirt" (as built)        variant "native"
//	release        JMP unlockParavirtEntry              MOVL $0, (DI): the plain store
//	lockSlowEntry  JMP lockSlowParavirtEntry            JMP lockSlowNativeEntry
//
// The uncontended acquire (one CMPXCHG) is the same in both and is not a
// site. No mode flag is read on a fast path: the code is the mode. Each
// variant is named after the Mode it implements (Mode.String), which is how
// a switch picks the variants to write.
//
// The binary is built with the paravirt variants because the paravirt
// release is correct in both modes (it sees 1 and clears it, or sees 3 and
// kicks), so a binary whose sites cannot be patched (the dispatch fallback)
// runs them as built, and only the slow-path entry dispatches on the mode.
//
// Both site functions are declared //go:noescape, so that an uncontended
// Lock/Unlock of a local SpinLock does not move it to the heap. Their
// targets do keep the lock's address beyond the call: a paravirt waiter
// registers it with the backstop and sleeps on &l.sema in the runtime
// semaphore's queue. That is sound because those paths run only when
// another goroutine holds or wants the same lock, and sharing a lock with
// another goroutine already makes it escape.

// compiledMode is the mode the sites hold as built.
const compiledMode = Paravirt

// The targets of the sites' JMP variants: Go functions with the site
// functions' signatures, reached through their ABI0 wrappers.

func lockSlowParavirtEntry(l *SpinLock) bool { return l.lockSlowMode(Paravirt) }
func lockSlowNativeEntry(l *SpinLock) bool   { return l.lockSlowMode(Native) }
func unlockParavirtEntry(l *SpinLock)        { l.unlockParavirt() }

// lockOpNames are the full names of the lock-op sites, release first (its
// live variant is the mode the sites run; a switch writes both in one
// batch, so they never disagree).
var lockOpNames = [...]string{"pvlock.release", "pvlock.lockSlowEntry"}

// errFlagBuild is why the flag-dispatch benchmark build neither patches nor
// switches.
var errFlagBuild = errors.New("pvlock: built with the pvswitch_flagdispatch tag (benchmarks only): the mode is fixed at start")

// lockOpSites is the set of lock-op sites bound in this binary, in
// lockOpNames order; empty where the binary has none (not amd64). Its
// patch, mode and traps methods may be used only after init succeeded:
// before that the patcher does not know the sites, and under dispatch it
// must not be started at all (patch.Current would install its handler).
type lockOpSites []*asm.Site

// lockOps is set once by setup, before any SpinLock method can run a site.
var lockOps lockOpSites

// findLockOps looks the lock-op sites up by name among the bound sites. It
// must run after package initialization has bound them (from an init
// function, not a package-level variable's initializer, which could run
// before the generated code's).
func findLockOps() lockOpSites {
	all := asm.Sites()
	var found lockOpSites
	for _, name := range lockOpNames {
		for _, s := range all {
			if s.Name() == name {
				found = append(found, s)
				break
			}
		}
	}
	return found
}

// init prepares the sites for patching, or says why they cannot be: the
// flag-dispatch build, the patcher unavailable (always so off linux/amd64),
// a site missing, or a site whose bytes do not verify.
func (o lockOpSites) init() error {
	if flagDispatch {
		return errFlagBuild
	}
	if err := patch.Init(); err != nil {
		return err
	}
	if len(o) != len(lockOpNames) {
		return fmt.Errorf("pvlock: %d of the %d lock-op sites %q are bound in this binary", len(o), len(lockOpNames), lockOpNames)
	}
	for _, s := range o {
		if err := s.Err(); err != nil {
			return err
		}
	}
	return nil
}

// dispatchRelease says, in the log line at start, what Unlock does when the
// sites are not patched.
func (o lockOpSites) dispatchRelease() string {
	if flagDispatch {
		return "Unlock reads the mode flag; the mode is fixed at start"
	}
	return "Unlock keeps the built paravirt release, correct in both modes"
}

// switchTo rewrites every site to its variant named m.String(), in one
// batch with one commit point, and returns the mode the sites run
// afterwards (see pendingSwitch.commit).
func (o lockOpSites) switchTo(m Mode) (Mode, error) {
	return o.prepare(m).commit()
}

// pendingSwitch is a switch of the sites to mode to whose checks have run
// (prepare) and whose window has not (commit); it holds the patcher's lock
// in between, unless the checks refused (err).
type pendingSwitch struct {
	o     lockOpSites
	to    Mode
	batch *patch.Batch
	err   error
}

// prepare checks the switch of every site to its variant named m.String()
// (patch.Prepare): Switch runs it while the drain waits.
func (o lockOpSites) prepare(m Mode) pendingSwitch {
	p := pendingSwitch{o: o, to: m}
	if p.err = o.disabled(); p.err != nil {
		return p
	}
	batch := make([]patch.Change, len(o))
	for i, s := range o {
		v := s.VariantIndex(m.String())
		if v < 0 {
			p.err = fmt.Errorf("pvlock: site %s has no variant %q", s.Name(), m)
			return p
		}
		batch[i] = patch.Change{Site: s, Variant: v}
	}
	p.batch, p.err = patch.Prepare(batch)
	return p
}

// commit runs the window and returns the mode the sites run afterwards: to
// when the batch committed, even if the error says it left INT3 on a site
// (the trap handler runs the new variant there until the next switch
// finishes it); the old mode when the patcher refused.
func (p pendingSwitch) commit() (Mode, error) {
	if p.err != nil {
		return p.o.mode(), p.err
	}
	err := p.batch.Commit()
	if errors.Is(err, patch.ErrWritesRefused) {
		return p.o.writesRefused(p.to, err)
	}
	if err != nil && !errors.Is(err, patch.ErrRollForward) {
		return p.o.mode(), err
	}
	return p.to, err
}

// cancel ends a pending switch without writing anything.
func (p pendingSwitch) cancel() {
	if p.batch != nil {
		p.batch.Cancel()
	}
}

// ErrSwitchDisabled is matched by the error of every Switch after the
// kernel came to refuse code writes (a seccomp filter, prctl PR_SET_MDWE, a
// security module, installed after start) while the lock-op sites held the
// native variants: the process cannot reach paravirt without a write, so
// it stays native for good. Retrying cannot help; restart the process
// without that restriction to switch again. ReadStatus().Why holds it.
var ErrSwitchDisabled = errors.New("pvlock: switching disabled for good: the kernel refuses code writes and the lock-op sites hold the native variants, so this process stays native (restart it without the restriction to switch again)")

// switchingDisabled is set once, by writesRefused, to the error every
// later switch returns.
var switchingDisabled atomic.Pointer[error]

// disabled returns why switching is disabled for good, or nil.
func (o lockOpSites) disabled() error {
	if p := switchingDisabled.Load(); p != nil {
		return *p
	}
	return nil
}

// writesRefused handles a switch to m that the patcher could not do
// because the kernel refuses code writes or core syncs for good (err
// matches patch.ErrWritesRefused). It runs inside Switch, with the gate
// closed and the slow paths drained, and returns the mode now in effect.
// If the release runs the paravirt variant (as bytes or through the trap
// handler), which is correct in both modes, the process moves to the
// dispatch fallback, and this switch completes by dispatch: m. If it runs
// the native store, nothing can bring paravirt back: switching is
// disabled for good (ErrSwitchDisabled) and the process stays native.
// Either way one log line says why.
func (o lockOpSites) writesRefused(m Mode, err error) (Mode, error) {
	now := o.mode()
	if now == Paravirt {
		why := fmt.Errorf("pvlock: code writes refused after start, switching by dispatch from now on: %w", err)
		sw.why.Store(&why)
		sw.dispatch.Store(true)
		log.Printf("%v (%s)", why, o.dispatchRelease())
		return m, nil
	}
	off := fmt.Errorf("%w: %w", ErrSwitchDisabled, err)
	switchingDisabled.Store(&off)
	log.Printf("%v", off)
	return now, off
}

// mode returns the mode the sites run, as the trap handler's descriptors
// say: the name of the release site's current variant.
func (o lockOpSites) mode() Mode {
	s := o[0]
	m, err := ParseMode(s.Variant(patch.Current(s)).Name)
	if err != nil {
		panic("pvlock: " + err.Error()) // the site declarations name only modes
	}
	return m
}

// traps returns how many executions of the sites hit an INT3 during a
// switch and were emulated by the trap handler.
func (o lockOpSites) traps() uint64 {
	var n uint64
	for _, s := range o {
		n += patch.Traps(s)
	}
	return n
}

// writer returns how the patcher writes text: "procmem" or "mprotect".
func (o lockOpSites) writer() string { return patch.Mechanism() }

// Site describes one lock-op site: a one-instruction slot in pvlock's code
// that a switch rewrites to the variant of the new mode. It is a snapshot,
// taken by Sites.
type Site struct {
	// Name is the site's full name, "pvlock.release" or
	// "pvlock.lockSlowEntry".
	Name string
	// Addr is the address of the slot's first byte in this process.
	Addr uintptr
	// Len is the slot's length in bytes: every variant is exactly one
	// instruction of this length.
	Len int
	// Live holds the bytes in the slot when Sites read it.
	Live []byte
	// LiveVariant names the variant the site runs now ("native" or
	// "paravirt"). Empty under the dispatch mechanism, where the site is
	// never written, and for a refused site.
	LiveVariant string
	// Traps counts executions of the site that hit an INT3 while a switch
	// rewrote it, each emulated by the trap handler. Zero under dispatch.
	Traps uint64
	// Err says why the site cannot be patched (for instance, its bytes in
	// this binary are not one of its declared variants); nil for a sound
	// site.
	Err error
	// Variants are the site's declared variants, in declaration order; the
	// first is the one the binary is built with.
	Variants []SiteVariant
}

// SiteVariant is one of a Site's instructions.
type SiteVariant struct {
	// Name is the Mode the variant implements: "native" or "paravirt".
	Name string
	// Bytes is the instruction as a switch writes it into the slot, with
	// any branch offset resolved for the site's address. Nil for a
	// refused site.
	Bytes []byte
	// Asm is Bytes disassembled at the site's address in Go assembler
	// syntax, naming the function a branch jumps to. Empty for a refused
	// site.
	Asm string
}

// Sites returns a snapshot of the lock-op sites of this binary: release
// first, then lockSlowEntry. It returns none where the binary has no sites
// (every architecture but amd64). Changing the returned values changes
// nothing in the process. Like ReadStatus, it may wait a few milliseconds
// for the patcher soon after start.
func Sites() []Site {
	awaitPatcher(context.Background()) // as ReadStatus
	o := lockOps
	patched := !sw.dispatch.Load()
	out := make([]Site, len(o))
	for i, s := range o {
		v := Site{
			Name: s.Name(),
			Addr: s.Addr(),
			Len:  s.Len(),
			Live: s.Live(),
			Err:  s.Err(),
		}
		if patched && v.Err == nil {
			v.LiveVariant = s.Variant(patch.Current(s)).Name
			v.Traps = patch.Traps(s)
		}
		for j := range s.NumVariants() {
			sv := SiteVariant{Name: s.Variant(j).Name}
			if v.Err == nil {
				sv.Bytes = append([]byte(nil), s.Bytes(j)...)
				sv.Asm = disasm(sv.Bytes, s.Addr())
			}
			v.Variants = append(v.Variants, sv)
		}
		out[i] = v
	}
	return out
}

// disasm decodes one instruction at pc in Go syntax, naming the functions
// that branch targets fall in.
func disasm(b []byte, pc uintptr) string {
	inst, err := x86asm.Decode(b, 64)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return x86asm.GoSyntax(inst, uint64(pc), func(addr uint64) (string, uint64) {
		if f := runtime.FuncForPC(uintptr(addr)); f != nil {
			return f.Name(), uint64(f.Entry())
		}
		return "", 0
	})
}
