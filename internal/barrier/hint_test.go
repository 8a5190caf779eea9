package barrier

import "testing"

// TestDrainHint: the op that leaves last while the gate is closed leaves a
// hint for the drainer; one that leaves while the gate is open, or while
// others remain, does not.
func TestDrainHint(t *testing.T) {
	var b Barrier
	pending := func() bool {
		select {
		case <-*b.drained.Load():
			return true
		default:
			return false
		}
	}
	t1, ok1 := b.Enter(0)
	t2, ok2 := b.Enter(0)
	t3, ok3 := b.Enter(0)
	if !ok1 || !ok2 || !ok3 {
		t.Fatal("Enter failed with the gate open")
	}
	b.Close()
	if pending() {
		t.Fatal("hint pending right after Close")
	}
	b.Exit(t1)
	if pending() {
		t.Fatal("hint with two ops still counted")
	}
	b.Open(0)
	b.Exit(t2)
	if pending() {
		t.Fatal("hint from an op that left with the gate open")
	}
	b.Close()
	b.Exit(t3)
	if !pending() {
		t.Fatal("no hint from the last op to leave with the gate closed")
	}
	b.Open(0)
}
