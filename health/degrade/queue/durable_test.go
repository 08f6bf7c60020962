package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/health/degrade/queue"
)

// Regression: Close emptied a durable store on a graceful shutdown (4
// items → 0). It now leaves every item in the store, and the next queue
// over the store runs them.
func TestQueueCloseLeavesTheStoreAlone(t *testing.T) {
	clk := newClock()
	store := queue.NewMemoryStore[int]()
	s := &summariser{}
	q := newQueueStore(t, clk, s, store)
	var hs []*queue.Handle[string]
	for i := 1; i <= 4; i++ {
		h, err := q.Submit(context.Background(), i)
		require.NoError(t, err)
		hs = append(hs, h)
	}
	require.True(t, clk.WaitTimers(context.Background(), 1), "the worker waits on the outage")
	require.NoError(t, q.Close())
	n, err := store.Len(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 4, n, "Close leaves the store alone")
	for _, h := range hs {
		_, err := h.Wait(context.Background())
		assert.Error(t, err, "no caller left waiting")
	}

	s.up.Store(true)
	q2 := newQueueStore(t, clk, s, store)
	defer q2.Close()
	done, driven := make(chan struct{}), make(chan struct{})
	go func() { defer close(driven); drive(clk, done) }()
	require.Eventually(t, func() bool { return qlen(t, q2) == 0 }, 5*time.Second, time.Millisecond)
	close(done)
	<-driven
	assert.Equal(t, []int{1, 2, 3, 4}, s.completed(), "the next process runs them, in order")
}

// spyStore records the calls a queue makes and can hold or fail them.
type spyStore struct {
	*queue.MemoryStore[int]
	mu        sync.Mutex
	calls     []string
	holdPush  chan struct{} // the first Push waits on it
	failLease int           // Leases that fail before one works
	failPush  error
}

func (s *spyStore) log(c string) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func (s *spyStore) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *spyStore) Push(ctx context.Context, it queue.Item[int]) error {
	s.log("push")
	s.mu.Lock()
	hold := s.holdPush
	s.holdPush = nil
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.failPush != nil {
		return s.failPush
	}
	return s.MemoryStore.Push(ctx, it)
}

func (s *spyStore) Lease(ctx context.Context) (queue.Item[int], bool, error) {
	s.mu.Lock()
	fail := s.failLease > 0
	if fail {
		s.failLease--
	}
	s.mu.Unlock()
	if fail {
		s.log("lease failed")
		return queue.Item[int]{}, false, errors.New("database unavailable")
	}
	it, ok, err := s.MemoryStore.Lease(ctx)
	if ok {
		s.log("lease")
	}
	return it, ok, err
}

func (s *spyStore) Ack(ctx context.Context, id uint64) error {
	s.log("ack")
	return s.MemoryStore.Ack(ctx, id)
}

func (s *spyStore) Release(ctx context.Context, id uint64) error {
	s.log("release")
	return s.MemoryStore.Release(ctx, id)
}

// An item leaves the store only after it ran: a crash before then runs it
// again, with the same ID (at least once).
func TestQueueAcknowledgesOnlyAfterRun(t *testing.T) {
	clk := newClock()
	store := &spyStore{MemoryStore: queue.NewMemoryStore[int]()}
	started := make(chan uint64, 2)
	block := make(chan struct{})
	run := func(ctx context.Context, it queue.Item[int]) (string, error) {
		n, _ := store.Len(ctx)
		assert.Equal(t, 1, n, "the item is still in the store while it runs")
		started <- it.ID
		select {
		case <-block:
			return "ok", nil
		case <-ctx.Done(): // the process "crashes" mid-run
			return "", ctx.Err()
		}
	}
	q, err := queue.New(policy(clk), run, queue.Store[int](store), queue.WithClock(clk))
	require.NoError(t, err)
	_, err = q.Submit(context.Background(), 1)
	require.NoError(t, err)
	first := <-started
	require.NoError(t, q.Close())
	assert.Equal(t, []string{"push", "lease", "release"}, store.seen(), "no ack for an item that did not finish")

	q2, err := queue.New(policy(clk), run, queue.Store[int](store), queue.WithClock(clk))
	require.NoError(t, err)
	defer q2.Close()
	assert.Equal(t, first, <-started, "run again with the same ID, for idempotency")
	close(block)
	require.Eventually(t, func() bool { return qlen(t, q2) == 0 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"push", "lease", "release", "lease", "ack"}, store.seen())
}

// The store is called outside the queue's lock: a slow Push delays its own
// Submit only.
func TestQueueSlowStoreDoesNotBlockTheQueue(t *testing.T) {
	clk := newClock()
	hold := make(chan struct{})
	store := &spyStore{MemoryStore: queue.NewMemoryStore[int](), holdPush: hold}
	s := &summariser{}
	s.up.Store(true)
	q := newQueueStore(t, clk, s, store)
	defer q.Close()
	slow := make(chan error)
	go func() { _, err := q.Submit(context.Background(), 1); slow <- err }()
	require.Eventually(t, func() bool { return len(store.seen()) == 1 }, 5*time.Second, time.Millisecond)

	v, err := q.Do(context.Background(), 2)
	require.NoError(t, err, "a second submit and its run go through while the first Push hangs")
	assert.Equal(t, "summary 2", v)
	close(hold)
	require.NoError(t, <-slow)
}

func TestQueueStoreErrors(t *testing.T) {
	clk := newClock()
	errDB := errors.New("database unavailable")
	store := &spyStore{MemoryStore: queue.NewMemoryStore[int](), failPush: errDB}
	s := &summariser{}
	s.up.Store(true)
	q := newQueueStore(t, clk, s, store)
	_, err := q.Submit(context.Background(), 1)
	assert.ErrorIs(t, err, errDB, "a failed Push fails the Submit")
	assert.Zero(t, qlen(t, q))
	require.NoError(t, q.Close())

	// A failed Lease is retried a second later.
	store = &spyStore{MemoryStore: queue.NewMemoryStore[int](), failLease: 1}
	q = newQueueStore(t, clk, s, store)
	defer q.Close()
	var v string
	async(clk, func() { v, err = q.Do(context.Background(), 3) })
	require.NoError(t, err)
	assert.Equal(t, "summary 3", v)
	assert.Contains(t, store.seen(), "lease failed")
}

func TestMemoryStoreLeases(t *testing.T) {
	ctx := context.Background()
	s := queue.NewMemoryStore[string]()
	require.NoError(t, s.Push(ctx, queue.Item[string]{ID: 1, Value: "a"}))
	require.NoError(t, s.Push(ctx, queue.Item[string]{ID: 2, Value: "b"}))
	it, ok, err := s.Lease(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "a", it.Value)
	removed, err := s.Remove(ctx, 1)
	require.NoError(t, err)
	assert.False(t, removed, "a leased item is running: it is not removed")
	it, _, _ = s.Lease(ctx)
	assert.Equal(t, "b", it.Value, "a leased item is not handed out twice")
	_, ok, _ = s.Lease(ctx)
	assert.False(t, ok)
	require.NoError(t, s.Release(ctx, 1))
	it, _, _ = s.Lease(ctx)
	assert.Equal(t, "a", it.Value, "released: available again")
	require.NoError(t, s.Ack(ctx, 1))
	n, _ := s.Len(ctx)
	assert.Equal(t, 1, n)
}
