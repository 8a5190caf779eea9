package barrier_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pvswitch/pvswitch/internal/barrier"
)

// A switch from state 0 to state 1 (two lock variants, say), as seen by a
// slow-path op and by the switcher.
func Example() {
	var b barrier.Barrier // open, state 0

	// An op of variant 0: count, validate, run, un-count.
	tok, ok := b.Enter(0)
	fmt.Println("op of 0 enters:", ok)

	// The switcher closes the gate; new ops back off...
	b.Close()
	_, ok = b.Enter(0)
	fmt.Println("op of 0 enters a closed gate:", ok)

	// ...and the drain waits for the op still counted, within a bound.
	err := b.Drain(context.Background(), 10*time.Millisecond, nil)
	fmt.Println("drain with the op running is busy:", errors.Is(err, barrier.ErrBusy))
	b.Exit(tok)
	fmt.Println("drain after it left:", b.Drain(context.Background(), 10*time.Millisecond, nil))

	// Commit: publish state 1 and open the gate. An op that was sent to
	// variant 0 before the switch finds out after counting, and re-runs.
	b.Open(1)
	_, ok = b.Enter(0)
	fmt.Println("op of 0 after the commit:", ok)
	tok, ok = b.Enter(1)
	fmt.Println("op of 1 after the commit:", ok)
	b.Exit(tok)
	// Output:
	// op of 0 enters: true
	// op of 0 enters a closed gate: false
	// drain with the op running is busy: true
	// drain after it left: <nil>
	// op of 0 after the commit: false
	// op of 1 after the commit: true
}
