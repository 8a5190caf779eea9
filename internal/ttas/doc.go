// Package ttas is a static reference spinlock for benchmarks: the native
// algorithm (test-and-test-and-set with PAUSE, plain-store release) written
// entirely in assembly, with nothing patchable. pvlock's benchmarks compare
// its native variant against this to show what the variant machinery costs.
//
// Like every spin in this module, the assembly spin is bounded and returns to
// a Go loop with a preemption point.
package ttas
