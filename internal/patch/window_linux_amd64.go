package patch

import (
	"bytes"
	"errors"
	"syscall"
	"time"
	_ "unsafe" // for go:linkname

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/fault"
	"github.com/pvswitch/pvswitch/internal/int3"
)

// opInt3 is the INT3 instruction (Intel SDM Vol. 2A, INT n/INTO/INT3/INT1).
const opInt3 = 0xCC

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// op is one site of a batch.
type op struct {
	site     *asm.Site
	r        *int3.Site
	old, new int
	oldFirst [1]byte // first byte before the window (INT3 if the site was armed)
	newBytes []byte  // the new variant
	wrote    bool    // INT3 written in this window
}

// window runs the INT3 protocol for a sorted batch (Linux
// text_poke_bp_batch) pinned to its P, with raw syscalls only:
//
//  1. publish descriptors that still give the OLD variants (Prepare);
//  2. INT3 on every site's first byte; SYNC_CORE;
//  3. commit: one atomic store makes every new variant current;
//  4. every site's tail (bytes 1..n-1); SYNC_CORE;
//  5. every site's new first byte (no SYNC_CORE: see below);
//  6. wait until no trap handler that may hold an old descriptor runs.
//
// Linux syncs every core once more after step 5, because its handler's
// descriptors are torn down right after: an INT3 fetched before the new
// first byte and executed after the teardown would find no descriptor.
// Ours are never torn down (package int3's first invariant), so that sync
// would buy nothing, and it cost a third of the window (an IPI to every CPU
// running a thread of ours: 23-37 us apiece on the reference 2-vCPU VM
// with the other vCPU busy). A thread that still executes the INT3 of step
// 2 after step 5 is a late trap: the handler sees the new variant's first
// byte and resumes at the site, running the new bytes (sigreturn is
// serializing), or, if the next switch has armed the site again, emulates
// the variant current then. Either is what a thread reaching the site at
// that moment must run. Step 4's sync is what makes the tails visible
// before any thread can run a new first byte, and it stays.
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
	own := ownership{last: start}
	for i := range ops {
		ops[i].r.Prepare(ops[i].old, ops[i].new, gen)
	}
	// 2. INT3 everywhere, if the handler is still ours.
	for i := range ops {
		if !own.check() {
			break
		}
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
	if failErr == 0 {
		armedHook()
	}
	// The last check before the commit: after it there is no going back.
	if failErr == 0 {
		own.check()
	}
	if failErr != 0 || own.lost {
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
		recordExposure(own.maxGap, time.Since(own.last))
		var err *WindowError
		if own.lost {
			err = &WindowError{Step: "handler", Err: int3.ErrReplaced}
		} else {
			err = &WindowError{Step: failStep, Err: failErr}
		}
		if restoreFailed {
			return errors.Join(err, &WindowError{Step: "restore", Err: errors.New("some old first bytes could not be restored; those sites stay on INT3 running the old variant")})
		}
		return err
	}
	// 3. Commit point for the whole batch.
	int3.Commit(gen)
	committed = true
	// 4. Tails.
	failStep, failErr = writeAll(ops, "tails", "sync2", tail)
	// After the commit a lost handler cannot be answered by undoing; the
	// fastest way out is to finish, so the checks only record it.
	own.check()
	// 5. First bytes, not followed by a sync (see above).
	if failErr == 0 {
		failStep, failErr = writeAll(ops, "first", "", first)
	}
	own.check()
	// 6. Wait out handlers that may hold an old descriptor.
	waitHandlers()
	end := time.Now()
	procUnpin()

	recordWindow(end.Sub(start))
	recordExposure(own.maxGap, end.Sub(own.last))
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
	if own.lost {
		return &WindowError{Step: "handler", Committed: true, Err: int3.ErrReplaced}
	}
	return nil
}

// ownership tracks, inside one window, the checks that int3's handler is
// still the installed SIGTRAP handler (int3.Owned: one raw rt_sigaction
// query, nothing allocated): whether one failed, when the last one ran,
// and the longest stretch between two of them. A handler installed over
// ours between two checks, while INT3 is armed, sends a thread that traps
// meanwhile to the foreign handler: that stretch cannot be defended, only
// kept short and measured (Stats.MaxCheckGap, Stats.MaxCheckToEnd).
type ownership struct {
	last   time.Time
	maxGap time.Duration
	lost   bool
}

// check queries the installed handler and reports whether it is still
// ours (false from the first failure on).
func (o *ownership) check() bool {
	if !o.lost && !int3.Owned() {
		o.lost = true
	}
	now := time.Now()
	if d := now.Sub(o.last); d > o.maxGap {
		o.maxGap = d
	}
	o.last = now
	return !o.lost
}

var int3Byte = [1]byte{opInt3}

// syncCore makes every thread of the process serialize its instruction
// stream (membarrier PRIVATE_EXPEDITED_SYNC_CORE).
func syncCore(step string) syscall.Errno {
	if e := injected(step, 0); e != 0 {
		return e
	}
	_, _, e := syscall.RawSyscall(sysMembarrier, membarrierPrivateExpeditedSync, 0, 0)
	return e
}

// writeAll writes part of every site's new variant, in address order, then
// makes every core serialize (syncStep, unless it is ""); it returns the
// step that failed and its errno, or "" and 0. Raw syscalls only, no
// allocation: it runs pinned.
func writeAll(ops []op, step, syncStep string, part func(o *op) (uintptr, []byte)) (string, syscall.Errno) {
	for i := range ops {
		addr, b := part(&ops[i])
		if e := write(addr, b, step, i); e != 0 {
			return step, e
		}
	}
	if syncStep == "" {
		return "", 0
	}
	if e := syncCore(syncStep); e != 0 {
		return syncStep, e
	}
	return "", 0
}

// tail is bytes 1..n-1 of a site's new variant, written while the first
// byte is INT3 (step 4); first is its first byte, written last (step 5).
func tail(o *op) (uintptr, []byte)  { return o.site.Addr() + 1, o.newBytes[1:] }
func first(o *op) (uintptr, []byte) { return o.site.Addr(), o.newBytes[:1] }

// waitHandlers waits out trap handlers that may hold an old descriptor
// (step 6). The fault NoHandlerWait (test builds only) skips it, so that
// TestHandlerWait can show the wait is needed.
func waitHandlers() {
	if fault.Active(fault.NoHandlerWait) {
		return
	}
	int3.WaitHandlers()
}
