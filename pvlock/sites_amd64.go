//go:build amd64 && !pvswitch_flagdispatch

package pvlock

import (
	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/patch"
)

// lockSlowOp and unlockOp run the sites; both inline to one call of the
// site function.
func lockSlowOp(l *SpinLock) bool { return lockSlowEntry(l) }
func unlockOp(l *SpinLock)        { release(l) }

var sites = []*asm.Site{releaseSite, lockSlowEntrySite}

func patchInit() error {
	if err := patch.Init(); err != nil {
		return err
	}
	for _, s := range sites {
		if err := s.Err(); err != nil {
			return err
		}
	}
	return nil
}

// patchSites rewrites both sites to mode m in one batch.
func patchSites(m Mode) error {
	return patch.Switch(sites, func(*asm.Site) int { return variantOf(m) })
}

// sitesMode returns the mode the sites run, as the trap handler's
// descriptors say.
func sitesMode() Mode { return modeOfVariant(patch.Current(releaseSite)) }

func siteTraps() uint64 { return patch.Traps(releaseSite) + patch.Traps(lockSlowEntrySite) }

const switchable = true

// dispatchRelease says, in the log line at start, what Unlock does when the
// sites cannot be patched.
const dispatchRelease = "Unlock keeps the built paravirt release, correct in both modes"
