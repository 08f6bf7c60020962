package degrade_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/health/degrade/keypool"
)

// callbackHandler is a slog.Handler that calls back into the component that
// logs: with a lock held across the log call, that deadlocks.
type callbackHandler struct {
	f    func()
	seen *int
}

func (h callbackHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h callbackHandler) Handle(context.Context, slog.Record) error {
	*h.seen++
	h.f()
	return nil
}
func (h callbackHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h callbackHandler) WithGroup(string) slog.Handler      { return h }

// No lock is held across a call into the logger (DESIGN: trust rules).
func TestNoLockHeldAcrossLogging(t *testing.T) {
	var p *degrade.Policy
	n := 0
	log := slog.New(callbackHandler{f: func() { _ = p.Breaker().State(); _ = p.Status() }, seen: &n})
	p = degrade.NewPolicy("openai", degrade.WithLogger(log), degrade.WithMaxAttempts(1), degrade.WithBreaker(0.5, 2, time.Minute))
	for i := 0; i < 3; i++ {
		_ = p.Do(context.Background(), func(context.Context) error { return &degrade.StatusError{StatusCode: 503} })
	}
	assert.Equal(t, degrade.Open, p.Breaker().State())
	assert.Positive(t, n)

	var pool *keypool.Pool
	m := 0
	plog := slog.New(callbackHandler{f: func() { _ = pool.Keys() }, seen: &m})
	var err error
	pool, err = keypool.New("openai", statics(keyOld, keyNew), keypool.WithLogger(plog))
	require.NoError(t, err)
	fs := newFaultServer(t, step{ByKey: map[string]int{keyOld: 401}})
	c := &http.Client{Transport: keypool.NewTransport(nil, pool, nil)}
	_, err = get(t, c, fs.URL)
	require.NoError(t, err)
	assert.Equal(t, keypool.Quarantined, pool.Keys()[0].Status)
	assert.Positive(t, m)
}
