//go:build !linux || !amd64

package patch

import (
	"errors"
	"time"

	"github.com/pvswitch/pvswitch/internal/asm"
)

var errPlatform = &UnavailableError{What: "platform", Err: errors.New("live code patching needs linux/amd64")}

// Init returns an *UnavailableError on this platform.
func Init() error { return errPlatform }

// Mechanism returns "" on this platform.
func Mechanism() string { return "" }

// AllowTracer has no effect on this platform.
func AllowTracer(allow bool) {}

// Current returns 0 on this platform: sites keep variant 0.
func Current(s *asm.Site) int { return 0 }

// Traps returns 0 on this platform.
func Traps(s *asm.Site) uint64 { return 0 }

// Stats are the patcher's counters.
type Stats struct {
	Switches   int64
	Aborted    int64
	LastWindow time.Duration
	MaxWindow  time.Duration
	Mechanism  string
	InFlight   int64
	Armed      int
}

// ReadStats returns zero counters on this platform.
func ReadStats() Stats { return Stats{} }

// Switch returns an *UnavailableError on this platform.
func Switch(batch []Change) error { return errPlatform }
