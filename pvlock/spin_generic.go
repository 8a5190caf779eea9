//go:build !amd64

package pvlock

import "sync/atomic"

// Portable stand-ins for spin_amd64.s, so the package builds everywhere.
// Only amd64 has the native variant's one-plain-store release.

func spinWait(key *uint32, n, every uint32) bool {
	for range max(n/max(every, 1), 1) {
		if atomic.LoadUint32(key)&0xff == 0 {
			return true
		}
	}
	return false
}

func storeFree(key *uint32) { atomic.StoreUint32(key, 0) }
