package queue

import (
	"context"
	"sync"
	"time"
)

// Item is one queued request.
type Item[T any] struct {
	// ID is unique within a store: hand it to the dependency as an
	// idempotency key, since an item may run more than once (at least once:
	// after a crash between its run and its acknowledgement).
	ID uint64
	// Value is the request.
	Value T
	// Enqueued is when it was submitted; Deadline when it fails if it has not
	// run by then.
	Enqueued time.Time
	Deadline time.Time
}

// Store holds a [Queue]'s items from submission until they have run. The
// default, [NewMemoryStore], keeps them in memory (they die with the
// process); a durable implementation (a database table, a Redis stream)
// keeps batch jobs across restarts.
//
// The queue calls a Store without holding any lock of its own, with the
// context of the request (Push, Remove) or of the queue (the others), so a
// slow store slows the calls that need it and never blocks the queue. Every
// method may fail; the queue logs the failure and retries the work later,
// or returns it to the caller (Push).
//
// An item goes through Push, Lease (a worker takes it: it stays in the
// store), then Ack (it ran, with success or a final failure: it leaves the
// store) or Release (it did not finish: the queue is closing, or its
// dependency is down; it is available again). A durable store must make
// the items a crashed process had leased available again (a lease timeout,
// or releasing every lease when it opens): that is what makes the queue
// at-least-once.
//
// Implementations must be safe for concurrent use and lease items oldest
// first.
type Store[T any] interface {
	// Push adds an item.
	Push(ctx context.Context, it Item[T]) error
	// Lease returns the oldest item not leased and marks it leased; ok is
	// false when there is none.
	Lease(ctx context.Context) (it Item[T], ok bool, err error)
	// Release makes a leased item available again.
	Release(ctx context.Context, id uint64) error
	// Ack deletes an item that has run.
	Ack(ctx context.Context, id uint64) error
	// Remove deletes an item that is not leased (a request withdrawn before
	// it ran), reporting whether it did.
	Remove(ctx context.Context, id uint64) (bool, error)
	// Len returns the number of items, leased or not.
	Len(ctx context.Context) (int, error)
}

// MemoryStore is the in-memory [Store]. Its items live as long as the
// process: nothing survives a restart. Its methods never fail.
type MemoryStore[T any] struct {
	mu     sync.Mutex
	items  []Item[T]
	leased map[uint64]bool
}

var _ Store[int] = (*MemoryStore[int])(nil)

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore[T any]() *MemoryStore[T] {
	return &MemoryStore[T]{leased: map[uint64]bool{}}
}

// Push appends it.
func (s *MemoryStore[T]) Push(_ context.Context, it Item[T]) error {
	s.mu.Lock()
	s.items = append(s.items, it)
	s.mu.Unlock()
	return nil
}

// Lease returns the oldest item not leased.
func (s *MemoryStore[T]) Lease(context.Context) (Item[T], bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.items {
		if !s.leased[it.ID] {
			s.leased[it.ID] = true
			return it, true, nil
		}
	}
	return Item[T]{}, false, nil
}

// Release makes a leased item available again.
func (s *MemoryStore[T]) Release(_ context.Context, id uint64) error {
	s.mu.Lock()
	delete(s.leased, id)
	s.mu.Unlock()
	return nil
}

// Ack deletes the item.
func (s *MemoryStore[T]) Ack(_ context.Context, id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.leased, id)
	s.deleteLocked(id)
	return nil
}

// Remove deletes the item if it is not leased.
func (s *MemoryStore[T]) Remove(_ context.Context, id uint64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leased[id] {
		return false, nil
	}
	return s.deleteLocked(id), nil
}

func (s *MemoryStore[T]) deleteLocked(id uint64) bool {
	for i := range s.items {
		if s.items[i].ID == id {
			s.items = append(s.items[:i], s.items[i+1:]...)
			return true
		}
	}
	return false
}

// Len returns the number of items.
func (s *MemoryStore[T]) Len(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items), nil
}
