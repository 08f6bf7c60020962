package fallback

import (
	"container/list"
	"sync"
	"time"
)

// lru is a bounded least-recently-used cache whose entries carry the time
// they were stored; expired entries are kept (until evicted) so that they
// can still be served, marked stale, when the dependency fails.
type lru[K comparable, V any] struct {
	mu   sync.Mutex
	size int
	ll   *list.List
	m    map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key    K
	val    V
	stored time.Time
}

func newLRU[K comparable, V any](size int) *lru[K, V] {
	return &lru[K, V]{size: size, ll: list.New(), m: make(map[K]*list.Element)}
}

func (c *lru[K, V]) get(k K) (v V, stored time.Time, ok bool) {
	if c == nil {
		return v, stored, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return v, stored, false
	}
	c.ll.MoveToFront(e)
	en := e.Value.(*lruEntry[K, V])
	return en.val, en.stored, true
}

func (c *lru[K, V]) put(k K, v V, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		en := e.Value.(*lruEntry[K, V])
		en.val, en.stored = v, now
		c.ll.MoveToFront(e)
		return
	}
	c.m[k] = c.ll.PushFront(&lruEntry[K, V]{key: k, val: v, stored: now})
	for c.ll.Len() > c.size {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.m, e.Value.(*lruEntry[K, V]).key)
	}
}

func (c *lru[K, V]) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
