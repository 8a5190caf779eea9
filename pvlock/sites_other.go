//go:build !amd64 && !pvswitch_flagdispatch

package pvlock

import (
	"errors"

	"github.com/pvswitch/pvswitch/internal/patch"
)

// Without sites (not amd64) the lock runs the as-built variants: the
// slow-path entry dispatches on the published mode (sw.dispatch is set, as
// patch.Init fails here) and Unlock uses the paravirt release.

func lockSlowOp(l *SpinLock) bool { return l.lockSlowMode(compiledMode) }
func unlockOp(l *SpinLock)        { l.unlockParavirt() }

func patchInit() error { return patch.Init() }

func patchSites(Mode) error { return errors.New("pvlock: no lock-op sites on this platform") }

func sitesMode() Mode { return compiledMode }

func siteTraps() uint64 { return 0 }

const switchable = true

const dispatchRelease = "Unlock uses the paravirt release, correct in both modes"
