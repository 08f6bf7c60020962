package degrade_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/health/degrade"
)

func TestBreakerAndPolicyHealthResults(t *testing.T) {
	clk := newClock()
	p := degrade.NewPolicy("openai", degrade.WithClock(clk), degrade.WithLogger(quiet), degrade.WithMaxAttempts(1),
		degrade.WithBreaker(0.5, 2, time.Minute), degrade.WithOpenFor(10*time.Second, 1))
	ctx := context.Background()
	assert.Equal(t, health.Pass, p.HealthResult().Status)
	assert.Equal(t, health.Pass, p.Breaker().HealthResult().Status)

	for i := 0; i < 2; i++ {
		_ = p.Do(ctx, func(context.Context) error { return &degrade.StatusError{StatusCode: 503} })
	}
	assert.Equal(t, health.Fail, p.Breaker().HealthResult().Status)
	assert.Equal(t, "circuit open", p.HealthResult().Output)
	clk.Advance(10 * time.Second)
	assert.Equal(t, health.Warn, p.Breaker().HealthResult().Status)
	require.NoError(t, p.Do(ctx, func(context.Context) error { return nil }))
	assert.Equal(t, health.Pass, p.HealthResult().Status)

	_ = p.Do(ctx, func(context.Context) error { return &degrade.StatusError{StatusCode: 401} })
	r := p.HealthResult()
	assert.Equal(t, health.Fail, r.Status)
	assert.Equal(t, "credential rejected", r.Output)

	cs := p.Checks(true)
	require.Len(t, cs, 2)
	assert.Equal(t, "openai:circuit", cs[0].Name)
	assert.Equal(t, "openai:traffic", cs[1].Name)
	assert.True(t, cs[1].Critical)
}

func TestPoolHealthResults(t *testing.T) {
	fs := newFaultServer(t, step{byKey: map[string]int{keyOld: 401}})
	clk := newClock()
	pool := poolOf(t, clk, statics(keyOld, keyNew))
	c, _ := client(clk, nil, degrade.WithPool(pool, nil))
	assert.Equal(t, health.Pass, pool.HealthResult().Status)
	_, err := get(t, c, fs.URL)
	require.NoError(t, err)

	r := pool.HealthResult()
	assert.Equal(t, health.Warn, r.Status)
	assert.Equal(t, "1 of 2 keys quarantined", r.Output)
	assert.Equal(t, 1, r.ObservedValue)

	cs := pool.Checks(true)
	require.Len(t, cs, 3)
	assert.Equal(t, "openai:keys", cs[0].Name)
	assert.Equal(t, "keya:credential", cs[1].Name)
	assert.False(t, cs[1].Critical, "one key of several does not fail readiness")
	kr := cs[1].Run(context.Background())
	assert.Equal(t, health.Fail, kr.Status)
	assert.Equal(t, "credential rejected", kr.Output)
	assert.Equal(t, health.Pass, cs[2].Run(context.Background()).Status)

	// Wired into the monitor: readiness follows live traffic.
	m := health.NewMonitor(cs, health.WithClock(clk), health.WithLogger(quiet))
	defer m.Close()
	require.Eventually(t, func() bool {
		r, ok := m.Result("keya:credential")
		return ok && r.Status == health.Fail
	}, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return m.Ready() }, 5*time.Second, 5*time.Millisecond)
}
