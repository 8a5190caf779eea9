package main

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/pvswitch/pvswitch/pvlock"
)

// maxValue bounds a stored value, in bytes.
const maxValue = 64 << 10

// store is a sharded map, each shard guarded by a pvlock.SpinLock.
type store struct {
	seed   maphash.Seed
	shards []shard
	ops    atomic.Int64
	broken atomic.Int64 // critical sections that found another inside
}

type shard struct {
	mu     pvlock.SpinLock
	inside int32 // 1 while a holder is inside; checked for mutual exclusion
	m      map[string][]byte
	_      [40]byte
}

func newStore(n int) *store {
	s := &store{seed: maphash.MakeSeed(), shards: make([]shard, n)}
	for i := range s.shards {
		s.shards[i].m = map[string][]byte{}
	}
	return s
}

// with runs f on key's shard map, holding its lock.
func (s *store) with(key string, f func(m map[string][]byte)) {
	sh := &s.shards[maphash.String(s.seed, key)%uint64(len(s.shards))]
	sh.mu.Lock()
	if !atomic.CompareAndSwapInt32(&sh.inside, 0, 1) {
		s.broken.Add(1)
	}
	f(sh.m)
	atomic.StoreInt32(&sh.inside, 0)
	sh.mu.Unlock()
	s.ops.Add(1)
}

func (s *store) get(key string) (v []byte, ok bool) {
	s.with(key, func(m map[string][]byte) { v, ok = m[key] })
	return v, ok
}

func (s *store) put(key string, v []byte) { s.with(key, func(m map[string][]byte) { m[key] = v }) }

func (s *store) del(key string) { s.with(key, func(m map[string][]byte) { delete(m, key) }) }

// check reports a mutual-exclusion violation seen by any critical section.
func (s *store) check() error {
	if n := s.broken.Load(); n != 0 {
		return fmt.Errorf("mutual exclusion violated %d times", n)
	}
	return nil
}

// ServeHTTP serves /kv/KEY: GET, PUT, DELETE.
func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/kv/")
	if key == "" || len(key) > 256 {
		http.Error(w, "want /kv/KEY with a key of 1 to 256 bytes", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet:
		v, ok := s.get(key)
		if !ok {
			http.Error(w, "no such key", http.StatusNotFound)
			return
		}
		w.Write(v)
	case http.MethodPut:
		v, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValue))
		if err != nil {
			http.Error(w, fmt.Sprintf("value: %v (at most %d bytes)", err, maxValue), http.StatusRequestEntityTooLarge)
			return
		}
		s.put(key, v)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		s.del(key)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// statsHandler serves /stats: the store's op count and pvlock's mode.
func (s *store) statsHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"ops":                  s.ops.Load(),
		"mode":                 pvlock.CurrentMode().String(),
		"exclusion_violations": s.broken.Load(),
	})
}
