package rotate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/rotate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const (
	keyA = "sk-proj-FAKEaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyB = "sk-proj-FAKEbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	keyC = "sk-proj-FAKEcccccccccccccccccccccccccccccccccccc"
)

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// step arms the loop's timer, moves time by d and waits for the check that
// follows to be recorded.
func step(t *testing.T, clk *fakeclock.Clock, c *rotate.Credential, d time.Duration) {
	t.Helper()
	before := c.Status().LastAttempt
	require.True(t, clk.WaitTimers(waitCtx(t), 1), "the refresh loop never armed its timer")
	clk.Advance(d)
	eventually(t, "a check after the clock moved", func() bool { return c.Status().LastAttempt.After(before) })
}

// runFor moves time forward by d one timer at a time, letting the code
// under test re-arm its timers between steps.
func runFor(t *testing.T, clk *fakeclock.Clock, d time.Duration) {
	t.Helper()
	end := clk.Now().Add(d)
	for clk.Now().Before(end) {
		require.True(t, clk.WaitTimers(waitCtx(t), 1), "no timer armed")
		next, _ := clk.Next()
		if next.After(end) {
			clk.Set(end)
			return
		}
		clk.AdvanceToNext()
		time.Sleep(time.Millisecond) // let the woken goroutine run
	}
}

func TestWatchFailsFastOrWaits(t *testing.T) {
	b := newBackend()
	_, err := rotate.Watch(context.Background(), "openai", b, "missing")
	require.Error(t, err)
	assert.True(t, errors.Is(err, credential.ErrNotFound))
	assert.Contains(t, err.Error(), "credential openai")

	clk := fakeclock.New(epoch)
	c, err := rotate.Watch(context.Background(), "openai", b, "later", rotate.WithPending(), rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, rotate.Pending, c.Status().Freshness)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = c.Get(short)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "Get waits for the first value until its context ends")

	got := make(chan credential.Secret, 1)
	go func() {
		s, _ := c.Get(waitCtx(t))
		got <- s
	}()
	b.set("later", keyA)
	require.True(t, clk.WaitTimers(waitCtx(t), 1))
	clk.Advance(time.Minute)
	assert.True(t, same(<-got, keyA), "the waiting Get receives the first value")
}

func TestPollingRotationOverlapAndEvents(t *testing.T) {
	b := newBackend()
	b.set("openai", keyA)
	clk := fakeclock.New(epoch)
	c, err := rotate.Watch(context.Background(), "openai", b, "openai",
		rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0), rotate.WithOverlap(10*time.Minute))
	require.NoError(t, err)
	defer c.Close()

	var mu sync.Mutex
	var events []rotate.Event
	unsub := c.OnRotate(func(e rotate.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	defer unsub()

	s, err := c.Get(context.Background())
	require.NoError(t, err)
	assert.True(t, same(s, keyA))
	_, ok := c.Previous()
	assert.False(t, ok)

	b.set("openai", keyB)
	step(t, clk, c, time.Minute)
	s, _ = c.Get(context.Background())
	assert.True(t, same(s, keyB), "the rotation is picked up at the next poll")
	prev, ok := c.Previous()
	require.True(t, ok, "the previous version stays available in the overlap window")
	assert.True(t, same(prev.Secret, keyA))

	mu.Lock()
	require.Len(t, events, 1)
	e := events[0]
	mu.Unlock()
	assert.Equal(t, rotate.EventRotated, e.Kind)
	assert.Equal(t, "openai", e.Name)
	assert.Equal(t, credential.NewSecret(keyA).Fingerprint(), e.OldFingerprint)
	assert.Equal(t, credential.NewSecret(keyB).Fingerprint(), e.NewFingerprint)
	assert.NotEqual(t, e.OldVersion, e.NewVersion)
	st := c.Status()
	assert.Equal(t, 1, st.Rotations)
	assert.Equal(t, rotate.Fresh, st.Freshness)
	assert.Equal(t, epoch.Add(11*time.Minute), st.PreviousUntil)

	// The overlap ends ten minutes after the rotation.
	runFor(t, clk, 10*time.Minute)
	eventually(t, "previous dropped after the overlap", func() bool { _, ok := c.Previous(); return !ok })
}

func TestCheapCheckBeforeFetch(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	clk := fakeclock.New(epoch)
	c, err := rotate.Watch(context.Background(), "k", checked{b}, "k", rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	defer c.Close()
	for i := 0; i < 5; i++ {
		step(t, clk, c, time.Minute)
	}
	assert.EqualValues(t, 1, b.fetches.Load(), "an unchanged version is never fetched")
	assert.EqualValues(t, 5, b.checks.Load())
	b.set("k", keyB)
	step(t, clk, c, time.Minute)
	assert.EqualValues(t, 2, b.fetches.Load())
	s, _ := c.Get(context.Background())
	assert.True(t, same(s, keyB))
}

func TestOutageServesLastGoodWithBackoff(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	clk := fakeclock.New(epoch)
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithClock(clk),
		rotate.WithInterval(time.Minute, 0), rotate.WithBackoff(time.Second, 30*time.Second))
	require.NoError(t, err)
	defer c.Close()

	b.fail(&credential.Error{Op: "fetch", Kind: credential.ErrUnavailable, Reason: "throttled"})
	step(t, clk, c, time.Minute)
	var delays []time.Duration
	for i := 0; i < 12; i++ {
		st := c.Status()
		assert.Equal(t, rotate.Stale, st.Freshness)
		assert.Equal(t, i+1, st.ConsecutiveFailures)
		assert.Equal(t, "unavailable", st.LastError)
		assert.Equal(t, epoch.Add(time.Minute), st.FailingSince)
		s, err := c.Get(context.Background())
		require.NoError(t, err, "the last good value is served during an outage")
		assert.True(t, same(s, keyA))
		d := st.NextRefresh.Sub(st.LastAttempt)
		delays = append(delays, d)
		ceiling := time.Second << i
		if ceiling > 30*time.Second {
			ceiling = 30 * time.Second
		}
		assert.True(t, d > 0 && d <= ceiling, "failure %d: delay %v outside (0, %v]", i+1, d, ceiling)
		step(t, clk, c, d)
	}
	assert.EqualValues(t, 13, c.Status().TotalFailures)

	b.fail(nil)
	b.set("k", keyB)
	st := c.Status()
	step(t, clk, c, st.NextRefresh.Sub(st.LastAttempt))
	st = c.Status()
	assert.Equal(t, rotate.Fresh, st.Freshness, "recovery on the first success")
	assert.Equal(t, 0, st.ConsecutiveFailures)
	assert.Empty(t, st.LastError)
	s, _ := c.Get(context.Background())
	assert.True(t, same(s, keyB))
	_ = delays
}

func TestGoodValueNeverReplacedByEmpty(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	clk := fakeclock.New(epoch)
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	defer c.Close()
	b.set("k", "")
	step(t, clk, c, time.Minute)
	s, err := c.Get(context.Background())
	require.NoError(t, err)
	assert.True(t, same(s, keyA))
	assert.Equal(t, "invalid", c.Status().LastError)
}

func TestRefreshAheadAndExpiry(t *testing.T) {
	b := newBackend()
	expiring := func(d time.Duration) func(*credential.Version) {
		return func(v *credential.Version) { v.Created = epoch; v.Expires = epoch.Add(d) }
	}
	b.set("token", keyA, expiring(time.Hour))
	clk := fakeclock.New(epoch)
	c, err := rotate.Watch(context.Background(), "token", b, "token", rotate.WithClock(clk),
		rotate.WithInterval(24*time.Hour, 0), rotate.WithRefreshAhead(0.8, time.Minute), rotate.WithBackoff(time.Minute, 5*time.Minute))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, epoch.Add(48*time.Minute), c.Status().NextRefresh, "refresh at 80% of the lifetime")

	// The backend is down from now on: the version runs out.
	b.fail(&credential.Error{Kind: credential.ErrUnavailable})
	step(t, clk, c, 48*time.Minute)
	assert.EqualValues(t, 2, b.fetches.Load(), "the refresh ahead happened")
	s, err := c.Get(context.Background())
	require.NoError(t, err)
	assert.True(t, same(s, keyA), "still valid: served")

	for clk.Now().Before(epoch.Add(time.Hour)) {
		require.True(t, clk.WaitTimers(waitCtx(t), 1))
		clk.AdvanceToNext()
		time.Sleep(time.Millisecond)
	}
	eventually(t, "expired", func() bool { return c.Status().Freshness == rotate.Expired })
	_, err = c.Get(context.Background())
	assert.True(t, errors.Is(err, credential.ErrExpired), "an expired version is never served")

	// A fresh version brings it back.
	b.fail(nil)
	b.set("token", keyB, expiring(3*time.Hour))
	eventually(t, "recovered", func() bool {
		if clk.Timers() > 0 {
			clk.AdvanceToNext()
		}
		s, err := c.Get(context.Background())
		return err == nil && same(s, keyB)
	})
}

func TestRefreshSingleFlightAndMinInterval(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	clk := fakeclock.New(epoch)
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0), rotate.WithMinRefreshInterval(5*time.Second))
	require.NoError(t, err)
	defer c.Close()
	b.set("k", keyB)
	gate := make(chan struct{})
	b.mu.Lock()
	b.gate = gate
	b.mu.Unlock()

	var wg sync.WaitGroup
	results := make(chan bool, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			changed, err := c.Refresh(context.Background())
			assert.NoError(t, err)
			results <- changed
		}()
	}
	eventually(t, "the shared fetch started", func() bool { return b.fetches.Load() == 2 })
	time.Sleep(10 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(results)
	n := 0
	for changed := range results {
		if changed {
			n++
		}
	}
	assert.EqualValues(t, 2, b.fetches.Load(), "100 concurrent Refresh calls cause one fetch")
	assert.Equal(t, 100, n, "every caller learns that the value changed")

	// Forced fetches are limited per version: the version just installed
	// may force one, then none until the interval has passed.
	changed, err := c.Refresh(context.Background())
	require.NoError(t, err)
	assert.False(t, changed)
	assert.EqualValues(t, 3, b.fetches.Load(), "a 401 for the new version may force one fetch")
	for i := 0; i < 100; i++ {
		changed, err = c.Refresh(context.Background())
		require.NoError(t, err)
		assert.False(t, changed)
	}
	assert.EqualValues(t, 3, b.fetches.Load(), "within the minimum interval Refresh of the same version does no I/O")
	clk.Advance(5 * time.Second)
	_, _ = c.Refresh(context.Background())
	assert.EqualValues(t, 4, b.fetches.Load())
}

func TestRevokeRestoreAndClose(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	c, err := rotate.Watch(context.Background(), "k", b, "k")
	require.NoError(t, err)
	c.Revoke("leaked in ticket INC-42")
	_, err = c.Get(context.Background())
	assert.True(t, errors.Is(err, credential.ErrRevoked))
	assert.Contains(t, err.Error(), "INC-42")
	assert.Equal(t, rotate.Revoked, c.Status().Freshness)
	c.Restore()
	_, err = c.Get(context.Background())
	assert.NoError(t, err)

	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	_, err = c.Refresh(context.Background())
	assert.True(t, errors.Is(err, credential.ErrClosed))
	assert.True(t, c.Status().Closed)
}

// TestTransportRetriesAcrossRotation is the user story: the key is rotated in
// the backend; the next request meets a 401 with the old key; Transport asks
// the watched credential to refresh and the retry succeeds.
func TestRefresherFromTransport(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithMinRefreshInterval(0))
	require.NoError(t, err)
	defer c.Close()
	var r credential.Refresher = c
	b.set("k", keyC)
	changed, err := r.Refresh(context.Background())
	require.NoError(t, err)
	assert.True(t, changed)
}

func BenchmarkGet(b *testing.B) {
	be := newBackend()
	be.set("k", keyA)
	c, err := rotate.Watch(context.Background(), "k", be, "k")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.Run("rotate.Credential", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Get(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("RWMutex-string", func(b *testing.B) {
		var mu sync.RWMutex
		v := keyA
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.RLock()
				s := v
				mu.RUnlock()
				_ = s
			}
		})
	})
}

func TestSubscribersRunInOrderAndUnsubscribeForGood(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithInterval(time.Hour, 0), rotate.WithMinRefreshInterval(0))
	require.NoError(t, err)
	defer c.Close()

	var calls []string // OnRotate callbacks run on the refreshing goroutine, here Refresh's
	var unsubFirst func()
	unsubFirst = c.OnRotate(func(rotate.Event) {
		calls = append(calls, "first")
		unsubFirst() // unsubscribing from inside a callback does not deadlock
	})
	unsubSecond := c.OnRotate(func(rotate.Event) { calls = append(calls, "second") })
	c.OnRotate(func(rotate.Event) { calls = append(calls, "third") })

	b.set("k", keyB)
	changed, err := c.Refresh(context.Background())
	require.NoError(t, err)
	require.True(t, changed)
	assert.Equal(t, []string{"first", "second", "third"}, calls, "subscribers run in the order they subscribed")

	unsubSecond()
	unsubSecond() // a second call is harmless
	calls = nil
	b.set("k", keyC)
	changed, err = c.Refresh(context.Background())
	require.NoError(t, err)
	require.True(t, changed)
	assert.Equal(t, []string{"third"}, calls, "unsubscribed callbacks are not called again")
}
