package rotate_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/rotate"
)

// pushing is a backend with a cheap check, a batch check, push and a
// push channel whose health the test sets. It records when each ref was
// checked, by the fake clock.
type pushing struct {
	*fakeBackend
	clock   credential.Clock
	healthy atomic.Bool

	mu      sync.Mutex
	checkAt []time.Time // per-ref checks and batch checks
	subs    map[string]func()
}

var (
	_ credential.Notifier   = (*pushing)(nil)
	_ credential.PushHealth = (*pushing)(nil)
)

func newPushing(clk credential.Clock) *pushing {
	return &pushing{fakeBackend: newBackend(), clock: clk, subs: map[string]func(){}}
}

func (p *pushing) PushHealthy() bool { return p.healthy.Load() }

func (p *pushing) NotifyChange(ref string, changed func()) (func(), error) {
	p.mu.Lock()
	p.subs[ref] = changed
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.subs, ref)
		p.mu.Unlock()
	}, nil
}

// push calls ref's change callback, as an event would.
func (p *pushing) push(ref string) {
	p.mu.Lock()
	f := p.subs[ref]
	p.mu.Unlock()
	if f != nil {
		f()
	}
}

func (p *pushing) record() {
	p.mu.Lock()
	p.checkAt = append(p.checkAt, p.clock.Now())
	p.mu.Unlock()
}

// checksIn counts the checks recorded in (from, to].
func (p *pushing) checksIn(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, at := range p.checkAt {
		if at.After(from) && !at.After(to) {
			n++
		}
	}
	return n
}

func (p *pushing) CurrentVersion(ctx context.Context, ref string) (string, error) {
	p.record()
	return checked{p.fakeBackend}.CurrentVersion(ctx, ref)
}

// batchPushing adds a batch check, so that a Set polls its refs in a
// group.
type batchPushing struct{ *pushing }

func (b batchPushing) CurrentVersions(ctx context.Context, refs []string) (map[string]string, error) {
	b.record()
	b.fakeBackend.mu.Lock()
	defer b.fakeBackend.mu.Unlock()
	if b.err != nil {
		return nil, b.err
	}
	out := map[string]string{}
	for _, r := range refs {
		if v, ok := b.vals[r]; ok {
			out[r] = v.ID
		}
	}
	return out, nil
}

// runUntil moves the fake clock to end one timer deadline at a time. n is
// how many timers the code under test keeps armed while it waits: before
// each move it waits until all are armed again, so the wake of the last
// move (and the check it made) is over.
func runUntil(t *testing.T, clk *fakeclock.Clock, n int, end time.Time) {
	t.Helper()
	for {
		require.True(t, clk.WaitTimers(waitCtx(t), n), "the code under test never re-armed its timers")
		next, ok := clk.Next()
		if !ok || next.After(end) {
			clk.Set(end)
			require.True(t, clk.WaitTimers(waitCtx(t), n))
			return
		}
		clk.Set(next)
	}
}

// TestSafetyIntervalFollowsPushHealth: a watched credential whose backend
// pushes polls every 15 minutes while push is healthy; the moment push
// fails it is back on the 1-minute interval (within one minute, not after
// the 15), and back on the slow one when push recovers. Status shows the
// mode.
func TestSafetyIntervalFollowsPushHealth(t *testing.T) {
	clk := fakeclock.New(epoch)
	p := newPushing(clk)
	p.set("openai", keyA)
	p.healthy.Store(true)
	c, err := rotate.Watch(context.Background(), "openai", p, "openai", rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, rotate.ModePush, c.Status().Mode)
	assert.Equal(t, 15*time.Minute, c.Status().PollInterval)

	start := clk.Now()
	runUntil(t, clk, 1, start.Add(time.Hour))
	// The first check is a minute after Watch (scheduled before push was
	// subscribed); then one every 15 minutes: +1, +16, +31, +46.
	assert.Equal(t, 4, p.checksIn(start, clk.Now()), "checks in an hour of healthy push")
	st := c.Status()
	assert.Equal(t, rotate.ModePush, st.Mode)
	assert.Equal(t, 15*time.Minute, st.NextRefresh.Sub(st.LastSuccess), "next check at the safety interval")

	// Push fails at +60m30s: the next minute's wake sees it and checks.
	clk.Advance(30 * time.Second)
	p.healthy.Store(false)
	failed := clk.Now()
	assert.Equal(t, rotate.ModePoll, c.Status().Mode)
	runUntil(t, clk, 1, failed.Add(5*time.Minute))
	assert.Equal(t, 5, p.checksIn(failed, clk.Now()), "back on the 1-minute interval for 5 minutes of failed push")
	first := clk.Now()
	p.mu.Lock()
	for _, at := range p.checkAt {
		if at.After(failed) && at.Before(first) {
			first = at
		}
	}
	p.mu.Unlock()
	assert.LessOrEqual(t, first.Sub(failed), time.Minute, "the first check after push failed waits at most one normal interval")
	st = c.Status()
	assert.Equal(t, rotate.ModePoll, st.Mode)
	assert.Equal(t, time.Minute, st.PollInterval)
	assert.Equal(t, time.Minute, st.NextRefresh.Sub(st.LastSuccess))

	// Push recovers: after one more normal check, the slow interval again.
	p.healthy.Store(true)
	recovered := clk.Now()
	runUntil(t, clk, 1, recovered.Add(time.Hour))
	assert.Equal(t, 4, p.checksIn(recovered, clk.Now()), "one normal check, then one every 15 minutes")
	assert.Equal(t, rotate.ModePush, c.Status().Mode)

	// A push still brings a change at once, whatever the interval.
	p.set("openai", keyB)
	rotated := make(chan struct{}, 1)
	defer c.OnRotate(func(rotate.Event) { rotated <- struct{}{} })()
	p.push("openai")
	<-rotated
	s, err := c.Get(context.Background())
	require.NoError(t, err)
	assert.True(t, same(s, keyB))
}

// TestNotifierWithoutHealthPollsAtTheNormalInterval: push whose health is
// unknown does not relax polling, nor does WithoutPush.
func TestNotifierWithoutHealthPollsAtTheNormalInterval(t *testing.T) {
	clk := fakeclock.New(epoch)
	p := newPushing(clk)
	p.set("openai", keyA)
	p.healthy.Store(true)
	c, err := rotate.Watch(context.Background(), "openai", p, "openai", rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0), rotate.WithoutPush())
	require.NoError(t, err)
	defer c.Close()
	start := clk.Now()
	runUntil(t, clk, 1, start.Add(10*time.Minute))
	assert.Equal(t, 10, p.checksIn(start, clk.Now()))
	assert.Equal(t, rotate.ModePoll, c.Status().Mode)
}

// TestSetGroupRelaxesWhilePushHealthy: a Set's batch group (one call for
// all its refs) polls at the safety interval while push is healthy, goes
// back to the normal interval within a minute of push failing and back to
// the slow one after push recovers; every credential's Status follows.
func TestSetGroupRelaxesWhilePushHealthy(t *testing.T) {
	clk := fakeclock.New(epoch)
	p := newPushing(clk)
	var cfgs []rotate.Config
	for i := 0; i < 10; i++ {
		ref := "svc-" + strconv.Itoa(i)
		p.set(ref, keyA+strconv.Itoa(i))
		cfgs = append(cfgs, rotate.Config{Name: ref, URL: "fake://" + ref})
	}
	p.healthy.Store(true)
	set, err := rotate.Open(context.Background(), resolver{batchPushing{p}}, cfgs, rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	defer set.Close()
	timers := 10 + 2 // the credentials' housekeeping, the group, the reminders
	start := clk.Now()

	runUntil(t, clk, timers, start.Add(time.Hour))
	assert.Equal(t, 4, p.checksIn(start, clk.Now()), "one batch check at +1m, then one every 15 minutes")
	c, err := set.Credential("svc-3")
	require.NoError(t, err)
	st := c.Status()
	assert.Equal(t, rotate.ModePush, st.Mode)
	assert.Equal(t, 15*time.Minute, st.NextRefresh.Sub(st.LastSuccess))

	clk.Advance(30 * time.Second)
	p.healthy.Store(false)
	failed := clk.Now()
	runUntil(t, clk, timers, failed.Add(5*time.Minute))
	assert.Equal(t, 5, p.checksIn(failed, clk.Now()), "a batch check a minute while push fails")
	st = c.Status()
	assert.Equal(t, rotate.ModePoll, st.Mode)
	assert.Equal(t, time.Minute, st.NextRefresh.Sub(st.LastSuccess))

	p.healthy.Store(true)
	recovered := clk.Now()
	runUntil(t, clk, timers, recovered.Add(time.Hour))
	assert.Equal(t, 4, p.checksIn(recovered, clk.Now()))
	assert.Equal(t, rotate.ModePush, c.Status().Mode)
}

// mintingBackend is a token endpoint that says so (credential.Minter).
type mintingBackend struct{ minter }

func (*mintingBackend) Mints() bool { return true }

// TestMintedTokenIsRefreshedAheadOnly: a 1-hour token watched with the
// default 1-minute interval is minted about once an hour (at 80% of its
// life), not at every poll; a minter without the marker would be minted
// 60 times an hour.
func TestMintedTokenIsRefreshedAheadOnly(t *testing.T) {
	clk := fakeclock.New(epoch)
	m := &mintingBackend{minter{clock: clk, life: time.Hour}}
	c, err := rotate.Watch(context.Background(), "token", m, "ref", rotate.WithClock(clk))
	require.NoError(t, err)
	defer c.Close()
	st := c.Status()
	assert.Equal(t, rotate.ModeRefreshAhead, st.Mode)
	assert.Equal(t, epoch.Add(48*time.Minute), st.NextRefresh, "refreshed at 80% of its life")
	runUntil(t, clk, 1, epoch.Add(4*time.Hour))
	// Refreshes at 48, 96, 144, 192 and 240 minutes.
	assert.Equal(t, int32(1+5), m.n.Load(), "mints in 4 hours: the first, then one per 48 minutes")
	_, err = c.Get(context.Background())
	require.NoError(t, err)

	// The same endpoint without the marker is minted at every poll.
	clk2 := fakeclock.New(epoch)
	plain := &minter{clock: clk2, life: time.Hour}
	c2, err := rotate.Watch(context.Background(), "token", plain, "ref", rotate.WithClock(clk2), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	defer c2.Close()
	runUntil(t, clk2, 1, epoch.Add(time.Hour))
	assert.Equal(t, int32(1+60), plain.n.Load())
}

// revoking is a backend whose secret can be disabled: its checks then
// return ErrRevoked, as Azure's disabled secret does.
func revokedErr(ref string) error {
	return &credential.Error{Op: "check", Ref: ref, Kind: credential.ErrRevoked, Reason: "the secret is disabled"}
}

// TestBackendRevocationByPush: a check that returns ErrRevoked (a pushed
// disable) makes Get fail with ErrRevoked at once; the next successful
// check lifts it. The operator's own Revoke is not lifted by a check.
func TestBackendRevocationByPush(t *testing.T) {
	clk := fakeclock.New(epoch)
	p := newPushing(clk)
	p.set("openai", keyA)
	p.healthy.Store(true)
	set, err := rotate.Open(context.Background(), resolver{p}, []rotate.Config{{Name: "openai", URL: "fake://openai"}}, rotate.WithClock(clk))
	require.NoError(t, err)
	defer set.Close()
	c, err := set.Credential("openai")
	require.NoError(t, err)
	events := make(chan rotate.Event, 16)
	defer set.OnEvent(func(e rotate.Event) { events <- e })()

	p.fail(revokedErr("openai"))
	p.push("openai")
	e := <-events
	assert.Equal(t, rotate.EventRevoked, e.Kind)
	_, err = c.Get(context.Background())
	require.True(t, errors.Is(err, credential.ErrRevoked), "got %v", err)
	assert.Contains(t, err.Error(), "revoked by the backend: the secret is disabled")
	assert.NotContains(t, err.Error(), keyA)
	st := c.Status()
	assert.Equal(t, rotate.Revoked, st.Freshness)
	assert.Equal(t, "backend", st.RevokedBy)
	assert.True(t, st.Revoked)
	assert.Equal(t, rotate.EventFailed, (<-events).Kind)

	p.fail(nil)
	p.push("openai")
	for e := range events {
		if e.Kind == rotate.EventRestored {
			break
		}
	}
	s, err := c.Get(context.Background())
	require.NoError(t, err, "re-enabled: the next successful check lifts it")
	assert.True(t, same(s, keyA))
	assert.Equal(t, rotate.Fresh, c.Status().Freshness)

	// An outage is not a revocation.
	p.fail(&credential.Error{Op: "check", Kind: credential.ErrUnavailable})
	p.push("openai")
	for e := range events {
		if e.Kind == rotate.EventFailed {
			break
		}
	}
	_, err = c.Get(context.Background())
	require.NoError(t, err, "an outage serves the last good value")

	// The operator's kill switch stays on through successful checks.
	p.fail(nil)
	c.Revoke("leaked in a ticket")
	p.push("openai")
	for e := range events {
		if e.Kind == rotate.EventRecovered {
			break
		}
	}
	_, err = c.Get(context.Background())
	require.True(t, errors.Is(err, credential.ErrRevoked))
	assert.Equal(t, "operator", c.Status().RevokedBy)
	c.Restore()
	_, err = c.Get(context.Background())
	require.NoError(t, err)
}

// scripted is a pushing backend whose every Fetch waits for the test's
// answer: the test decides the order in which concurrent checks finish.
type scripted struct {
	calls chan chan scriptedAnswer
	mu    sync.Mutex
	subs  []func()
}

type scriptedAnswer struct {
	v   credential.Version
	err error
}

func (s *scripted) Fetch(ctx context.Context, ref string) (credential.Version, error) {
	reply := make(chan scriptedAnswer, 1)
	select {
	case s.calls <- reply:
	case <-ctx.Done():
		return credential.Version{}, ctx.Err()
	}
	select {
	case a := <-reply:
		return a.v, a.err
	case <-ctx.Done():
		return credential.Version{}, ctx.Err()
	}
}

func (s *scripted) NotifyChange(ref string, changed func()) (func(), error) {
	s.mu.Lock()
	s.subs = append(s.subs, changed)
	s.mu.Unlock()
	return func() {}, nil
}

func (s *scripted) push() {
	s.mu.Lock()
	subs := s.subs
	s.mu.Unlock()
	for _, f := range subs {
		f()
	}
}

// Regression: a check that started before a pushed revocation and
// succeeds after it (a poll in flight when the secret was disabled) must
// not lift the revocation with its older answer; a check that starts
// later does.
func TestOlderSuccessDoesNotLiftRevocation(t *testing.T) {
	s := &scripted{calls: make(chan chan scriptedAnswer)}
	good := scriptedAnswer{v: credential.Version{Secret: credential.NewSecret(keyA), ID: "v1"}}
	go func() { (<-s.calls) <- good }() // the first fetch, inside Watch
	c, err := rotate.Watch(context.Background(), "openai", s, "openai", rotate.WithMinRefreshInterval(0), rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	defer c.Close()

	// Check A starts (a forced refresh) and is held.
	aDone := make(chan struct{})
	go func() {
		_, _ = c.Refresh(context.Background())
		close(aDone)
	}()
	a := <-s.calls
	// Check B starts later (a push), finds the secret disabled.
	s.push()
	(<-s.calls) <- scriptedAnswer{err: revokedErr("openai")}
	require.Eventually(t, func() bool { return c.Status().Revoked }, 5*time.Second, time.Millisecond)
	// A's older answer arrives: the secret was fine when A asked.
	a <- good
	<-aDone
	_, err = c.Get(context.Background())
	require.True(t, errors.Is(err, credential.ErrRevoked), "an answer older than the revocation lifted it: %v", err)

	// A check that starts after the revocation lifts it.
	s.push()
	(<-s.calls) <- good
	require.Eventually(t, func() bool { return !c.Status().Revoked }, 5*time.Second, time.Millisecond)
	_, err = c.Get(context.Background())
	require.NoError(t, err)
}
