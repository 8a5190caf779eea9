package pvlock

// The lock-op sites. Two places differ between the variants, and each is a
// patchable site (declared in asm.Table, generated into zsites_amd64.*):
//
//	site           variant "paravirt" (as built)        variant "native"
//	release        JMP unlockParavirtEntry              MOVL $0, (DI): the plain store
//	lockSlowEntry  JMP lockSlowParavirtEntry            JMP lockSlowNativeEntry
//
// The uncontended acquire (one CMPXCHG) is the same in both and is not a
// site. No mode flag is read on a fast path: the code is the mode.
//
// The binary is built with the paravirt variants because the paravirt
// release is correct in both modes (it sees 1 and clears it, or sees 3 and
// kicks), so a binary whose sites cannot be patched (the dispatch fallback)
// runs them as built, and only the slow-path entry dispatches on the mode.

// Both site functions are declared //go:noescape (NoEscape in asm.Table),
// so that an uncontended Lock/Unlock of a local SpinLock does not move it to
// the heap. Their targets do keep the lock's address beyond the call: a
// paravirt waiter registers it with the backstop and sleeps on &l.sema in
// the runtime semaphore's queue. That is sound because those paths run
// only when another goroutine holds or wants the same lock, and sharing a
// lock with another goroutine already makes it escape.

// compiledMode is the mode the sites hold as built.
const compiledMode = Paravirt

// The targets of the sites' JMP variants: Go functions with the site
// functions' signatures, reached through their ABI0 wrappers.

func lockSlowParavirtEntry(l *SpinLock) bool { return l.lockSlowMode(Paravirt) }
func lockSlowNativeEntry(l *SpinLock) bool   { return l.lockSlowMode(Native) }
func unlockParavirtEntry(l *SpinLock)        { l.unlockParavirt() }
