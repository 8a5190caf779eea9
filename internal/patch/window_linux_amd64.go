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
	if failErr == 0 {
		armedHook()
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

	recordWindow(d)
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
	if e := injected(step, 0); e != 0 {
		return e
	}
	_, _, e := syscall.RawSyscall(sysMembarrier, membarrierPrivateExpeditedSync, 0, 0)
	return e
}

// waitHandlers waits out trap handlers that may hold an old descriptor
// (step 6). The fault NoHandlerWait (test builds only) skips it, so that
// TestHandlerWait can show the wait is needed.
func waitHandlers() {
	if fault.Active(fault.NoHandlerWait) {
		return
	}
	int3.WaitHandlers()
}
