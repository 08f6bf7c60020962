package vault_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credkit/credkit/internal/vaultfake"
	"github.com/credkit/credkit/provider/vault"
	"github.com/credkit/credkit/rotate"
)

// waitTimers waits (in real time, at most 10 s) until n timers are armed
// on the fake clock: every goroutine under test is idle again.
func waitTimers(t *testing.T, clk interface {
	WaitTimers(context.Context, int) bool
}, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !clk.WaitTimers(ctx, n) {
		t.Fatalf("the goroutines under test did not re-arm their timers: %d armed, want %d", clk.(interface{ Timers() int }).Timers(), n)
	}
}

// TestDynamicSecretOverThreeMaxTTLCycles watches a database secret's
// username and password as two rotate credentials for three max-TTL cycles
// of its lease (TTL 1h, max TTL 3h10m) on a fake clock: renewed at two
// thirds of each TTL, replaced before the max TTL, never served expired,
// both fields always from one lease, and working at the database (the
// lease is valid) at every step.
func TestDynamicSecretOverThreeMaxTTLCycles(t *testing.T) {
	fake, clk, p := setup(t)
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 190 * time.Minute})
	lp := p.Leases()
	ctx := context.Background()
	opts := []rotate.Option{rotate.WithClock(clk), rotate.WithInterval(time.Minute, 0), rotate.WithRefreshAhead(0.95, time.Minute)}
	user, err := rotate.Watch(ctx, "db-user", lp, "database/creds/readonly#username", opts...)
	require.NoError(t, err)
	defer user.Close()
	pass, err := rotate.Watch(ctx, "db-pass", lp, "database/creds/readonly#password", opts...)
	require.NoError(t, err)
	defer pass.Close()
	rotated := make(chan string, 64)
	user.OnRotate(func(rotate.Event) { rotated <- "user" })
	pass.OnRotate(func(rotate.Event) { rotated <- "pass" })

	const timers = 3 // the lease keeper and two rotate loops
	waitTimers(t, clk, timers)
	uv, _ := user.Version()
	seen := vault.LeaseOf(uv.ID)
	var (
		steps, switches           int
		maxAge, minLeft, minSpare time.Duration = 0, time.Hour * 24, time.Hour * 24
	)
	for p.LeaseStats().Replacements < 3 {
		require.Less(t, clk.Now().Sub(t0), 12*time.Hour, "three cycles take under 10 hours")
		before, _ := user.Version()
		clk.AdvanceToNext()
		waitTimers(t, clk, timers)
		steps++
		ls := fake.Leases()
		cur := ls[len(ls)-1]
		now := clk.Now()
		if cur.ID != seen {
			// The provider read a new secret: both credentials move to it.
			got := map[string]bool{}
			for !got["user"] || !got["pass"] {
				select {
				case n := <-rotated:
					got[n] = true
				case <-time.After(10 * time.Second):
					t.Fatalf("cycle %d: a credential did not move to the new lease", switches+1)
				}
			}
			require.True(t, now.Before(before.Expires), "replaced before the old lease expired")
			minSpare = min(minSpare, before.Expires.Sub(now))
			seen = cur.ID
			switches++
		}
		u, err := user.Get(ctx)
		require.NoError(t, err, "never served expired (step %d)", steps)
		pw, err := pass.Get(ctx)
		require.NoError(t, err, "never served expired (step %d)", steps)
		uv, _ := user.Version()
		pv, _ := pass.Version()
		require.Equal(t, vault.LeaseOf(uv.ID), vault.LeaseOf(pv.ID), "username and password from one lease (step %d)", steps)
		require.True(t, fake.LeaseValid(vault.LeaseOf(uv.ID)), "the served lease works at the database (step %d)", steps)
		var li vaultfake.LeaseInfo
		for _, l := range ls {
			if l.ID == vault.LeaseOf(uv.ID) {
				li = l
			}
		}
		require.True(t, u.Reveal() == li.Username && pw.Reveal() == li.Password, "the values are that lease's (step %d)", steps)
		require.True(t, now.Before(uv.Expires))
		maxAge = max(maxAge, now.Sub(uv.Created))
		minLeft = min(minLeft, uv.Expires.Sub(now))
	}
	st := p.LeaseStats()
	renews := fake.Calls("PUT sys/leases/renew")
	reads := fake.Calls("GET database/creds/readonly")
	t.Logf("3 max-TTL cycles (TTL 1h, max TTL 3h10m) in %v of fake time, %d steps: %d renewals (%d renew calls), %d replacements, %d secrets read; max served age %v, least time left on a served lease %v, least time left on the old lease at a switch %v",
		clk.Now().Sub(t0), steps, st.Renewals, renews, st.Replacements, reads, maxAge, minLeft, minSpare)
	assert.EqualValues(t, 12, st.Renewals, "4 renewals per lease: at ~40, ~80, ~120 min, then one that hits the max TTL")
	assert.Equal(t, 12, renews)
	assert.Equal(t, 4, reads, "one secret per cycle, plus the one in use now: never one per credential or per check")
	assert.Equal(t, 3, switches)
	assert.Less(t, maxAge, 190*time.Minute, "no lease is served past its max TTL")
	assert.Greater(t, minSpare, 5*time.Minute, "the old lease still had minutes left when both credentials moved")
}

// TestLeaseRevokedIsReplaced: a lease revoked behind the provider's back
// (sys/leases/revoke by an operator) fails its next renewal, and a new
// secret is read at once.
func TestLeaseRevokedIsReplaced(t *testing.T) {
	fake, clk, p := setup(t)
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour})
	ctx := context.Background()
	v1, err := p.Fetch(ctx, "database/creds/readonly#username")
	require.NoError(t, err)
	waitTimers(t, clk, 1)
	// Revoke through the API, as an operator would.
	c := fake.Client(fake.RootToken())
	_, err = c.Logical().Write("sys/leases/revoke", map[string]any{"lease_id": vault.LeaseOf(v1.ID)})
	require.NoError(t, err)
	clk.AdvanceToNext() // the renewal: refused, so the secret is read again
	waitTimers(t, clk, 1)
	v2, err := p.Fetch(ctx, "database/creds/readonly#username")
	require.NoError(t, err)
	assert.NotEqual(t, vault.LeaseOf(v1.ID), vault.LeaseOf(v2.ID))
	assert.True(t, fake.LeaseValid(vault.LeaseOf(v2.ID)))
	assert.EqualValues(t, 1, p.LeaseStats().Replacements)
}

// TestRevokeOnClose: by default Close keeps the leases; WithRevokeOnClose
// revokes them.
func TestRevokeOnClose(t *testing.T) {
	for _, revoke := range []bool{false, true} {
		fake, _, _ := setup(t)
		fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 3 * time.Hour})
		var opts []vault.Option
		if revoke {
			opts = append(opts, vault.WithRevokeOnClose())
		}
		p := vault.New(fake.Client(fake.RootToken()), opts...)
		v, err := p.Fetch(context.Background(), "database/creds/readonly#password")
		require.NoError(t, err)
		require.NoError(t, p.Close())
		require.NoError(t, p.Close(), "idempotent")
		assert.Equal(t, !revoke, fake.LeaseValid(vault.LeaseOf(v.ID)), "revoke on close: %v", revoke)
		_, err = p.Fetch(context.Background(), "database/creds/readonly#password")
		assert.Error(t, err, "closed")
	}
}

// TestDynamicDescribe reports the lease's facts.
func TestDynamicDescribe(t *testing.T) {
	fake, _, p := setup(t)
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 3 * time.Hour})
	d, err := p.Describe(context.Background(), "database/creds/readonly#username")
	require.NoError(t, err)
	assert.True(t, d.RotationEnabled)
	assert.Equal(t, t0, d.LastRotated)
	assert.Equal(t, "1h0m0s", d.Metadata.Tags["vault_lease_ttl"])
	assert.Equal(t, t0.Add(time.Hour).Format(time.RFC3339), d.Metadata.Tags["vault_lease_expires"])
	assert.Equal(t, 1, fake.Calls("GET database/creds/readonly"), "Describe shares the lease")
}

// TestIdleLeaseIsLetGo: a lease nobody fetched or checked for a whole TTL
// is no longer renewed, and no new secret is read for it; the next Fetch
// reads one.
func TestIdleLeaseIsLetGo(t *testing.T) {
	letGo := make(chan struct{}, 1)
	logger := slog.New(signalHandler{msg: "no longer renewed", ch: letGo})
	fake, clk, p := setup(t, vault.WithLogger(logger))
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour})
	ctx := context.Background()
	v1, err := p.Fetch(ctx, "database/creds/readonly#username")
	require.NoError(t, err)
	waitTimers(t, clk, 1)
	clk.AdvanceToNext() // ~40 min: renewed, idle for less than its TTL
	waitTimers(t, clk, 1)
	assert.Equal(t, 1, fake.Calls("PUT sys/leases/renew"))
	clk.AdvanceToNext() // ~80 min: idle for over its TTL
	select {
	case <-letGo:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle lease was not let go")
	}
	assert.Equal(t, 0, p.LeaseStats().Active)
	assert.Equal(t, 1, fake.Calls("PUT sys/leases/renew"), "not renewed again")
	assert.Equal(t, 1, fake.Calls("GET database/creds/readonly"), "and not replaced")
	v2, err := p.Fetch(ctx, "database/creds/readonly#username")
	require.NoError(t, err)
	assert.NotEqual(t, vault.LeaseOf(v1.ID), vault.LeaseOf(v2.ID), "a new lease for the next Fetch")
}

// signalHandler is a slog.Handler that signals ch when a record's message
// contains msg.
type signalHandler struct {
	msg string
	ch  chan struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.msg) {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }
