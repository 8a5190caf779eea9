//go:build amd64

package pvlock

// spinWait spins read-only until the low byte of *key is 0 or about n
// PAUSEs have passed, reading the word once every `every` PAUSEs (every >=
// 1), and reports whether it saw the word free. Implemented in assembly on
// amd64.
//
//go:noescape
func spinWait(key *uint32, n, every uint32) bool

// storeFree is the native release: one plain 32-bit store of 0 to *key.
// Implemented in assembly on amd64.
//
//go:noescape
func storeFree(key *uint32)
