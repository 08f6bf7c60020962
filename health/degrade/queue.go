package degrade

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/credkit/credkit/credential"
)

// Item is one queued request.
type Item[T any] struct {
	// ID is unique within a queue.
	ID uint64
	// Value is the request.
	Value T
	// Enqueued is when it was submitted; Deadline when it fails if it has not
	// run by then.
	Enqueued time.Time
	Deadline time.Time
}

// Store holds a [Queue]'s pending items. The default, [NewMemoryStore],
// keeps them in memory; a durable implementation (a database table, a Redis
// list) can be plugged in so that batch jobs survive a restart.
//
// Implementations must be safe for concurrent use and keep FIFO order. The
// queue enforces its capacity itself.
type Store[T any] interface {
	// Push appends an item.
	Push(ctx context.Context, it Item[T]) error
	// Pop removes and returns the oldest item; ok is false when the store is
	// empty.
	Pop(ctx context.Context) (it Item[T], ok bool, err error)
	// Remove deletes the item with the id, reporting whether it was there.
	Remove(ctx context.Context, id uint64) (bool, error)
	// Len returns the number of items.
	Len() int
}

// MemoryStore is the in-memory [Store].
type MemoryStore[T any] struct {
	mu    sync.Mutex
	items []Item[T]
}

var _ Store[int] = (*MemoryStore[int])(nil)

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore[T any]() *MemoryStore[T] { return &MemoryStore[T]{} }

// Push appends it.
func (s *MemoryStore[T]) Push(_ context.Context, it Item[T]) error {
	s.mu.Lock()
	s.items = append(s.items, it)
	s.mu.Unlock()
	return nil
}

// Pop removes the oldest item.
func (s *MemoryStore[T]) Pop(context.Context) (Item[T], bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) == 0 {
		return Item[T]{}, false, nil
	}
	it := s.items[0]
	s.items[0] = Item[T]{}
	s.items = s.items[1:]
	return it, true, nil
}

// Remove deletes the item with the id.
func (s *MemoryStore[T]) Remove(_ context.Context, id uint64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.items {
		if s.items[i].ID == id {
			s.items = append(s.items[:i], s.items[i+1:]...)
			return true, nil
		}
	}
	return false, nil
}

// Len returns the number of items.
func (s *MemoryStore[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// Handle is the future result of a submitted item.
type Handle[R any] struct {
	id   uint64
	done chan struct{}
	val  R
	err  error
}

// ID returns the item's id.
func (h *Handle[R]) ID() uint64 { return h.id }

// Done is closed when the result is ready.
func (h *Handle[R]) Done() <-chan struct{} { return h.done }

// Wait returns the result, or ctx's error if ctx ends first (the item stays
// queued).
func (h *Handle[R]) Wait(ctx context.Context) (R, error) {
	select {
	case <-h.done:
		return h.val, h.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// Queue holds requests while a dependency is down or rate limited and runs
// them when it recovers, through a [Policy]. It is bounded (a submit beyond
// capacity fails at once with [ErrQueueFull]: load is shed, never silently
// dropped), FIFO, and every item has a deadline. Workers run items at the
// rate set with [WithRate]; when the policy reports the dependency still
// down (an open breaker, a Retry-After, retries exhausted on transient
// failures) the worker keeps the item and waits as long as the dependency
// asked (or until the breaker lets a probe through) before trying it again,
// so items are neither lost nor run twice.
//
// Items a durable [Store] kept from an earlier process run like the others
// once the queue starts; no [Handle] waits for them, so their run function
// should record what they produce (a batch job writes its summaries).
//
// Two modes: [Queue.Do] waits for the result until the caller's context
// ends; [Queue.Submit] returns a [Handle] to collect it later (batch jobs).
//
// [Queue.Close] and [Queue.Drain] stop the workers; every item not run is
// handed back by Drain and its handle fails with an error matching
// credential.ErrClosed.
//
// A Queue is safe for concurrent use.
type Queue[T, R any] struct {
	name   string
	o      options
	policy *Policy
	run    func(context.Context, T) (R, error)
	store  Store[T]

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu       sync.Mutex
	closed   bool
	nextID   uint64
	handles  map[uint64]*Handle[R]
	held     map[uint64]Item[T] // popped, not finished
	nextSlot time.Time
}

// NewQueue returns a queue that runs items with run under policy, keeping
// pending items in store (nil means [NewMemoryStore]), and starts its
// workers. It reads [WithClock], [WithLogger], [WithCapacity] (1000),
// [WithWorkers] (1), [WithRate] (no limit) and [WithMaxWait] (10 min).
func NewQueue[T, R any](policy *Policy, run func(context.Context, T) (R, error), store Store[T], opts ...Option) *Queue[T, R] {
	if store == nil {
		store = NewMemoryStore[T]()
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue[T, R]{
		name: policy.Name(), o: build(opts), policy: policy, run: run, store: store,
		ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1),
		// IDs start from the clock so that they do not collide with items a
		// durable store kept from an earlier process.
		nextID:  uint64(time.Now().UnixNano()),
		handles: map[uint64]*Handle[R]{}, held: map[uint64]Item[T]{},
	}
	for i := 0; i < q.o.workers; i++ {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

func (q *Queue[T, R]) closedErr() error {
	return &credential.Error{Op: "queue", Name: q.name, Kind: credential.ErrClosed}
}

// Submit queues v and returns a handle to its result. The item's deadline
// is ctx's deadline, or now plus [WithMaxWait]; ctx is not otherwise kept.
// A full queue fails at once with [ErrQueueFull]; a closed one with an error
// matching credential.ErrClosed.
func (q *Queue[T, R]) Submit(ctx context.Context, v T) (*Handle[R], error) {
	now := q.o.clock.Now()
	dl := now.Add(q.o.maxWait)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, q.closedErr()
	}
	if q.store.Len()+len(q.held) >= q.o.capacity {
		q.mu.Unlock()
		return nil, &Error{Dependency: q.name, Kind: ErrQueueFull}
	}
	q.nextID++
	it := Item[T]{ID: q.nextID, Value: v, Enqueued: now, Deadline: dl}
	h := &Handle[R]{id: it.ID, done: make(chan struct{})}
	if err := q.store.Push(ctx, it); err != nil {
		q.mu.Unlock()
		return nil, err
	}
	q.handles[it.ID] = h
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return h, nil
}

// Do queues v and waits for its result until ctx ends; then the item is
// withdrawn (if it has not started) and ctx's error returned.
func (q *Queue[T, R]) Do(ctx context.Context, v T) (R, error) {
	h, err := q.Submit(ctx, v)
	if err != nil {
		var zero R
		return zero, err
	}
	r, err := h.Wait(ctx)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		q.withdraw(h.id)
	}
	return r, err
}

func (q *Queue[T, R]) withdraw(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ok, _ := q.store.Remove(context.Background(), id); ok {
		delete(q.handles, id)
	}
}

// Len returns the number of items waiting or running.
func (q *Queue[T, R]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.store.Len() + len(q.held)
}

func (q *Queue[T, R]) resolve(id uint64, v R, err error) {
	q.mu.Lock()
	h := q.handles[id]
	delete(q.handles, id)
	delete(q.held, id)
	q.mu.Unlock()
	if h != nil {
		h.val, h.err = v, err
		close(h.done)
	}
}

func (q *Queue[T, R]) work() {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return
		}
		it, ok, err := q.store.Pop(q.ctx)
		if ok {
			// An item without a handle was recovered from a durable store
			// after a restart: it runs like the others. (A withdrawn item
			// is no longer in the store.)
			q.held[it.ID] = it
		}
		q.mu.Unlock()
		if err != nil {
			q.o.logger.Error("degrade: queue store failed", "dependency", q.name, "err", err)
			if sleep(q.ctx, q.o.clock, time.Second) != nil {
				return
			}
			continue
		}
		if !ok {
			if q.store.Len() > 0 {
				continue
			}
			select {
			case <-q.wake:
			case <-q.ctx.Done():
				return
			}
			continue
		}
		if !q.runItem(it) {
			return
		}
	}
}

// runItem runs it until it succeeds, fails for good or expires; it returns
// false when the queue is closing (the item stays held for Drain).
func (q *Queue[T, R]) runItem(it Item[T]) bool {
	if !q.pace() {
		return false
	}
	for {
		now := q.o.clock.Now()
		if !now.Before(it.Deadline) {
			var zero R
			q.resolve(it.ID, zero, &Error{Dependency: q.name, Kind: ErrRetriesExhausted, Err: context.DeadlineExceeded})
			return true
		}
		v, err := Call(q.ctx, q.policy, func(ctx context.Context) (R, error) { return q.run(ctx, it.Value) })
		if err == nil {
			// Done, even if the queue is closing: never handed back.
			q.resolve(it.ID, v, nil)
			return q.ctx.Err() == nil
		}
		if q.ctx.Err() != nil {
			return false
		}
		var de *Error
		if !errors.As(err, &de) ||
			(de.Kind != ErrCircuitOpen && de.Kind != ErrRateLimited && de.Kind != ErrRetriesExhausted) {
			q.resolve(it.ID, v, err)
			return true
		}
		// The dependency is still down: keep the item and wait as it asked.
		wait := de.RetryAfter
		if de.Kind == ErrCircuitOpen && q.policy.br != nil {
			if at := q.policy.br.RetryAt(); !at.IsZero() {
				wait = at.Sub(now)
			}
		}
		if wait <= 0 {
			wait = q.policy.o.maxDelay
		}
		if left := it.Deadline.Sub(now); wait > left {
			wait = left
		}
		if sleep(q.ctx, q.o.clock, wait) != nil {
			return false
		}
	}
}

// pace waits for the next slot of the drain rate.
func (q *Queue[T, R]) pace() bool {
	if q.o.rate <= 0 {
		return true
	}
	interval := time.Duration(float64(time.Second) / q.o.rate)
	now := q.o.clock.Now()
	q.mu.Lock()
	slot := q.nextSlot
	if slot.Before(now) {
		slot = now
	}
	q.nextSlot = slot.Add(interval)
	q.mu.Unlock()
	return sleep(q.ctx, q.o.clock, slot.Sub(now)) == nil
}

// Drain stops the queue: no more submits, the workers stop (an item running
// sees its context canceled), and every item not finished is removed from
// the store and handed back, oldest first; their handles fail with an error
// matching credential.ErrClosed. A second call returns nothing.
func (q *Queue[T, R]) Drain() []Item[T] {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()

	q.mu.Lock()
	var out []Item[T]
	for _, it := range q.held {
		out = append(out, it)
	}
	q.held = map[uint64]Item[T]{}
	for {
		it, ok, err := q.store.Pop(context.Background())
		if err != nil || !ok {
			break
		}
		out = append(out, it)
	}
	hs := q.handles
	q.handles = map[uint64]*Handle[R]{}
	q.mu.Unlock()
	sortItems(out)
	err := q.closedErr()
	for _, h := range hs {
		h.err = err
		close(h.done)
	}
	return out
}

// Close stops the queue like [Queue.Drain]: every pending item's handle
// fails with an error matching credential.ErrClosed, so no caller is left
// waiting. It is idempotent and returns nil.
func (q *Queue[T, R]) Close() error {
	q.Drain()
	return nil
}

func sortItems[T any](its []Item[T]) {
	for i := 1; i < len(its); i++ {
		for j := i; j > 0 && its[j].ID < its[j-1].ID; j-- {
			its[j], its[j-1] = its[j-1], its[j]
		}
	}
}
