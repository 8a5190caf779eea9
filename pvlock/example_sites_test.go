//go:build amd64

package pvlock_test

import (
	"fmt"

	"github.com/pvswitch/pvswitch/pvlock"
)

// Sites shows the two lock-op sites: each is a slot of one instruction,
// and a switch writes into it the variant named after the new mode. Under
// the patched mechanism the live variant is the current mode's; under
// dispatch the sites are never written and no variant is marked live.
func ExampleSites() {
	for _, s := range pvlock.Sites() {
		fmt.Printf("%s: %d bytes\n", s.Name, s.Len)
		for _, v := range s.Variants {
			fmt.Printf("  %-8s  %s\n", v.Name, v.Asm)
		}
		live := s.LiveVariant == pvlock.CurrentMode().String()
		fmt.Println("  live variant is the mode's, or none:", live || s.LiveVariant == "")
	}
	// Output:
	// pvlock.release: 6 bytes
	//   paravirt  DS JMP github.com/pvswitch/pvswitch/pvlock.unlockParavirtEntry(SB)
	//   native    MOVL $0x0, 0(DI)
	//   live variant is the mode's, or none: true
	// pvlock.lockSlowEntry: 5 bytes
	//   paravirt  JMP github.com/pvswitch/pvswitch/pvlock.lockSlowParavirtEntry(SB)
	//   native    JMP github.com/pvswitch/pvswitch/pvlock.lockSlowNativeEntry(SB)
	//   live variant is the mode's, or none: true
}
