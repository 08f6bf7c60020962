package rotate_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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

// within fails the test when done is not closed within d: a guard against
// a hang, not a synchronisation.
func within(t *testing.T, d time.Duration, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
}

func async(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	return done
}

// Issue 11, item 8: Revoke acts at once, whatever fetch is in flight, and
// a version installed by that fetch stays revoked.
func TestRevokeDuringBlockedFetch(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	defer c.Close()
	b.set("k", keyB)
	entered, release := b.hold()
	defer release()
	refreshed := async(func() { _, _ = c.Refresh(context.Background()) })
	<-entered // the fetch is blocked in the backend

	within(t, time.Second, "Revoke during a blocked fetch", async(func() { c.Revoke("INC-7") }))
	_, err = c.Get(context.Background())
	assert.True(t, errors.Is(err, credential.ErrRevoked), "Get fails at once after Revoke")

	release()
	within(t, 5*time.Second, "Refresh", refreshed)
	_, err = c.Get(context.Background())
	assert.True(t, errors.Is(err, credential.ErrRevoked), "the version the fetch brought stays revoked")
	v, _ := c.Version()
	assert.True(t, same(v.Secret, keyB), "the new version was installed")
}

// Issue 11, item 8: an OnRotate subscriber that calls Revoke neither
// deadlocks the credential nor blocks Close.
func TestSubscriberThatRevokes(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	var events []rotate.EventKind
	var mu sync.Mutex
	c.OnRotate(func(e rotate.Event) {
		mu.Lock()
		events = append(events, e.Kind)
		mu.Unlock()
		c.Revoke("rotated under an incident")
	})
	b.set("k", keyB)
	within(t, 5*time.Second, "Refresh whose subscriber revokes", async(func() {
		changed, err := c.Refresh(context.Background())
		assert.NoError(t, err)
		assert.True(t, changed)
	}))
	_, err = c.Get(context.Background())
	assert.True(t, errors.Is(err, credential.ErrRevoked))
	within(t, 5*time.Second, "Close", async(func() { c.Close() }))
	mu.Lock()
	assert.Equal(t, []rotate.EventKind{rotate.EventRotated}, events)
	mu.Unlock()
}

// Issue 11, item 9: Close cancels the fetches in flight (a background poll
// and a Refresh) and returns promptly, not after the 30 s fetch timeout.
func TestCloseCancelsFetchesInFlight(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	entered, release := b.hold()
	defer release()
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithPending())
	require.NoError(t, err)
	<-entered // the background first fetch waits in the backend
	refreshed := async(func() { _, _ = c.Refresh(context.Background()) })
	<-entered // and so does the Refresh
	within(t, 2*time.Second, "Close with fetches in flight", async(func() { c.Close() }))
	within(t, time.Second, "Refresh after Close", refreshed)
	assert.NotEqual(t, rotate.Stale, c.Status().Freshness, "a fetch canceled by Close is not a backend failure")
}

// Issue 11, item 10: WithPending starts the first fetch at once, not after
// a poll interval.
func TestPendingFetchesAtOnce(t *testing.T) {
	b := newBackend()
	b.set("k", keyA)
	clk := fakeclock.New(epoch) // never advanced
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithPending(), rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.Get(ctx)
	require.NoError(t, err, "the first value arrives without time passing")
	assert.True(t, same(s, keyA))
}

// blocking is a provider that answers only when ctx ends.
type blocking struct{}

func (blocking) Fetch(ctx context.Context, _ string) (credential.Version, error) {
	<-ctx.Done()
	return credential.Version{}, ctx.Err()
}

// Issue 11, item 10: the first fetch of Watch is bounded by
// WithFetchTimeout, not only by the caller's context.
func TestWatchFirstFetchBoundedByFetchTimeout(t *testing.T) {
	var err error
	within(t, 5*time.Second, "Watch on a backend that never answers", async(func() {
		_, err = rotate.Watch(context.Background(), "k", blocking{}, "k", rotate.WithFetchTimeout(20*time.Millisecond))
	}))
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
}

// Issue 11, item 20: misuse is a typed error, not a panic.
func TestNilProviderAndResolver(t *testing.T) {
	var p *fakeBackend
	for _, prov := range []credential.Provider{nil, p} {
		c, err := rotate.Watch(context.Background(), "k", prov, "k")
		assert.Nil(t, c)
		assert.True(t, errors.Is(err, credential.ErrInvalid), "got %v", err)
	}
	s, err := rotate.Open(context.Background(), nil, []rotate.Config{{Name: "k", URL: "fake://k"}})
	assert.Nil(t, s)
	assert.True(t, errors.Is(err, credential.ErrInvalid), "got %v", err)
	s, err = rotate.Open(context.Background(), resolver{p: nil}, []rotate.Config{{Name: "k", URL: "fake://k"}})
	assert.Nil(t, s)
	assert.True(t, errors.Is(err, credential.ErrInvalid), "a resolver that returns no provider: got %v", err)
}

// Issue 11, item 11: a change listener (a tracking redactor) knows a new
// value before any Get or subscriber can see it, in every run.
func TestChangeListenersHearBeforePublish(t *testing.T) {
	b := newBackend()
	b.set("k", genKey(0))
	s, err := rotate.Open(context.Background(), resolver{b}, []rotate.Config{{Name: "k", URL: "fake://k"}}, rotate.WithInterval(time.Hour, 0), rotate.WithMinRefreshInterval(0))
	require.NoError(t, err)
	defer s.Close()
	var known sync.Map // fingerprint -> true
	learn := func() {
		s.Secrets(func(_ string, sec credential.Secret) bool { known.Store(sec.Fingerprint(), true); return true })
	}
	defer s.OnChange(learn)()
	learn()
	var unknownToSubscriber, unknownToGet atomic.Int32
	defer s.OnEvent(func(e rotate.Event) {
		if e.Kind != rotate.EventRotated {
			return
		}
		if _, ok := known.Load(e.NewFingerprint); !ok {
			unknownToSubscriber.Add(1)
		}
		sec, err := s.Get(context.Background(), "k")
		if _, ok := known.Load(sec.Fingerprint()); err == nil && !ok {
			unknownToGet.Add(1)
		}
	})()
	c, err := s.Credential("k")
	require.NoError(t, err)
	stop := make(chan struct{})
	reader := async(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			sec, err := c.Get(context.Background())
			if _, ok := known.Load(sec.Fingerprint()); err == nil && !ok {
				unknownToGet.Add(1)
			}
		}
	})
	const rotations = 50
	for gen := 1; gen <= rotations; gen++ {
		b.set("k", genKey(gen))
		changed, err := c.Refresh(context.Background())
		require.NoError(t, err)
		require.True(t, changed)
	}
	close(stop)
	<-reader
	assert.Zero(t, unknownToSubscriber.Load(), "rotations whose new value a subscriber saw before the change listener knew it")
	assert.Zero(t, unknownToGet.Load(), "Gets that returned a value the change listener did not know yet")
}

// Issue 11, item 12: a revoked key answered 401 by every request still
// cannot hammer the backend: one forced fetch for the version, then none
// within the minimum refresh interval.
func TestRevokedKeyDoesNotHammer(t *testing.T) {
	clk := fakeclock.New(epoch)
	b := newBackend()
	b.set("k", keyA)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	defer srv.Close()
	c, err := rotate.Watch(context.Background(), "k", b, "k", rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	defer c.Close()
	client := &http.Client{Transport: &credential.Transport{Credential: c, Base: srv.Client().Transport}}
	for i := 0; i < 1000; i++ {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	assert.EqualValues(t, 2, b.fetches.Load(), "the first fetch and one forced refresh for 1,000 401s")
}

// Issue 17 (inventory): a short-lived credential's row shows that it is
// short-lived, its TTL, and the issuer and subject its backend describes.
func TestInventoryShortLived(t *testing.T) {
	clk := fakeclock.New(epoch)
	b := newBackend()
	b.set("token", keyA, func(v *credential.Version) { v.Created, v.Expires = epoch, epoch.Add(time.Hour) })
	b.set("static", keyB)
	b.set("minted-now", keyC, func(v *credential.Version) { v.Expires = epoch.Add(15 * time.Minute) })
	b.desc["token"] = credential.Description{Issuer: "https://login.example.com", Subject: "system:serviceaccount:ai:bot"}
	s, err := rotate.Open(context.Background(), resolver{described{b}}, []rotate.Config{
		{Name: "token", URL: "fake://token"}, {Name: "static", URL: "fake://static"}, {Name: "minted-now", URL: "fake://minted-now"},
	}, rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	defer s.Close()
	rows := map[string]rotate.InventoryItem{}
	for _, it := range s.Inventory().Credentials {
		rows[it.Name] = it
	}
	tok := rows["token"]
	assert.True(t, tok.ShortLived)
	assert.Equal(t, time.Hour, tok.TTL, "Expires − Created")
	assert.Equal(t, "https://login.example.com", tok.Issuer)
	assert.Equal(t, "system:serviceaccount:ai:bot", tok.Subject)
	assert.False(t, rows["static"].ShortLived)
	assert.Zero(t, rows["static"].TTL)
	assert.True(t, rows["minted-now"].ShortLived)
	assert.Equal(t, 15*time.Minute, rows["minted-now"].TTL, "Expires − fetch time when the backend gives no creation time")
	one, ok := s.Item("token")
	require.True(t, ok)
	assert.Equal(t, tok, one, "Item returns the same row as Inventory")
	_, ok = s.Item("nope")
	assert.False(t, ok)
}
