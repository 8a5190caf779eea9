//go:build !pvswitch_testhooks

package barrier

// stall is a test hook; see stall_on.go. Normal builds compile it away.
func stall(StallPoint) {}
