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
//
// Switch is Prepare followed by Commit.
func Switch(batch []Change) error {
	p, err := Prepare(batch)
	if err != nil {
		return err
	}
	return p.Commit()
}

// Batch is a prepared switch: checked, and holding the patcher's lock until
// Commit or Cancel. Between Prepare and Commit a caller drains the users
// of the old variants: the checks then run while the drain waits, instead
// of after it.
type Batch struct {
	ops  []op
	done bool
}

// Prepare takes the patcher's lock (one switch at a time) and runs every
// check Switch makes before its window, with the refusals Switch
// documents; on a refusal it releases the lock and returns the error. The
// checks read /proc and the handler's state, so a thread that blocks
// SIGTRAP or a tracer that attaches after Prepare is not seen (as one that
// does so during the window is not: see the package doc). The caller must
// end the batch with exactly one Commit or Cancel.
func Prepare(batch []Change) (*Batch, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	mu.Lock()
	ops, err := prepare(batch)
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	return &Batch{ops: ops}, nil
}

// Commit runs the window for a prepared batch (nothing if every site was
// already on its target) and releases the patcher's lock.
func (b *Batch) Commit() error {
	if b.done {
		panic("patch: Batch committed or cancelled twice")
	}
	b.done = true
	defer mu.Unlock()
	if len(b.ops) == 0 {
		return nil
	}
	return window(b.ops)
}

// Cancel releases the patcher's lock without writing anything.
func (b *Batch) Cancel() {
	if b.done {
		panic("patch: Batch committed or cancelled twice")
	}
	b.done = true
	mu.Unlock()
}

// prepare checks batch and returns the ops that change a site, sorted by
// address. Called with mu held.
func prepare(batch []Change) ([]op, error) {
	if err := int3.Check(); err != nil {
		return nil, err
	}
	if err := checkTracer(); err != nil {
		return nil, err
	}
	ops := make([]op, 0, len(batch))
	seen := map[*asm.Site]int{}
	for _, c := range batch {
		s, v := c.Site, c.Variant
		if v < 0 || v >= s.NumVariants() {
			return nil, fmt.Errorf("%w: site %s has %d variants, asked for %d", ErrVariant, s.Name(), s.NumVariants(), v)
		}
		if w, ok := seen[s]; ok {
			if w != v {
				return nil, fmt.Errorf("%w: site %s asked for variants %d and %d in one batch", ErrVariant, s.Name(), w, v)
			}
			continue
		}
		seen[s] = v
		if err := s.Err(); err != nil {
			return nil, err
		}
		r, err := register(s)
		if err != nil {
			return nil, err
		}
		cur := r.Current()
		live := s.Live()
		if armed[s] {
			if live[0] != opInt3 {
				return nil, &asm.MismatchError{Site: s.Name(), Addr: s.Addr(), Bytes: live, Reason: "left armed with INT3 but INT3 is gone"}
			}
		} else {
			got, err := s.Match(live)
			if err != nil {
				return nil, err
			}
			if got != cur {
				return nil, &asm.MismatchError{Site: s.Name(), Addr: s.Addr(), Bytes: live, Reason: fmt.Sprintf("variant %d is live but the handler says %d", got, cur)}
			}
			if v == cur {
				continue
			}
		}
		ops = append(ops, op{site: s, r: r, old: cur, new: v, oldFirst: [1]byte{live[0]}, newBytes: s.Bytes(v)})
	}
	if len(ops) == 0 {
		return nil, nil
	}
	if err := checkSigMask(); err != nil {
		return nil, err
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].site.Addr() < ops[j].site.Addr() })
	return ops, nil
}
