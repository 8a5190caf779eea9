//go:build !linux || !amd64

package patch

import (
	"errors"

	"github.com/pvswitch/pvswitch/internal/asm"
)

// Off linux/amd64 nothing can be patched: Init says why, and every site
// keeps the variant the binary was built with.

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

// Switch returns an *UnavailableError on this platform.
func Switch(batch []Change) error { return errPlatform }

// Batch is a prepared switch; on this platform none can be prepared.
type Batch struct{}

// Prepare returns an *UnavailableError on this platform.
func Prepare(batch []Change) (*Batch, error) { return nil, errPlatform }

// Commit returns an *UnavailableError on this platform.
func (b *Batch) Commit() error { return errPlatform }

// Cancel does nothing on this platform.
func (b *Batch) Cancel() {}
