package barrier

// storePlain is one plain 32-bit store, no LOCK, no fence: in assembly
// (storeplain_amd64.s), so that the compiler emits exactly that.
//
//go:noescape
func storePlain(p *uint32, v uint32)
