//go:build !pvswitch_stall

package barrier

// stall is a test hook; see stall_on.go. Normal builds compile it away.
func stall(StallPoint) {}
