package patch

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
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
