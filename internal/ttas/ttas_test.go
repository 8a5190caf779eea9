package ttas

import (
	"sync"
	"testing"
)

func TestMutualExclusion(t *testing.T) {
	var l Lock
	var n int
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20000 {
				l.Lock()
				n++
				l.Unlock()
			}
		}()
	}
	wg.Wait()
	if n != 8*20000 {
		t.Fatalf("n = %d, want %d: lost updates", n, 8*20000)
	}
}
