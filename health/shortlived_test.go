package health_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/rotate"
)

// tokenEndpoint mints a new token of the given life at every Fetch, as a
// token endpoint does; it can be made to fail, or to hold fetches until
// released.
type tokenEndpoint struct {
	clock credential.Clock
	life  time.Duration

	mu      sync.Mutex
	n       int
	err     error
	gate    chan struct{}
	entered chan struct{}
}

func (e *tokenEndpoint) Fetch(ctx context.Context, _ string) (credential.Version, error) {
	e.mu.Lock()
	gate, entered := e.gate, e.entered
	e.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return credential.Version{}, ctx.Err()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return credential.Version{}, e.err
	}
	e.n++
	now := e.clock.Now()
	s := credential.NewSecret("eyJhbGciOiJSUzI1NiJ9.FAKEtoken" + strconv.Itoa(e.n) + ".FAKEsig")
	return credential.Version{Secret: s, ID: strconv.Itoa(e.n), Created: now, Expires: now.Add(e.life)}, nil
}

func (e *tokenEndpoint) fail(err error) {
	e.mu.Lock()
	e.err = err
	e.mu.Unlock()
}

// hold makes the next fetches wait; each announces itself on the returned
// channel. release lets them through.
func (e *tokenEndpoint) hold() (entered <-chan struct{}, release func()) {
	gate, in := make(chan struct{}), make(chan struct{}, 4)
	e.mu.Lock()
	e.gate, e.entered = gate, in
	e.mu.Unlock()
	return in, func() {
		e.mu.Lock()
		e.gate, e.entered = nil, nil
		e.mu.Unlock()
		close(gate)
	}
}

// asleep waits for a credential just watched to arm its first timer: a
// tick before it would be lost to a timer armed with a duration computed
// before the clock moved (its deadline then a second late).
func asleep(t *testing.T, clk *fakeclock.Clock) {
	t.Helper()
	require.True(t, clk.WaitTimers(ctxT(t), 1), "the credential never went to sleep")
}

// tick moves the fake clock by one second and waits for the credential to
// go back to sleep.
func tick(t *testing.T, clk *fakeclock.Clock, timers int) {
	t.Helper()
	clk.Advance(time.Second)
	require.True(t, clk.WaitTimers(ctxT(t), timers), "the credential never went back to sleep")
}

// Issue 17 (health): a token living 60 s, watched on the fake clock with
// rotate's defaults (refreshed at 48 s), passes its check through 10
// minutes of normal refresh cycles — the 14-day ExpiryWindow of keys used
// to make it warn all the time; warns as soon as its refresh fails while
// the last token is still good; fails once that token has expired with
// the refresh still failing; passes again once the endpoint is back.
func TestTokenHealthThroughRefreshCycles(t *testing.T) {
	clk := fakeclock.New(epoch)
	ep := &tokenEndpoint{clock: clk, life: time.Minute}
	c, err := rotate.Watch(context.Background(), "openai", ep, "", rotate.WithClock(clk))
	require.NoError(t, err)
	defer c.Close()
	chk := health.CredentialCheck(c, health.CredentialOptions{Clock: clk})
	asleep(t, clk)

	for i := 1; i <= 600; i++ {
		tick(t, clk, 1)
		r := chk.Run(context.Background())
		require.Equal(t, health.Pass, r.Status, "at +%ds: %s", i, r.Output)
	}
	ep.mu.Lock()
	minted := ep.n
	ep.mu.Unlock()
	assert.InDelta(t, 13, minted, 1, "12-13 refreshes in 10 minutes, plus the first token")

	// The token endpoint goes down: the check warns from the first failed
	// refresh, while the last token is served, and fails once it expired.
	ep.fail(&credential.Error{Op: "token", Kind: credential.ErrUnavailable, Reason: "token endpoint 503"})
	var warnedAt, failedAt time.Duration
	for i := 1; i <= 120 && failedAt == 0; i++ {
		tick(t, clk, 1)
		r := chk.Run(context.Background())
		switch r.Status {
		case health.Warn:
			if warnedAt == 0 {
				warnedAt = time.Duration(i) * time.Second
				assert.Contains(t, r.Output, "refresh failing")
				assert.Contains(t, r.Output, "unavailable")
			}
			_, err := c.Get(context.Background())
			require.NoError(t, err, "a warning while the last token is still good")
		case health.Fail:
			failedAt = time.Duration(i) * time.Second
			assert.Contains(t, r.Output, "expired at")
			_, err := c.Get(context.Background())
			require.ErrorIs(t, err, credential.ErrExpired)
		}
		assert.NotContains(t, r.Output, "FAKEtoken")
	}
	require.NotZero(t, warnedAt, "no warning while the refresh was failing")
	require.NotZero(t, failedAt, "no failure once the token expired")
	assert.Less(t, warnedAt, failedAt)
	assert.LessOrEqual(t, failedAt, time.Minute, "fails once the last token has expired")
	t.Logf("endpoint down: warn after %v, fail after %v", warnedAt, failedAt)

	// The endpoint returns: the check passes again.
	ep.fail(nil)
	for i := 1; i <= 120; i++ {
		tick(t, clk, 1)
		if chk.Run(context.Background()).Status == health.Pass {
			return
		}
	}
	t.Fatal("the check never passed again after the endpoint came back")
}

// Issue 17 (health): a token whose refresh hangs (the endpoint accepts
// the request and does not answer) is not stale — no refresh has failed —
// but once its refresh point has passed and less than 20% of its life is
// left, the check warns that no new token has arrived, and fails once the
// token has expired. A token close to
// its expiry whose refresh point is still ahead (a late refresh-ahead
// setting) passes.
func TestTokenHealthRefreshHanging(t *testing.T) {
	clk := fakeclock.New(epoch)
	ep := &tokenEndpoint{clock: clk, life: time.Minute}
	c, err := rotate.Watch(context.Background(), "openai", ep, "", rotate.WithClock(clk))
	require.NoError(t, err)
	defer c.Close()
	chk := health.CredentialCheck(c, health.CredentialOptions{Clock: clk})
	asleep(t, clk)

	entered, release := ep.hold()
	for i := 1; i < 48; i++ {
		tick(t, clk, 1)
	}
	clk.Advance(time.Second) // 48 s: the refresh point
	select {
	case <-entered:
	case <-ctxT(t).Done():
		t.Fatal("the refresh never reached the endpoint at its refresh point")
	}
	r := chk.Run(context.Background())
	assert.Equal(t, health.Pass, r.Status, "at the refresh point, 20%% of the life is left: %s", r.Output)
	clk.Advance(2 * time.Second)
	r = chk.Run(context.Background())
	assert.Equal(t, health.Pass, r.Status, "2 s into the refresh, within its grace (3 s for a 60 s token): %s", r.Output)
	clk.Advance(time.Second)
	r = chk.Run(context.Background())
	assert.Equal(t, health.Warn, r.Status, r.Output)
	assert.Contains(t, r.Output, "no new token has arrived")
	clk.Advance(10 * time.Second) // 61 s: expired, the refresh still hanging
	r = chk.Run(context.Background())
	assert.Equal(t, health.Fail, r.Status, r.Output)
	assert.Contains(t, r.Output, "no new version has arrived")
	release()
	require.True(t, clk.WaitTimers(ctxT(t), 1))
	r = chk.Run(context.Background())
	assert.Equal(t, health.Pass, r.Status, r.Output)

	// Refreshed 5 s before expiry by choice: 5 s left is no warning while
	// the refresh point is ahead.
	late, err := rotate.Watch(context.Background(), "late", ep, "", rotate.WithClock(clk), rotate.WithRefreshAhead(1, 5*time.Second))
	require.NoError(t, err)
	defer late.Close()
	lateChk := health.CredentialCheck(late, health.CredentialOptions{Clock: clk})
	require.True(t, clk.WaitTimers(ctxT(t), 2), "the second credential never went to sleep")
	for i := 1; i <= 180; i++ {
		tick(t, clk, 2)
		r := lateChk.Run(context.Background())
		require.Equal(t, health.Pass, r.Status, "at +%ds: %s", i, r.Output)
	}
}

// Issue 17 (health): in a Set, a token's check passes through its
// refresh cycles (no rotation due from its expiry, no expiry warning); so
// does a 10-day lease its backend marks short-lived, though it expires
// within the 14-day ExpiryWindow; a key expiring within ExpiryWindow still
// warns.
func TestSetChecksShortLived(t *testing.T) {
	clk := fakeclock.New(epoch)
	ep := &tokenEndpoint{clock: clk, life: time.Minute}
	key := &backend{v: credential.Version{Secret: credential.NewSecret(fakeKey), ID: "v1", Created: epoch.Add(-300 * 24 * time.Hour), Expires: epoch.Add(7 * 24 * time.Hour)}}
	lease := markedShortLived{&backend{v: credential.Version{Secret: credential.NewSecret(fakeKey + "lease"), ID: "l1", Created: epoch, Expires: epoch.Add(10 * 24 * time.Hour)}}}
	set, err := rotate.Open(context.Background(), setResolver{token: ep, key: key, lease: lease}, []rotate.Config{
		{Name: "token", URL: "token://"}, {Name: "key", URL: "key://"}, {Name: "lease", URL: "lease://"},
	}, rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	defer set.Close()
	checks := health.SetChecks(set, health.CredentialOptions{Clock: clk})
	for i := 1; i <= 180; i++ {
		tick(t, clk, 4)
		for _, ch := range checks {
			r := ch.Run(context.Background())
			if ch.Component != "key" {
				require.Equal(t, health.Pass, r.Status, "at +%ds: %s", i, r.Output)
			} else {
				require.Equal(t, health.Warn, r.Status, "a key expiring in 7 days warns")
				require.True(t, strings.Contains(r.Output, "expires at"), r.Output)
			}
		}
	}
}

// markedShortLived is a backend whose Describe marks its credential
// short-lived, as a Vault lease's would.
type markedShortLived struct{ *backend }

func (markedShortLived) Describe(context.Context, string) (credential.Description, error) {
	return credential.Description{Metadata: credential.Metadata{ShortLived: true}}, nil
}

type setResolver struct {
	token *tokenEndpoint
	key   *backend
	lease markedShortLived
}

func (r setResolver) Resolve(_ context.Context, raw string) (credential.Provider, string, error) {
	switch raw {
	case "token://":
		return r.token, "", nil
	case "lease://":
		return r.lease, "", nil
	}
	return r.key, "", nil
}

// BenchmarkTokenCheck measures one run of a short-lived token's credential
// check: alone (CredentialCheck, from the status) and in a Set (SetChecks,
// from its inventory row), next to a static key's.
func BenchmarkTokenCheck(b *testing.B) {
	clk := fakeclock.New(epoch)
	ep := &tokenEndpoint{clock: clk, life: time.Hour}
	key := &backend{v: credential.Version{Secret: credential.NewSecret(fakeKey), ID: "v1", Created: epoch}}
	set, err := rotate.Open(context.Background(), setResolver{token: ep, key: key}, []rotate.Config{
		{Name: "token", URL: "token://"}, {Name: "key", URL: "key://"},
	}, rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0))
	if err != nil {
		b.Fatal(err)
	}
	defer set.Close()
	tok, err := set.Credential("token")
	if err != nil {
		b.Fatal(err)
	}
	run := func(name string, chk health.Check) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if r := chk.Run(context.Background()); r.Status != health.Pass {
					b.Fatal(r.Output)
				}
			}
		})
	}
	run("CredentialCheck/token", health.CredentialCheck(tok, health.CredentialOptions{Clock: clk}))
	for _, ch := range health.SetChecks(set, health.CredentialOptions{Clock: clk}) {
		run("SetChecks/"+ch.Component, ch)
	}
}
