package rotate_test

import (
	"context"
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

// minter mints a new token at every Fetch, living life on clock, as a
// token endpoint does.
type minter struct {
	clock credential.Clock
	life  time.Duration
	n     atomic.Int32
}

func (m *minter) Fetch(context.Context, string) (credential.Version, error) {
	n := m.n.Add(1)
	now := m.clock.Now()
	s := credential.NewSecret("fake-minted-token-" + strconv.Itoa(int(n)) + "-FAKEFAKE")
	return credential.Version{Secret: s, ID: strconv.Itoa(int(n)), Created: now, Expires: now.Add(m.life)}, nil
}

// Regression: with the default refresh-ahead (80% or a minute before
// expiry), a token living 60 s had its refresh point at the moment it
// arrived: the credential minted a new token in a loop, thousands a second
// without time moving. The margin now counts only for versions that live
// more than twice as long, so the token is refreshed at 48 s (80%): 12 or
// 13 times in 10 minutes.
func TestShortLivedDefaultsDoNotLoop(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	m := &minter{clock: clk, life: time.Minute}
	c, err := rotate.Watch(context.Background(), "token", m, "ref", rotate.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 600; i++ {
		clk.Advance(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		settled := clk.WaitTimers(ctx, 1)
		cancel()
		if !settled {
			t.Fatalf("at +%ds the credential never went back to sleep: %d fetches (a refresh loop)", i+1, m.n.Load())
		}
		if _, err := c.Get(context.Background()); err != nil {
			t.Fatalf("at +%ds: %v", i+1, err)
		}
	}
	if got := m.n.Load() - 1; got < 12 || got > 13 {
		t.Fatalf("%d refreshes of a 60 s token in 10 minutes, want 12-13", got)
	}
}

// describedMinter is a minter whose Describe says what a token backend
// says: short-lived, with its issuer and subject.
type describedMinter struct{ *minter }

func (describedMinter) Describe(context.Context, string) (credential.Description, error) {
	return credential.Description{
		Metadata: credential.Metadata{ShortLived: true},
		Issuer:   "https://auth.example.com/oauth/token", Subject: "system:serviceaccount:ai:bot",
	}, nil
}

// mixed resolves "mint://" to a token minter and "fake://" to a static
// store.
type mixed struct {
	mint  credential.Provider
	fixed credential.Provider
}

func (m mixed) Resolve(ctx context.Context, raw string) (credential.Provider, string, error) {
	if len(raw) > 7 && raw[:7] == "mint://" {
		return m.mint, raw[7:], nil
	}
	return resolver{m.fixed}.Resolve(ctx, raw)
}

// Issue 17 (inventory noise): a 60 s token watched for 10 simulated
// minutes is short-lived in every inventory row, with its TTL, issuer and
// subject; its expiry is never its rotation due date, so it is never due
// soon nor overdue, raises no rotation reminder and no "no rotation
// period" finding — while a static key of the same Set, due in 10 days,
// entering its reminder window on the way, does get its reminder (the
// reminder loop ran).
func TestShortLivedInventoryHasNoRotationNoise(t *testing.T) {
	clk := fakeclock.New(epoch)
	m := &minter{clock: clk, life: time.Minute}
	b := newBackend()
	// "old" enters its 14-day reminder window 5 minutes in.
	b.set("old", keyA, func(v *credential.Version) { v.Created = epoch.Add(-76*24*time.Hour + 5*time.Minute) })
	meta := credential.Metadata{Owner: "ml", Purpose: "chat", Environment: "production", System: "api.example.com"}
	old := prodMeta("ml")
	s, err := rotate.Open(context.Background(), mixed{mint: describedMinter{m}, fixed: b}, []rotate.Config{
		{Name: "token", URL: "mint://token", Metadata: meta},
		{Name: "old", URL: "fake://old", Metadata: old},
	}, rotate.WithClock(clk), rotate.WithInterval(24*time.Hour, 0), rotate.WithReminders(14*24*time.Hour, 10*time.Second))
	require.NoError(t, err)
	defer s.Close()
	var reminders sync.Map // name -> count
	s.OnEvent(func(e rotate.Event) {
		if e.Kind == rotate.EventRotationDue || e.Kind == rotate.EventRotationOverdue {
			n, _ := reminders.LoadOrStore(e.Name, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		}
	})
	for i := 0; i < 600; i++ {
		clk.Advance(time.Second)
		require.True(t, clk.WaitTimers(waitCtx(t), 3), "at +%ds the Set did not go back to sleep", i+1)
		it, ok := s.Item("token")
		require.True(t, ok)
		require.True(t, it.ShortLived, "at +%ds", i+1)
		require.Equal(t, time.Minute, it.TTL)
		require.True(t, it.Metadata.ShortLived)
		require.False(t, it.DueSoon || it.Overdue, "at +%ds the token is due: %v", i+1, it.RotationDue)
		require.Zero(t, it.RotationDue, "a token's expiry is not a rotation due date")
		require.Empty(t, it.Findings, "a token needs no rotation period")
		require.True(t, it.Expires.After(clk.Now()), "the row shows the current token's expiry")
	}
	assert.GreaterOrEqual(t, m.n.Load(), int32(13), "the token was refreshed all along")
	it, _ := s.Item("token")
	assert.Equal(t, "https://auth.example.com/oauth/token", it.Issuer)
	assert.Equal(t, "system:serviceaccount:ai:bot", it.Subject)
	_, tokenReminded := reminders.Load("token")
	assert.False(t, tokenReminded, "a rotation reminder fired for a token")
	n, ok := reminders.Load("old")
	require.True(t, ok, "the static key entering its window got no reminder: the loop did not run")
	assert.EqualValues(t, 1, n.(*atomic.Int32).Load())
	oldRow, _ := s.Item("old")
	assert.False(t, oldRow.ShortLived)
}

// Issue 17: a short-lived credential whose backend reports a next
// rotation (a Vault lease replaced at its max TTL) has no rotation due
// date from it either: credkit replaces it; a configured rotation period
// and the metadata's Expires (the identity's own expiry) still count.
func TestShortLivedNextRotationIsNotDue(t *testing.T) {
	clk := fakeclock.New(epoch)
	b := newBackend()
	b.set("lease", keyA, func(v *credential.Version) { v.Created, v.Expires = epoch, epoch.Add(time.Hour) })
	b.set("lease2", keyB, func(v *credential.Version) { v.Created, v.Expires = epoch, epoch.Add(time.Hour) })
	b.desc["lease"] = credential.Description{Metadata: credential.Metadata{ShortLived: true}, RotationEnabled: true, LastRotated: epoch, NextRotation: epoch.Add(2 * time.Hour)}
	b.desc["lease2"] = b.desc["lease"]
	s, err := rotate.Open(context.Background(), resolver{described{b}}, []rotate.Config{
		{Name: "lease", URL: "fake://lease"},
		{Name: "lease2", URL: "fake://lease2", Metadata: credential.Metadata{Expires: epoch.Add(3 * 24 * time.Hour)}},
	}, rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	defer s.Close()
	it, _ := s.Item("lease")
	assert.True(t, it.ShortLived)
	assert.Zero(t, it.RotationDue)
	assert.False(t, it.DueSoon)
	it2, _ := s.Item("lease2")
	assert.Equal(t, epoch.Add(3*24*time.Hour), it2.RotationDue, "the metadata's Expires still counts")
	assert.True(t, it2.DueSoon)
}

// Issue 17: a version that expires but lives longer than ShortLivedTTL (a
// Key Vault secret with an expiry date) is a key with an expiry, not a
// token: its expiry stays its rotation due date, and a key without a
// rotation period is still flagged.
func TestLongLivedExpiryStaysDue(t *testing.T) {
	clk := fakeclock.New(epoch)
	b := newBackend()
	b.set("kv", keyA, func(v *credential.Version) { v.Created, v.Expires = epoch, epoch.Add(10*24*time.Hour) })
	s, err := rotate.Open(context.Background(), resolver{b}, []rotate.Config{{Name: "kv", URL: "fake://kv"}},
		rotate.WithClock(clk), rotate.WithInterval(time.Hour, 0))
	require.NoError(t, err)
	defer s.Close()
	it, _ := s.Item("kv")
	assert.False(t, it.ShortLived)
	assert.Equal(t, 10*24*time.Hour, it.TTL)
	assert.Equal(t, epoch.Add(10*24*time.Hour), it.RotationDue)
	assert.True(t, it.DueSoon)
	assert.Contains(t, it.Findings, "no rotation period")
}
