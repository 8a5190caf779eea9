// Command initprog is the smallest program that uses pvlock: it imports it
// and takes a lock once. TestInitCost and BenchmarkInit (pvlock/init_test.go)
// run it with GODEBUG=inittrace=1 to measure what the module's packages
// cost at init.
package main

import "github.com/pvswitch/pvswitch/pvlock"

func main() {
	var l pvlock.SpinLock
	l.Lock()
	l.Unlock()
}
