//go:build amd64

// Package testsite holds the sites the tests of asm, patch and int3 switch:
// one of each kind of variant (Flag, Wide: stores; Count: JMP tail calls to
// Go functions; Release: a store or a JMP, the shape of pvlock's release;
// Tick: CALLs of Go functions) and 512 store sites B000..B511
// for batch switches. The site functions and their bindings are generated
// from asm.Table into zsites_amd64.*.
package testsite

import (
	"runtime"
	"sync/atomic"
)

// Counter counts which JMP target of Count ran. Each goroutine uses its own.
type Counter struct {
	A, B uint64
}

// countA and countB are the JMP targets of Count: ordinary Go functions with
// Count's signature, reached through their ABI0 wrappers.
func countA(c *Counter) {
	c.A++
	if Stress.Load() {
		stress()
	}
}

func countB(c *Counter) {
	c.B++
	if Stress.Load() {
		stress()
	}
}

// ReleaseParavirt counts the calls of releaseParavirt.
var ReleaseParavirt atomic.Int64

// releaseParavirt is the JMP target of Release's variant "paravirt": a Go
// function with Release's signature, as pvlock's release site will have.
func releaseParavirt(l *uint8) {
	ReleaseParavirt.Add(1)
	*l = 0
	if Stress.Load() {
		stress()
	}
}

// TickA and TickB count the CALLs of tickA and tickB made through Tick.
var TickA, TickB atomic.Int64

// Stress makes every target (countA, countB, tickA, tickB) grow the stack
// and run a GC while it runs from its site (the unwinder, the stack copier
// and the GC must cope with the frames the site made, with the return
// address a CALL pushed, emulated by the trap handler or not).
var Stress atomic.Bool

func tickA() {
	TickA.Add(1)
	if Stress.Load() {
		stress()
	}
}

func tickB() {
	TickB.Add(1)
	if Stress.Load() {
		stress()
	}
}

//go:noinline
func grow(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return grow(n-1) + int(pad[n%256])
}

func stress() {
	grow(64) // 64 frames of >256 bytes: more than a new goroutine's stack
	runtime.GC()
}

// Batch returns the batch sites' functions B000..B511 in address order of
// declaration.
func Batch() []func(*uint8) { return batch[:] }
