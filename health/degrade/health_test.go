package degrade_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/keypool"
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

	cs := p.Checks(degrade.Critical)
	require.Len(t, cs, 2)
	assert.Equal(t, "openai:circuit", cs[0].Name)
	assert.Equal(t, "openai:traffic", cs[1].Name)
	assert.True(t, cs[1].Critical)
}

// An overloaded shared provider opens every replica's breaker at once: with
// Shared (the default readiness of a model API) the open breaker warns and
// /readyz stays 200; with Critical it fails and /readyz answers 503.
func TestSharedBreakerDoesNotFailReadiness(t *testing.T) {
	for _, tt := range []struct {
		r      degrade.Readiness
		status health.Status
		ready  int
	}{{degrade.Shared, health.Warn, 200}, {degrade.Critical, health.Fail, 503}} {
		clk := newClock()
		p := degrade.NewPolicy("openai", degrade.WithClock(clk), degrade.WithMaxAttempts(1),
			degrade.WithBreaker(0.5, 2, time.Minute), degrade.WithOpenFor(time.Hour, 1))
		for i := 0; i < 2; i++ {
			_ = p.Do(context.Background(), func(context.Context) error { return &degrade.StatusError{StatusCode: 529} })
		}
		require.Equal(t, degrade.Open, p.Breaker().State())
		cs := p.Checks(tt.r)
		for _, c := range cs {
			assert.Equal(t, tt.r == degrade.Critical, c.Critical)
			r := c.Run(context.Background())
			assert.Equal(t, tt.status, r.Status, c.Name)
			assert.Equal(t, "circuit open", r.Output)
		}
		m := health.NewMonitor(cs, health.WithClock(clk))
		h := health.NewHandler(m)
		require.Eventually(t, func() bool {
			r, ok := m.Result("openai:circuit")
			return ok && r.Status == tt.status
		}, 5*time.Second, time.Millisecond)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		assert.Equal(t, tt.ready, rec.Code, "readiness with %v", tt.r)
		m.Close()
	}
}

func TestPoolHealthResults(t *testing.T) {
	fs := newFaultServer(t, step{ByKey: map[string]int{keyOld: 401}})
	clk := newClock()
	pool, err := keypool.New("openai", statics(keyOld, keyNew), keypool.WithClock(clk))
	require.NoError(t, err)
	c := &http.Client{Transport: degrade.NewRoundTripper(keypool.NewTransport(nil, pool, nil),
		degrade.NewPolicy("openai", degrade.WithClock(clk), degrade.WithoutBreaker()))}
	assert.Equal(t, health.Pass, pool.HealthResult().Status)
	_, err = get(t, c, fs.URL)
	require.NoError(t, err)

	r := pool.HealthResult()
	assert.Equal(t, health.Warn, r.Status)
	assert.Equal(t, "1 of 2 keys quarantined", r.Output)
	assert.Equal(t, 1, r.ObservedValue)

	cs := pool.Checks(degrade.Critical)
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
