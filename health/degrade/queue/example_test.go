package queue_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/queue"
)

// A batch job submits its work; the model fails each ticket once (it is
// overloaded), the items wait in the queue and run when it answers. The
// run function gets the item's ID, an idempotency key for the provider.
func ExampleQueue() {
	var mu sync.Mutex
	failed := map[uint64]bool{}
	summarise := func(ctx context.Context, it queue.Item[string]) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if !failed[it.ID] {
			failed[it.ID] = true
			return "", &degrade.StatusError{StatusCode: 529}
		}
		return "summary of " + it.Value, nil
	}
	policy := degrade.NewPolicy("llm", degrade.WithMaxAttempts(1), degrade.WithBackoff(time.Millisecond, time.Millisecond))
	q, err := queue.New(policy, summarise, nil, queue.WithCapacity(10000))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()

	ctx := context.Background()
	var hs []*queue.Handle[string]
	for _, t := range []string{"T-1", "T-2", "T-3"} {
		h, err := q.Submit(ctx, t)
		if err != nil {
			fmt.Println(err)
			return
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		s, err := h.Wait(ctx)
		fmt.Println(s, err)
	}
	// Output:
	// summary of T-1 <nil>
	// summary of T-2 <nil>
	// summary of T-3 <nil>
}

// Close on a graceful shutdown leaves the items that did not run in the
// store, for the next process (with a durable store).
func ExampleQueue_Close() {
	store := queue.NewMemoryStore[string]()
	down := func(context.Context, queue.Item[string]) (string, error) {
		return "", &degrade.StatusError{StatusCode: 503}
	}
	policy := degrade.NewPolicy("llm", degrade.WithMaxAttempts(1), degrade.WithOpenFor(time.Hour, 1))
	q, _ := queue.New(policy, down, queue.Store[string](store))
	for _, t := range []string{"T-1", "T-2", "T-3", "T-4"} {
		_, _ = q.Submit(context.Background(), t)
	}
	_ = q.Close()
	n, _ := store.Len(context.Background())
	fmt.Println(n)
	// Output:
	// 4
}
