//go:build !linux || !amd64

package int3

import "github.com/pvswitch/pvswitch/internal/asm"

// Site is a site registered with the handler (linux/amd64 only).
type Site struct{}

// Install returns ErrUnsupported on this platform.
func Install() error { return ErrUnsupported }

// Check returns ErrUnsupported on this platform.
func Check() error { return ErrUnsupported }

// Register returns ErrUnsupported on this platform.
func Register(ss ...*asm.Site) ([]*Site, error) { return nil, ErrUnsupported }

// Prepare does nothing on this platform.
func (s *Site) Prepare(old, new int, gen uint64) {}

// Current returns 0 on this platform: sites keep variant 0.
func (s *Site) Current() int { return 0 }

// Traps returns 0 on this platform.
func (s *Site) Traps() uint64 { return 0 }

// CommittedGen returns 0 on this platform.
func CommittedGen() uint64 { return 0 }

// Commit does nothing on this platform.
func Commit(gen uint64) {}

// InFlight returns 0 on this platform.
func InFlight() int64 { return 0 }

// WaitHandlers returns at once on this platform.
func WaitHandlers() {}

// Rewound returns 0 on this platform.
func Rewound() uint64 { return 0 }

// Owned returns false on this platform.
func Owned() bool { return false }
