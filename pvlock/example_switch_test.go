//go:build !pvswitch_flagdispatch

package pvlock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pvswitch/pvswitch/pvlock"
)

// Switch changes the mode of every SpinLock in the process while they are
// in use. If waiters of the old variant do not drain in time, nothing
// changes and the error matches ErrBusy: retry later.
func ExampleSwitch() {
	start := pvlock.CurrentMode()
	var mu pvlock.SpinLock
	mu.Lock() // taken under one variant...

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for {
		err := pvlock.Switch(ctx, pvlock.Paravirt)
		if errors.Is(err, pvlock.ErrBusy) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			fmt.Println("switch:", err)
			return
		}
		break
	}
	mu.Unlock() // ...released under the other
	fmt.Println("mode:", pvlock.CurrentMode())
	fmt.Println("switches so far > 0:", pvlock.ReadStatus().Switches > 0 || start == pvlock.Paravirt)
	// Output:
	// mode: paravirt
	// switches so far > 0: true
}
