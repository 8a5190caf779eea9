//go:build !pvswitch_testhooks

package barrier

// Stall is a test hook (hooks_on.go): a goroutine stops at p while a test
// holds it there. In normal builds it is empty and inlines to nothing.
func Stall(StallPoint) {}
