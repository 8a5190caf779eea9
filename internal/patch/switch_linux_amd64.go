package patch

import (
	"fmt"
	"sort"

	"github.com/pvswitch/pvswitch/internal/asm"
	"github.com/pvswitch/pvswitch/internal/int3"
)

// Current returns the variant site s runs now (what the trap handler's
// descriptors say, which is what the bytes hold outside a switch): 0 for a
// site the patcher does not know, which still holds what it was built with.
func Current(s *asm.Site) int {
	if r := registered(s); r != nil {
		return r.Current()
	}
	return 0
}

// Traps returns how many INT3 traps on s the handler emulated.
func Traps(s *asm.Site) uint64 {
	if r := registered(s); r != nil {
		return r.Traps()
	}
	return 0
}

// registered returns s's registration with the trap handler, or nil if
// patching is unavailable or s was never registered.
func registered(s *asm.Site) *int3.Site {
	if Init() != nil {
		return nil
	}
	if r, ok := reg.Load(s); ok {
		return r.(*int3.Site)
	}
	return nil
}

// Switch switches each site of batch (of any owner packages) to its
// Variant as one batch with a single commit point: every execution of any
// of the sites before the commit runs its old variant and every execution
// after it runs its new one, so a goroutine that runs the sites in order
// never sees one site new and a later one old. Sites already on their
// target are left alone; a site named twice must ask for the same variant.
// Switch returns once no trap handler can still act on an old variant. It
// serializes with other switches and waits for nothing else: a caller that
// must drain users of the old variants does so before calling it. It
// refuses (changing nothing) when the SIGTRAP handler was replaced
// (int3.ErrReplaced), a tracer is attached (ErrTracer), a thread blocks
// SIGTRAP (ErrSigBlocked, naming the thread), a site's bytes are
// not the variant the handler says (asm.ErrMismatch), or a variant index is
// out of range (ErrVariant); see WindowError for failures inside the window.
func Switch(batch []Change) error {
	if err := Init(); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if err := int3.Check(); err != nil {
		return err
	}
	if err := checkTracer(); err != nil {
		return err
	}
	ops := make([]op, 0, len(batch))
	seen := map[*asm.Site]int{}
	for _, c := range batch {
		s, v := c.Site, c.Variant
		if v < 0 || v >= s.NumVariants() {
			return fmt.Errorf("%w: site %s has %d variants, asked for %d", ErrVariant, s.Name(), s.NumVariants(), v)
		}
		if w, ok := seen[s]; ok {
			if w != v {
				return fmt.Errorf("%w: site %s asked for variants %d and %d in one batch", ErrVariant, s.Name(), w, v)
			}
			continue
		}
		seen[s] = v
		if err := s.Err(); err != nil {
			return err
		}
		r, err := register(s)
		if err != nil {
			return err
		}
		cur := r.Current()
		live := s.Live()
		if armed[s] {
			if live[0] != opInt3 {
				return &asm.MismatchError{Site: s.Name(), Addr: s.Addr(), Bytes: live, Reason: "left armed with INT3 but INT3 is gone"}
			}
		} else {
			got, err := s.Match(live)
			if err != nil {
				return err
			}
			if got != cur {
				return &asm.MismatchError{Site: s.Name(), Addr: s.Addr(), Bytes: live, Reason: fmt.Sprintf("variant %d is live but the handler says %d", got, cur)}
			}
			if v == cur {
				continue
			}
		}
		ops = append(ops, op{site: s, r: r, old: cur, new: v, oldFirst: [1]byte{live[0]}, newBytes: s.Bytes(v)})
	}
	if len(ops) == 0 {
		return nil
	}
	if err := checkSigMask(); err != nil {
		return err
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].site.Addr() < ops[j].site.Addr() })
	return window(ops)
}
