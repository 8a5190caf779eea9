//go:build !amd64

package barrier

// storePlain is a plain store; only the amd64 litmus test relies on its
// being unfenced.
func storePlain(p *uint32, v uint32) { *p = v }
