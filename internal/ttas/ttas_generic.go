//go:build !amd64

package ttas

import "sync/atomic"

func tryAcquire(key *uint32) bool {
	for range 32 {
		if atomic.CompareAndSwapUint32(key, 0, 1) {
			return true
		}
	}
	return false
}

func release(key *uint32) { atomic.StoreUint32(key, 0) }
