package patch

import "github.com/pvswitch/pvswitch/internal/asm"

// Change asks for one site to run one of its declared variants: the unit of
// a Switch batch.
type Change struct {
	Site    *asm.Site
	Variant int // index into the site's declared variants
}
