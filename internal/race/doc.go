// Package race tells the race detector about the happens-before edges that
// the project's assembly creates (a lock acquired by LOCK CMPXCHG in
// assembly, released by a plain store), which the detector cannot see.
//
// Enabled is a constant, so in normal builds every call sits behind an
// `if race.Enabled` that the compiler removes: the hooks cost nothing on a
// fast path. In race builds (go test -race) they call runtime.RaceAcquire
// and runtime.RaceRelease, which exist only there.
package race
