package patch

import "syscall"

// Test seams (internal test package access).

// SetTracerPid replaces the TracerPid reader; it returns a restore func.
func SetTracerPid(f func() (int, error)) func() {
	old := tracerPid
	tracerPid = f
	return func() { tracerPid = old }
}

// UseWriter forces a text writer ("procmem" or "mprotect") and returns a
// restore func.
func UseWriter(w string) (func(), error) {
	old := writer
	if w == writerMprotect {
		if err := checkTextProt(asmSites()); err != nil {
			return nil, err
		}
	}
	writer = w
	return func() { writer = old }, nil
}

// RawWrite writes text bytes with the current writer (no protocol).
func RawWrite(addr uintptr, b []byte) syscall.Errno { return write(addr, b, "raw", 0) }

// SyncCore runs membarrier SYNC_CORE.
func SyncCore() syscall.Errno { return syncCore("bench") }

// BlocksTrap classifies a SigBlk set as checkSigMask does.
func BlocksTrap(blk uint64) bool { return blocksTrap(blk) }

// CheckSigMask runs Switch's signal-mask check (serialized like Switch).
func CheckSigMask() error {
	mu.Lock()
	defer mu.Unlock()
	return checkSigMask()
}

// ReadTracerPid is the TracerPid reader the tracer check uses.
func ReadTracerPid() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	return readTracerPid()
}

// StatBlocked parses the blocked field of a /proc/PID/stat line.
func StatBlocked(b []byte) (uint64, bool) { return statBlocked(b) }

// SigBlkStat and SigBlkStatus read thread tid's blocked set the two ways:
// what the check reads (stat, signals 1..31) and the full set (status).
func SigBlkStat(tid int) (uint64, bool, error) {
	mu.Lock()
	defer mu.Unlock()
	path := [...]byte{'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 't', 'a', 's', 'k', 0}
	dir, e := procOpenAt(atFDCWD, path[:], syscall.O_DIRECTORY)
	if e != 0 {
		return 0, false, e
	}
	defer procClose(dir)
	return sigBlkAt(dir, tid)
}

func SigBlkStatus(tid int) (uint64, bool) { return sigBlk(tid) }
