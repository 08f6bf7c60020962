package queue_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/internal/degradetest"
	"github.com/credkit/credkit/health/degrade/queue"
	"github.com/credkit/credkit/internal/fakeclock"
)

// summariser is a dependency that is down until up is set, and records
// every request it completed.
type summariser struct {
	up   atomic.Bool
	mu   sync.Mutex
	done []int
}

func (s *summariser) run(ctx context.Context, it queue.Item[int]) (string, error) {
	ticket := it.Value
	if !s.up.Load() {
		return "", &degrade.StatusError{StatusCode: 503}
	}
	s.mu.Lock()
	s.done = append(s.done, ticket)
	s.mu.Unlock()
	return "summary " + string(rune('0'+ticket)), nil
}

func (s *summariser) completed() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.done...)
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	newClock = degradetest.NewClock
	async    = degradetest.Async
	drive    = degradetest.Drive
)

func policy(clk *fakeclock.Clock) *degrade.Policy {
	return degrade.NewPolicy("llm", degrade.WithClock(clk), degrade.WithMaxAttempts(2),
		degrade.WithBackoff(time.Second, time.Second), degrade.WithRand(func() float64 { return 0.5 }),
		degrade.WithBreaker(0.5, 4, time.Minute), degrade.WithOpenFor(30*time.Second, 1))
}

func newQueueStore(t *testing.T, clk *fakeclock.Clock, s *summariser, store queue.Store[int], opts ...queue.Option) *queue.Queue[int, string] {
	t.Helper()
	q, err := queue.New(policy(clk), s.run, store, append([]queue.Option{queue.WithClock(clk)}, opts...)...)
	require.NoError(t, err)
	return q
}

func newQueue(t *testing.T, clk *fakeclock.Clock, s *summariser, opts ...queue.Option) *queue.Queue[int, string] {
	t.Helper()
	return newQueueStore(t, clk, s, nil, opts...)
}

func qlen[T, R any](t *testing.T, q *queue.Queue[T, R]) int {
	t.Helper()
	n, err := q.Len(context.Background())
	require.NoError(t, err)
	return n
}

func TestQueueDrainsAfterRecoveryNoLossNoDuplicate(t *testing.T) {
	clk := newClock()
	s := &summariser{}
	q := newQueue(t, clk, s, queue.WithRate(10))
	defer q.Close()

	var hs []*queue.Handle[string]
	for i := 1; i <= 8; i++ {
		h, err := q.Submit(context.Background(), i)
		require.NoError(t, err)
		hs = append(hs, h)
	}
	// Let the worker meet the outage and open the breaker.
	for i := 0; i < 20 && len(s.completed()) == 0; i++ {
		require.True(t, clk.WaitTimers(context.Background(), 1))
		clk.AdvanceToNext()
	}
	assert.Empty(t, s.completed())
	assert.Equal(t, 8, qlen(t, q), "nothing lost while down")

	s.up.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, h := range hs {
			<-h.Done()
		}
	}()
	drive(clk, done)
	for i, h := range hs {
		v, err := h.Wait(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "summary "+string(rune('1'+i)), v)
	}
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, s.completed(), "FIFO, each once")
	assert.Zero(t, qlen(t, q))
}

func TestQueueRateLimitsTheDrain(t *testing.T) {
	clk := newClock()
	s := &summariser{}
	s.up.Store(true)
	q := newQueue(t, clk, s, queue.WithRate(2))
	defer q.Close()
	var hs []*queue.Handle[string]
	for i := 1; i <= 5; i++ {
		h, err := q.Submit(context.Background(), i)
		require.NoError(t, err)
		hs = append(hs, h)
	}
	elapsed := async(clk, func() {
		for _, h := range hs {
			<-h.Done()
		}
	})
	assert.Equal(t, 2*time.Second, elapsed, "5 items at 2 per second")
}

func TestQueueFullShedsAtOnce(t *testing.T) {
	clk := newClock()
	s := &summariser{}
	q := newQueue(t, clk, s, queue.WithCapacity(2))
	defer q.Close()
	_, err := q.Submit(context.Background(), 1)
	require.NoError(t, err)
	_, err = q.Submit(context.Background(), 2)
	require.NoError(t, err)
	_, err = q.Submit(context.Background(), 3)
	assert.ErrorIs(t, err, queue.ErrFull)
	assert.ErrorIs(t, err, credential.ErrUnavailable)
	_, err = q.Do(context.Background(), 3)
	assert.ErrorIs(t, err, queue.ErrFull)
}

func TestQueueItemDeadline(t *testing.T) {
	clk := newClock()
	s := &summariser{}
	q := newQueue(t, clk, s, queue.WithMaxWait(10*time.Second))
	defer q.Close()
	h, err := q.Submit(context.Background(), 1)
	require.NoError(t, err)
	var got error
	async(clk, func() { _, got = h.Wait(context.Background()) })
	assert.ErrorIs(t, got, context.DeadlineExceeded)
	assert.ErrorIs(t, got, degrade.ErrRetriesExhausted)
	assert.LessOrEqual(t, clk.Now().Sub(time.Now()), time.Minute)
}

func TestQueueWaitModeWithdrawsOnCancel(t *testing.T) {
	clk := newClock()
	s := &summariser{}
	q := newQueue(t, clk, s, queue.WithWorkers(1))
	defer q.Close()
	// The first item holds the worker while the dependency is down.
	_, err := q.Submit(context.Background(), 1)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { _, err := q.Do(ctx, 2); errc <- err }()
	require.Eventually(t, func() bool { return qlen(t, q) == 2 }, time.Second, time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	assert.Equal(t, 1, qlen(t, q), "the canceled caller's item left the queue")
}

func TestQueueDrainHandsBackPending(t *testing.T) {
	clk := newClock()
	s := &summariser{}
	q := newQueue(t, clk, s)
	var hs []*queue.Handle[string]
	for i := 1; i <= 3; i++ {
		h, err := q.Submit(context.Background(), i)
		require.NoError(t, err)
		hs = append(hs, h)
	}
	require.True(t, clk.WaitTimers(context.Background(), 1), "the worker waits on the outage")
	items, err := q.Drain(context.Background())
	require.NoError(t, err)
	require.Len(t, items, 3, "every item handed back")
	for i, it := range items {
		assert.Equal(t, i+1, it.Value)
	}
	for _, h := range hs {
		_, err := h.Wait(context.Background())
		assert.ErrorIs(t, err, credential.ErrClosed, "no caller left waiting")
	}
	items, err = q.Drain(context.Background())
	assert.NoError(t, err)
	assert.Empty(t, items, "nothing left")
	assert.NoError(t, q.Close())
	_, err = q.Submit(context.Background(), 4)
	assert.ErrorIs(t, err, credential.ErrClosed)
	assert.Empty(t, s.completed())
}

func TestQueueDoesNotRetryPermanentFailures(t *testing.T) {
	clk := newClock()
	calls := 0
	p := degrade.NewPolicy("llm", degrade.WithClock(clk))
	q, err := queue.New(p, func(ctx context.Context, it queue.Item[int]) (int, error) {
		calls++
		return 0, &degrade.StatusError{StatusCode: 400}
	}, queue.NewMemoryStore[int](), queue.WithClock(clk))
	require.NoError(t, err)
	defer q.Close()
	_, err = q.Do(context.Background(), 1)
	assert.True(t, errors.Is(err, degrade.ErrPermanent))
	assert.Equal(t, 1, calls)
}

func TestQueueRunsItemsRecoveredFromADurableStore(t *testing.T) {
	clk := newClock()
	store := queue.NewMemoryStore[int]()
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		require.NoError(t, store.Push(ctx, queue.Item[int]{ID: uint64(i), Value: i, Deadline: clk.Now().Add(time.Hour)}))
	}
	s := &summariser{}
	s.up.Store(true)
	q := newQueueStore(t, clk, s, store)
	defer q.Close()
	h, err := q.Submit(ctx, 4)
	require.NoError(t, err)
	_, err = h.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3, 4}, s.completed(), "recovered items first, in order")
}
