package file_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/provider/file"
	"github.com/credkit/credkit/rotate"
)

// waitHealth waits, through the calls a subscription receives, until the
// provider's push health is want.
func waitHealth(t *testing.T, p *file.Provider, calls <-chan struct{}, want bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for p.PushHealthy() != want {
		select {
		case <-calls:
		case <-deadline.C:
			t.Fatalf("push health never became %v", want)
		}
	}
}

// TestPushHealthFollowsTheWatcher: the provider reports healthy push while
// it watches a folder, and not once the watched folder is removed (the
// kernel drops the watch, and a folder made again in its place is not
// watched).
func TestPushHealthFollowsTheWatcher(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	path := filepath.Join(dir, "api-key")
	write(t, path, key, 0o600)
	p := file.New()
	assert.False(t, p.PushHealthy(), "nothing watched: no push")
	calls := make(chan struct{}, 16)
	stop, err := p.NotifyChange(path, func() {
		select {
		case calls <- struct{}{}:
		default:
		}
	})
	require.NoError(t, err)
	assert.True(t, p.PushHealthy())
	replace(t, path, key+"-v2")
	<-calls
	assert.True(t, p.PushHealthy(), "a change is not a failure")

	require.NoError(t, os.RemoveAll(dir))
	waitHealth(t, p, calls, false)
	write(t, path, key+"-v3", 0o600)
	assert.False(t, p.PushHealthy(), "the folder made again is not watched")
	stop()
	assert.False(t, p.PushHealthy())
}

type fileResolver struct{ p *file.Provider }

func (r fileResolver) Resolve(_ context.Context, raw string) (credential.Provider, string, error) {
	return r.p, strings.TrimPrefix(raw, "file://"), nil
}

// TestRelaxedPollingFollowsTheWatcher: a rotate.Set of a file credential
// polls every 15 minutes while fsnotify watches its folder (a change
// arrives by push, with no poll); once the folder was removed and made
// again, the watch is gone and the credential polls at the normal
// interval again, instead of waiting 15 minutes between looks at a file
// nobody watches.
func TestRelaxedPollingFollowsTheWatcher(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	path := filepath.Join(dir, "api-key")
	write(t, path, key, 0o600)
	p := file.New()
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	set, err := rotate.Open(context.Background(), fileResolver{p}, []rotate.Config{{Name: "openai", URL: "file://" + path}},
		rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0))
	require.NoError(t, err)
	defer set.Close()
	events := make(chan rotate.Event, 16)
	defer set.OnEvent(func(e rotate.Event) { events <- e })()
	c, err := set.Credential("openai")
	require.NoError(t, err)
	wait := func(kind rotate.EventKind) {
		t.Helper()
		deadline := time.NewTimer(5 * time.Second)
		defer deadline.Stop()
		for {
			select {
			case e := <-events:
				if e.Kind == kind {
					return
				}
			case <-deadline.C:
				t.Fatalf("no %s event", kind)
			}
		}
	}
	// Two timers: the credential's and the Set's reminders.
	advance := func(d time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.True(t, clk.WaitTimers(ctx, 2))
		clk.Advance(d)
		require.True(t, clk.WaitTimers(ctx, 2))
	}

	assert.Equal(t, rotate.ModePush, c.Status().Mode)
	advance(time.Minute)
	st := c.Status()
	assert.Equal(t, rotate.ModePush, st.Mode)
	assert.Equal(t, 15*time.Minute, st.NextRefresh.Sub(st.LastSuccess), "healthy push: the safety interval")

	replace(t, path, key+"-v2")
	wait(rotate.EventRotated)
	s, err := c.Get(context.Background())
	require.NoError(t, err)
	assert.True(t, s.Reveal() == key+"-v2", "the change came by push, with the clock standing still")

	// The folder goes away: the watch is lost for good.
	calls := make(chan struct{}, 16)
	stop, err := p.NotifyChange(path, func() {
		select {
		case calls <- struct{}{}:
		default:
		}
	})
	require.NoError(t, err)
	defer stop()
	require.NoError(t, os.RemoveAll(dir))
	wait(rotate.EventFailed)
	waitHealth(t, p, calls, false)
	write(t, path, key+"-v3", 0o600)
	advance(time.Minute) // past the backoff: the check succeeds
	st = c.Status()
	require.Equal(t, rotate.Fresh, st.Freshness)
	assert.Equal(t, rotate.ModePoll, st.Mode)
	assert.Equal(t, time.Minute, st.NextRefresh.Sub(st.LastSuccess), "push lost: the normal interval")
	s, err = c.Get(context.Background())
	require.NoError(t, err)
	assert.True(t, s.Reveal() == key+"-v3")
}
