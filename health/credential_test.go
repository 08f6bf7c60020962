package health_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/rotate"
)

// backend is a provider whose value, expiry and failure the test sets.
type backend struct {
	mu  sync.Mutex
	v   credential.Version
	err error
}

func (b *backend) Fetch(ctx context.Context, ref string) (credential.Version, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return credential.Version{}, b.err
	}
	return b.v, nil
}

func (b *backend) set(v credential.Version, err error) {
	b.mu.Lock()
	b.v, b.err = v, err
	b.mu.Unlock()
}

type resolver struct{ m map[string]*backend }

func (r resolver) Resolve(_ context.Context, raw string) (credential.Provider, string, error) {
	return r.m[strings.TrimPrefix(raw, "fake://")], "", nil
}

func TestCredentialCheck(t *testing.T) {
	clk := fakeclock.New(epoch)
	b := &backend{v: credential.Version{Secret: credential.NewSecret(fakeKey), ID: "v1", Created: epoch}}
	c, err := rotate.Watch(context.Background(), "openai", b, "", rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0), rotate.WithBackoff(time.Minute, time.Minute))
	require.NoError(t, err)
	defer c.Close()
	chk := health.CredentialCheck(c, health.CredentialOptions{Clock: clk, FailAfter: 10 * time.Minute})
	assert.Equal(t, "openai", chk.Component)
	assert.True(t, chk.Critical)

	r := chk.Run(context.Background())
	assert.Equal(t, health.Pass, r.Status)

	// The backend fails: warn at once, fail once it has failed for 10 min.
	b.set(credential.Version{}, &credential.Error{Kind: credential.ErrUnavailable, Reason: "echo " + fakeKey})
	advance := func(d time.Duration) {
		end := clk.Now().Add(d)
		for clk.Now().Before(end) {
			require.True(t, clk.WaitTimers(ctxT(t), 1))
			before := c.Status().LastAttempt
			clk.AdvanceToNext()
			eventually(t, "a check ran", func() bool { return c.Status().LastAttempt.After(before) })
		}
	}
	advance(time.Minute)
	r = chk.Run(context.Background())
	assert.Equal(t, health.Warn, r.Status)
	assert.Contains(t, r.Output, "unavailable")
	assert.False(t, strings.Contains(r.Output, "FAKEhealth"), "outputs never quote an error's text")
	advance(10 * time.Minute)
	r = chk.Run(context.Background())
	assert.Equal(t, health.Fail, r.Status, "failing longer than FailAfter fails")

	// Recovery, then an expiry close ahead.
	b.set(credential.Version{Secret: credential.NewSecret(fakeKey + "2"), ID: "v2", Created: clk.Now(), Expires: clk.Now().Add(7 * 24 * time.Hour)}, nil)
	advance(time.Minute)
	r = chk.Run(context.Background())
	assert.Equal(t, health.Warn, r.Status)
	assert.Contains(t, r.Output, "expires at")

	c.Revoke("INC-7")
	r = chk.Run(context.Background())
	assert.Equal(t, health.Fail, r.Status)
	assert.Equal(t, "revoked: INC-7", r.Output)
}

func TestSetChecksWarnOnSharedAndDue(t *testing.T) {
	clk := fakeclock.New(epoch)
	same := credential.Version{Secret: credential.NewSecret(fakeKey), ID: "v1", Created: epoch.Add(-85 * 24 * time.Hour)}
	set, err := rotate.Open(context.Background(), resolver{map[string]*backend{"a": {v: same}, "b": {v: same}}}, []rotate.Config{
		{Name: "chat", URL: "fake://a", Metadata: credential.Metadata{RotationPeriod: 90 * 24 * time.Hour}},
		{Name: "batch", URL: "fake://b"},
	}, rotate.WithClock(clk))
	require.NoError(t, err)
	defer set.Close()
	checks := health.SetChecks(set, health.CredentialOptions{Clock: clk})
	require.Len(t, checks, 2)
	byName := map[string]health.Result{}
	for _, c := range checks {
		byName[c.Component] = c.Run(context.Background())
	}
	assert.Equal(t, health.Warn, byName["chat"].Status)
	assert.Contains(t, byName["chat"].Output, "rotation due")
	assert.Contains(t, byName["chat"].Output, "shares its value with batch")
	assert.Equal(t, health.Warn, byName["batch"].Status)
	assert.Equal(t, "shares its value with chat", byName["batch"].Output)
}

// Issue 11, item 15: a credential check of a Set reads its own inventory
// row, not the whole inventory, so one run costs the same in a set of 10
// as in a set of 1,000 (the checks of a set are linear, not quadratic).
func TestSetChecksCostDoesNotGrowWithTheSet(t *testing.T) {
	allocs := func(n int) float64 {
		m := map[string]*backend{}
		cfgs := make([]rotate.Config, n)
		for i := range cfgs {
			name := fmt.Sprintf("svc%04d", i)
			m[name] = &backend{v: credential.Version{Secret: credential.NewSecret(fmt.Sprintf("sk-proj-FAKE%036d", i)), ID: "v1", Created: epoch}}
			cfgs[i] = rotate.Config{Name: name, URL: "fake://" + name}
		}
		set, err := rotate.Open(context.Background(), resolver{m}, cfgs, rotate.WithInterval(time.Hour, 0))
		require.NoError(t, err)
		defer set.Close()
		check := health.SetChecks(set, health.CredentialOptions{})[0]
		require.Equal(t, health.Pass, check.Run(context.Background()).Status)
		return testing.AllocsPerRun(20, func() { check.Run(context.Background()) })
	}
	small, large := allocs(10), allocs(1000)
	t.Logf("allocations per check run: %.0f in a set of 10, %.0f in a set of 1,000", small, large)
	assert.LessOrEqual(t, large, small+1, "a check's cost grows with the size of its set")
}

// pushBackend pushes (a Notifier) and reports its push health.
type pushBackend struct {
	*backend
	healthy atomic.Bool
}

func (p *pushBackend) NotifyChange(string, func()) (func(), error) { return func() {}, nil }
func (p *pushBackend) PushHealthy() bool                           { return p.healthy.Load() }

// TestCredentialCheckShowsMode: the check's output says whether the
// credential is kept current by push with a safety poll or by polling.
func TestCredentialCheckShowsMode(t *testing.T) {
	clk := fakeclock.New(epoch)
	b := &pushBackend{backend: &backend{v: credential.Version{Secret: credential.NewSecret(fakeKey), ID: "v1", Created: epoch}}}
	b.healthy.Store(true)
	c, err := rotate.Watch(context.Background(), "openai", b, "", rotate.WithClock(clk))
	require.NoError(t, err)
	defer c.Close()
	chk := health.CredentialCheck(c, health.CredentialOptions{Clock: clk})
	r := chk.Run(context.Background())
	assert.Equal(t, health.Pass, r.Status)
	assert.Equal(t, "fresh, version v1; push, safety poll every 15m0s", r.Output)
	b.healthy.Store(false)
	r = chk.Run(context.Background())
	assert.Equal(t, "fresh, version v1; polling every 1m0s", r.Output)
}
