//go:build linux && amd64

package patch_test

import (
	"fmt"

	"github.com/pvswitch/pvswitch/internal/patch"
	"github.com/pvswitch/pvswitch/internal/testsite"
)

// Switch a store site (testsite.Flag: variant 0 stores 1, variant 1
// stores 2) while the program runs.
func ExampleSwitch() {
	if err := patch.Init(); err != nil {
		fmt.Println("running unpatched:", err)
		return
	}
	var b uint8
	testsite.Flag(&b)
	fmt.Println("before:", b, patch.Current(testsite.FlagSite))
	if err := patch.Switch([]patch.Change{{Site: testsite.FlagSite, Variant: 1}}); err != nil {
		fmt.Println(err)
		return
	}
	testsite.Flag(&b)
	fmt.Println("after:", b, patch.Current(testsite.FlagSite))
	if err := patch.Switch([]patch.Change{{Site: testsite.FlagSite, Variant: 0}}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// before: 1 0
	// after: 2 1
}
