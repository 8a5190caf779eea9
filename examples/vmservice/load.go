package main

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
)

// startLoad runs n goroutines that put and get random keys until ctx is
// done; the returned channel closes when they have all stopped.
func startLoad(ctx context.Context, s *store, n int) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			val := []byte("v")
			for j := 0; ctx.Err() == nil; j++ {
				key := "k" + strconv.Itoa(rand.IntN(64))
				if j%4 == 0 {
					s.put(key, val)
				} else {
					s.get(key)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}
