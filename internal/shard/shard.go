package shard

import (
	"runtime"
	"sync/atomic"
	_ "unsafe" // for go:linkname
)

// cacheLine is the x86-64 cache line size; a shard is padded to it so two Ps
// never write the same line.
const cacheLine = 64

// maxShards bounds the memory of one Counter (64 lines = 4 KiB).
const maxShards = 64

// nShards is the number of shards in use: a power of two >= the larger of
// NumCPU and GOMAXPROCS at init, capped at maxShards. Fixed for the process.
var nShards = func() int {
	want := max(runtime.NumCPU(), runtime.GOMAXPROCS(0))
	n := 1
	for n < want && n < maxShards {
		n <<= 1
	}
	return n
}()

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// Index returns the shard index of the calling goroutine's current P. The
// goroutine may move to another P right after; callers that must undo an
// increment keep the index and pass it back, rather than asking again.
func Index() int {
	p := procPin()
	procUnpin()
	return p & (nShards - 1)
}

type line struct {
	n atomic.Int64
	_ [cacheLine - 8]byte
}

// Counter is a sharded int64 counter. The zero value is a valid counter at 0.
// A Counter must not be copied after first use.
type Counter struct {
	shards [maxShards]line
}

// Add adds delta to the calling P's shard and returns the shard index used.
func (c *Counter) Add(delta int64) int {
	i := Index()
	c.shards[i].n.Add(delta)
	return i
}

// AddAt adds delta to shard i, as returned by an earlier Add or Index. It is
// how a goroutine undoes its own count after it may have changed P.
func (c *Counter) AddAt(i int, delta int64) {
	c.shards[i&(maxShards-1)].n.Add(delta)
}

// Sum returns the total over all shards. See the package doc for when it is
// exact.
func (c *Counter) Sum() int64 {
	var s int64
	for i := range nShards {
		s += c.shards[i].n.Load()
	}
	return s
}

// AllZero reports whether every shard reads zero. With each goroutine
// decrementing the shard it incremented, a shard never goes below zero, so
// this is the strict form of Sum() == 0: it cannot be fooled by a +1 on one
// shard and a -1 on another.
func (c *Counter) AllZero() bool {
	for i := range nShards {
		if c.shards[i].n.Load() != 0 {
			return false
		}
	}
	return true
}

// Shards returns the number of shards in use.
func Shards() int { return nShards }
