package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
)

// sentinel is an error value that also matches a credential sentinel.
type sentinel struct {
	msg  string
	kind error
}

func (s *sentinel) Error() string        { return s.msg }
func (s *sentinel) Is(target error) bool { return target == s.kind }

// ErrFull: the queue is at capacity; the request was shed at once. It is
// the Kind of a [*degrade.Error] and matches credential.ErrUnavailable.
var ErrFull error = &sentinel{"queue full", credential.ErrUnavailable}

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
// them when it recovers, through a [degrade.Policy]. It is bounded (a submit
// beyond capacity fails at once with [ErrFull]: load is shed, never
// silently dropped), FIFO, and every item has a deadline. Workers run items
// at the rate set with [WithRate]; when the policy reports the dependency
// still down (an open breaker, a Retry-After, retries exhausted on
// transient failures) the worker releases the item and waits as long as the
// dependency asked (or until the breaker lets a probe through) before
// trying again.
//
// # Durability
//
// An item stays in the [Store] until it has run: it is acknowledged (Ack)
// only after its run function returned, so a crash in between runs it again
// when a durable store hands it out after the restart. Delivery is at least
// once: the run function receives the [Item] and its ID, to give the
// dependency as an idempotency key. Items a durable store kept from an
// earlier process run like the others; no [Handle] waits for them, so their
// run function should record what they produce.
//
// The queue calls the store outside its own lock, with a context, and
// handles its errors: a failed Push fails the Submit; a failed Lease or Ack
// is logged and retried later.
//
// # Stopping
//
// [Queue.Close] stops the workers (a running item sees its context
// canceled and is released back to the store) and leaves every item in the
// store: a durable store hands them to the next process. Handles still
// waiting fail with an error matching credential.ErrClosed. [Queue.Drain]
// stops the workers too, then takes every item out of the store and hands
// them back, for a process that must not leave work behind.
//
// Two ways in: [Queue.Do] waits for the result until the caller's context
// ends; [Queue.Submit] returns a [Handle] to collect it later (batch jobs).
//
// A Queue is safe for concurrent use.
type Queue[T, R any] struct {
	name   string
	o      options
	policy *degrade.Policy
	run    func(context.Context, Item[T]) (R, error)
	store  Store[T]

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu       sync.Mutex
	closed   bool
	count    int // items in the store, and Pushes under way
	nextID   uint64
	handles  map[uint64]*Handle[R]
	nextSlot time.Time
}

// New returns a queue that runs items with run under policy, keeping them
// in store (nil means [NewMemoryStore]), and starts its workers. Options and
// their defaults: [WithClock] (credential.SystemClock), [WithLogger]
// (nowhere), [WithCapacity] (1000), [WithWorkers] (1), [WithRate] (no
// limit) and [WithMaxWait] (10 min). It fails only when the store cannot
// tell how many items it holds.
func New[T, R any](policy *degrade.Policy, run func(context.Context, Item[T]) (R, error), store Store[T], opts ...Option) (*Queue[T, R], error) {
	if store == nil {
		store = NewMemoryStore[T]()
	}
	o := build(opts)
	n, err := store.Len(context.Background())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue[T, R]{
		name: policy.Name(), o: o, policy: policy, run: run, store: store,
		ctx: ctx, cancel: cancel, wake: make(chan struct{}, o.workers), count: n,
		// IDs start from the clock so that they do not collide with items a
		// durable store kept from an earlier process.
		nextID:  uint64(o.clock.Now().UnixNano()),
		handles: map[uint64]*Handle[R]{},
	}
	for i := 0; i < q.o.workers; i++ {
		q.wg.Add(1)
		go q.work()
	}
	return q, nil
}

func (q *Queue[T, R]) closedErr() error {
	return &credential.Error{Op: "queue", Name: q.name, Kind: credential.ErrClosed}
}

// Submit queues v and returns a handle to its result. The item's deadline
// is ctx's deadline, or now plus [WithMaxWait]; ctx is otherwise used only
// for the store's Push. A full queue fails at once with [ErrFull]; a closed
// one with an error matching credential.ErrClosed; a failed Push with the
// store's error.
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
	if q.count >= q.o.capacity {
		q.mu.Unlock()
		return nil, &degrade.Error{Dependency: q.name, Kind: ErrFull}
	}
	q.count++
	q.nextID++
	it := Item[T]{ID: q.nextID, Value: v, Enqueued: now, Deadline: dl}
	h := &Handle[R]{id: it.ID, done: make(chan struct{})}
	q.handles[it.ID] = h
	q.mu.Unlock()

	if err := q.store.Push(ctx, it); err != nil {
		q.mu.Lock()
		q.count--
		delete(q.handles, it.ID)
		q.mu.Unlock()
		return nil, err
	}
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
	ok, err := q.store.Remove(context.Background(), id)
	if err != nil {
		q.o.logger.Error("queue: store failed", "dependency", q.name, "op", "remove", "err", err)
	}
	q.mu.Lock()
	if ok {
		q.count--
	}
	// A running item finishes; nobody waits for its result.
	delete(q.handles, id)
	q.mu.Unlock()
}

// Len returns the number of items in the store, waiting or running.
func (q *Queue[T, R]) Len(ctx context.Context) (int, error) { return q.store.Len(ctx) }

func (q *Queue[T, R]) resolve(id uint64, v R, err error) {
	q.mu.Lock()
	h := q.handles[id]
	delete(q.handles, id)
	q.mu.Unlock()
	if h != nil {
		h.val, h.err = v, err
		close(h.done)
	}
}

// ack removes a finished item from the store. If that fails the item may
// run again (at least once): the failure is logged.
func (q *Queue[T, R]) ack(id uint64) {
	if err := q.store.Ack(context.WithoutCancel(q.ctx), id); err != nil {
		q.o.logger.Error("queue: store failed", "dependency", q.name, "op", "ack", "err", err)
		return
	}
	q.mu.Lock()
	q.count--
	q.mu.Unlock()
}

func (q *Queue[T, R]) release(id uint64) {
	if err := q.store.Release(context.WithoutCancel(q.ctx), id); err != nil {
		q.o.logger.Error("queue: store failed", "dependency", q.name, "op", "release", "err", err)
	}
}

func (q *Queue[T, R]) work() {
	defer q.wg.Done()
	for q.ctx.Err() == nil {
		it, ok, err := q.store.Lease(q.ctx)
		if err != nil {
			if q.ctx.Err() != nil {
				return
			}
			q.o.logger.Error("queue: store failed", "dependency", q.name, "op", "lease", "err", err)
			if sleep(q.ctx, q.o.clock, time.Second) != nil {
				return
			}
			continue
		}
		if !ok {
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
// false when the queue is closing (the item is released to the store).
func (q *Queue[T, R]) runItem(it Item[T]) bool {
	if !q.pace() {
		q.release(it.ID)
		return false
	}
	for {
		now := q.o.clock.Now()
		if !now.Before(it.Deadline) {
			var zero R
			q.ack(it.ID)
			q.resolve(it.ID, zero, &degrade.Error{Dependency: q.name, Kind: degrade.ErrRetriesExhausted, Err: context.DeadlineExceeded})
			return true
		}
		v, err := degrade.Call(q.ctx, q.policy, func(ctx context.Context) (R, error) { return q.run(ctx, it) })
		if err == nil {
			// Done, even if the queue is closing: acknowledged, never run again.
			q.ack(it.ID)
			q.resolve(it.ID, v, nil)
			return q.ctx.Err() == nil
		}
		if q.ctx.Err() != nil {
			q.release(it.ID)
			return false
		}
		var de *degrade.Error
		if !errors.As(err, &de) ||
			(de.Kind != degrade.ErrCircuitOpen && de.Kind != degrade.ErrRateLimited && de.Kind != degrade.ErrRetriesExhausted) {
			q.ack(it.ID)
			q.resolve(it.ID, v, err)
			return true
		}
		// The dependency is still down: wait as it asked, then try again.
		wait := de.RetryAfter
		if de.Kind == degrade.ErrCircuitOpen {
			if br := q.policy.Breaker(); br != nil {
				if at := br.RetryAt(); !at.IsZero() {
					wait = at.Sub(now)
				}
			}
		}
		if wait <= 0 {
			wait = q.policy.MaxDelay()
		}
		if left := it.Deadline.Sub(now); wait > left {
			wait = left
		}
		if sleep(q.ctx, q.o.clock, wait) != nil {
			q.release(it.ID)
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

// stop stops the workers once and fails the handles still waiting.
func (q *Queue[T, R]) stop() bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()
	q.mu.Lock()
	hs := q.handles
	q.handles = map[uint64]*Handle[R]{}
	q.mu.Unlock()
	err := q.closedErr()
	for _, h := range hs {
		h.err = err
		close(h.done)
	}
	return true
}

// Close stops the workers and leaves the store alone: every item not run
// stays in it, for the next process when the store is durable. Handles
// still waiting fail with an error matching credential.ErrClosed. It is
// idempotent and returns nil.
func (q *Queue[T, R]) Close() error {
	q.stop()
	return nil
}

// Drain stops the queue like [Queue.Close], then takes every item out of
// the store and returns them, oldest first. A second call, or a call after
// Close, drains what the store still holds. The error is the store's, with
// the items taken out before it.
func (q *Queue[T, R]) Drain(ctx context.Context) ([]Item[T], error) {
	q.stop()
	var out []Item[T]
	for {
		it, ok, err := q.store.Lease(ctx)
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		if err := q.store.Ack(ctx, it.ID); err != nil {
			return out, err
		}
		out = append(out, it)
	}
}

func sleep(ctx context.Context, clock credential.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}
