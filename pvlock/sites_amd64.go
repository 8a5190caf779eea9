//go:build amd64 && !pvswitch_flagdispatch

package pvlock

import (
	"fmt"

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

// patchSites rewrites both sites to mode m in one batch: each site's
// variant named m.String().
func patchSites(m Mode) error {
	batch := make([]patch.Change, len(sites))
	for i, s := range sites {
		v := s.VariantIndex(m.String())
		if v < 0 {
			return fmt.Errorf("pvlock: site %s has no variant %q", s.Name(), m)
		}
		batch[i] = patch.Change{Site: s, Variant: v}
	}
	return patch.Switch(batch)
}

// sitesMode returns the mode the sites run, as the trap handler's
// descriptors say: the name of the release site's current variant.
func sitesMode() Mode {
	m, err := ParseMode(releaseSite.Variant(patch.Current(releaseSite)).Name)
	if err != nil {
		panic("pvlock: " + err.Error()) // the site declarations name only modes
	}
	return m
}

func siteTraps() uint64 { return patch.Traps(releaseSite) + patch.Traps(lockSlowEntrySite) }

const switchable = true

// dispatchRelease says, in the log line at start, what Unlock does when the
// sites cannot be patched.
const dispatchRelease = "Unlock keeps the built paravirt release, correct in both modes"
