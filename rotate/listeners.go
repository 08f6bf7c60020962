package rotate

import "sync"

// listeners is a registry of callbacks, called in the order they were
// added. Its zero value is ready to use and it is safe for concurrent use.
// Callbacks run outside its lock, so one may add or remove listeners.
type listeners[F any] struct {
	mu   sync.Mutex
	next uint64
	fns  []listener[F]
}

type listener[F any] struct {
	id uint64
	f  F
}

// add registers f and returns the function that removes it; calling that
// more than once is harmless.
func (l *listeners[F]) add(f F) (remove func()) {
	l.mu.Lock()
	id := l.next
	l.next++
	l.fns = append(l.fns, listener[F]{id, f})
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, x := range l.fns {
			if x.id == id {
				// A fresh slice: a caller iterating an older list is unaffected.
				l.fns = append(l.fns[:i:i], l.fns[i+1:]...)
				return
			}
		}
	}
}

// list returns the registered callbacks, oldest first. The slice is never
// modified afterwards (add and remove build new ones), so the caller may
// range over it without holding a lock.
func (l *listeners[F]) list() []listener[F] {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fns
}
