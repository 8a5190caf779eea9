//go:build amd64

// Package testsite holds the sites the tests of asm, patch and int3 switch:
// one of each kind of variant (Flag, Wide: stores; Count: JMP tail calls to
// Go functions; Release: a store or a JMP, the shape of pvlock's release;
// Tick: CALLs of Go functions), the same in 6-byte slots where the JMP and
// CALL carry a DS prefix (Release32: a 4-byte store or a JMP; Tick6:
// CALLs), Count's JMPs in a 9-byte slot (Count9: four DS prefixes), and
// 512 store sites B000..B511 for batch switches. The sites are declared
// by the command in ./internal/sitedecl, which `go generate` runs (gen.go)
// to write the site functions, their bindings and the batch lists into
// zsites_amd64.*.
package testsite

import (
	"runtime"
	"sync/atomic"
)

// Counter counts which JMP target of Count ran. Each goroutine uses its own.
type Counter struct {
	A, B uint64
}

// countA and countB are the JMP targets of Count and Count9: ordinary Go functions with
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

// ReleaseParavirt32 counts the calls of releaseParavirt32.
var ReleaseParavirt32 atomic.Int64

// releaseParavirt32 is the JMP target of Release32's variant "paravirt"
// (3E E9 rel32): a Go function with Release32's signature.
func releaseParavirt32(l *uint32) {
	ReleaseParavirt32.Add(1)
	*l = 0
	if Stress.Load() {
		stress()
	}
}

// TickA and TickB count the CALLs of tickA and tickB made through Tick.
var TickA, TickB atomic.Int64

// Tick6A and Tick6B count the CALLs of tick6A and tick6B made through Tick6
// (3E E8 rel32: the return address is the end of the 6-byte slot).
var Tick6A, Tick6B atomic.Int64

func tick6A() {
	Tick6A.Add(1)
	if Stress.Load() {
		stress()
	}
}

func tick6B() {
	Tick6B.Add(1)
	if Stress.Load() {
		stress()
	}
}

// Stress makes every target (countA, countB, releaseParavirt,
// releaseParavirt32, tickA, tickB, tick6A, tick6B) grow the stack and run a
// GC while it runs from its site (the unwinder, the stack copier and the GC
// must cope with the frames the site made, with the return address a CALL
// pushed, emulated by the trap handler or not).
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

// Batch returns the batch sites' functions B000..B511 in declaration order,
// the order of BatchSites.
func Batch() []func(*uint8) { return batch[:] }
