package shard

import (
	"runtime"
	"sync"
	"testing"
)

func TestCounterExactUnderMigration(t *testing.T) {
	var c Counter
	const g, n = 16, 20000
	var wg sync.WaitGroup
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range n {
				i := c.Add(1)
				if j%7 == 0 {
					runtime.Gosched() // let the goroutine change P before undoing
				}
				c.AddAt(i, -1)
				c.Add(2)
			}
		}()
	}
	wg.Wait()
	if got, want := c.Sum(), int64(2*g*n); got != want {
		t.Fatalf("Sum = %d, want %d", got, want)
	}
}

func TestShardsIsPowerOfTwo(t *testing.T) {
	n := Shards()
	if n < 1 || n > maxShards || n&(n-1) != 0 {
		t.Fatalf("Shards() = %d, want a power of two in [1, %d]", n, maxShards)
	}
	if i := Index(); i < 0 || i >= n {
		t.Fatalf("Index() = %d, want in [0, %d)", i, n)
	}
}

func BenchmarkCounterAdd(b *testing.B) {
	var c Counter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(1)
		}
	})
}
