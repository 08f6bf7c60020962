package degrade_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/health/degrade"
)

// Successes are counted once, by the breaker's buckets on the hot path:
// Counts must stay exact across bucket rotations, the window sliding past
// them and the reset when a half-open breaker closes.
func TestCountsExactAcrossBreakerBuckets(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	p := degrade.NewPolicy("llm", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithMaxAttempts(1),
		degrade.WithBreaker(0.5, 4, time.Minute), degrade.WithOpenFor(10*time.Second, 1))
	ok := func(context.Context) error { return nil }
	fail := func(context.Context) error { return &degrade.StatusError{StatusCode: 503} }
	succeed := func(n int) {
		for range n {
			require.NoError(t, p.Do(ctx, ok))
		}
	}
	succeed(5)
	clk.Advance(7 * time.Second) // the next bucket
	succeed(3)
	clk.Advance(2 * time.Minute) // the window has slid past both
	succeed(2)
	assert.Error(t, p.Do(ctx, fail))
	assert.Error(t, p.Do(ctx, fail))
	assert.Equal(t, degrade.Open, p.Breaker().State(), "2 failures of 4 calls in the window")
	clk.Advance(10 * time.Second)
	succeed(1) // the probe closes the breaker and resets its buckets
	assert.Equal(t, degrade.Closed, p.Breaker().State())
	succeed(1)
	assert.Equal(t, map[degrade.Class]int64{degrade.Success: 12, degrade.Retryable: 2}, p.Counts())
}

// Concurrent successes on the system clock, with buckets of a millisecond
// so that they rotate under the callers, are all counted.
func TestCountsExactUnderConcurrentRotation(t *testing.T) {
	p := degrade.NewPolicy("llm", degrade.WithLogger(quiet), degrade.WithBreaker(0.5, 10, 10*time.Millisecond))
	const workers, calls = 4, 2000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				_ = p.Do(context.Background(), func(context.Context) error { return nil })
			}
		})
	}
	wg.Wait()
	assert.Equal(t, map[degrade.Class]int64{degrade.Success: workers * calls}, p.Counts())
}
