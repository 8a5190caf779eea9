package patch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// envAllowTracer set to "1" allows switching with a tracer attached.
const envAllowTracer = "PVSWITCH_ALLOW_TRACER"

var (
	allowTracer atomic.Bool
	tracerPid   = readTracerPid // replaced by tests
)

// AllowTracer allows (or again refuses) switching while a tracer is
// attached; see ErrTracer. PVSWITCH_ALLOW_TRACER=1 does the same.
func AllowTracer(allow bool) { allowTracer.Store(allow) }

// checkTracer refuses with ErrTracer while a tracer is attached, unless
// that was allowed.
func checkTracer() error {
	if allowTracer.Load() || os.Getenv(envAllowTracer) == "1" {
		return nil
	}
	pid, err := tracerPid()
	if err != nil {
		return fmt.Errorf("patch: cannot tell whether a tracer is attached: %w", err)
	}
	if pid != 0 {
		return fmt.Errorf("%w (TracerPid %d)", ErrTracer, pid)
	}
	return nil
}

func readTracerPid() (int, error) {
	// Read with raw calls into a buffer of its own (guarded by mu, as
	// every caller holds it) rather than os.ReadFile: this runs on every
	// switch, with the gate closed (procfs_linux_amd64.go says why), from
	// a file kept open.
	n, err := readSelfStatus(statusBuf[:])
	if err != nil {
		return 0, err
	}
	b := statusBuf[:n]
	const key = "\nTracerPid:"
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, errors.New("no TracerPid in /proc/self/status")
	}
	pid := 0
	digits := 0
	for _, c := range bytes.TrimLeft(b[i+len(key):], " \t") {
		if c < '0' || c > '9' {
			break
		}
		pid = pid*10 + int(c-'0')
		digits++
	}
	if digits == 0 {
		return 0, errors.New("no number after TracerPid in /proc/self/status")
	}
	return pid, nil
}

// statusBuf holds /proc/self/status for readTracerPid (about 1.5 KB).
var statusBuf [8192]byte
