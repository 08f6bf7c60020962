package vaultfake_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/vaultfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

func status(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// The fake enforces token TTLs and max TTLs on its clock, as Vault does.
func TestTokenTTLAndMaxTTL(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	fake := vaultfake.New(clk)
	defer fake.Close()
	c := fake.Client(fake.Token(10*time.Minute, 15*time.Minute))
	s, err := c.Auth().Token().RenewSelf(600)
	require.NoError(t, err)
	assert.Equal(t, 600, s.Auth.LeaseDuration)
	clk.Advance(8 * time.Minute)
	s, err = c.Auth().Token().RenewSelf(600)
	require.NoError(t, err)
	assert.Equal(t, 420, s.Auth.LeaseDuration, "capped at the max TTL")
	clk.Advance(7 * time.Minute)
	_, err = c.Auth().Token().LookupSelf()
	assert.Equal(t, 403, status(err), "expired at the max TTL")
}

// A deleted or destroyed KV v2 version answers 404 with its metadata, and
// the real client returns no error and no data for it.
func TestKV2DeletedVersionBody(t *testing.T) {
	fake := vaultfake.New(nil)
	defer fake.Close()
	c := fake.Client(fake.RootToken())
	fake.Put("secret", "a", map[string]any{"value": "FAKE-1"})
	fake.SoftDelete("secret", "a")
	s, err := c.Logical().Read("secret/data/a")
	require.NoError(t, err)
	require.NotNil(t, s)
	assert.Nil(t, s.Data["data"])
	md := s.Data["metadata"].(map[string]any)
	assert.NotEmpty(t, md["deletion_time"])
	fake.Destroy("secret", "a")
	s, _ = c.Logical().Read("secret/data/a")
	assert.Equal(t, true, s.Data["metadata"].(map[string]any)["destroyed"])
}

// Denials, seals and faults answer as Vault does, and are counted.
func TestDenySealFault(t *testing.T) {
	fake := vaultfake.New(nil)
	defer fake.Close()
	c := fake.Client(fake.RootToken())
	fake.Mount("kv1", 1)
	_, err := c.Logical().Write("kv1/a", map[string]any{"value": "FAKE-1"})
	require.NoError(t, err)
	fake.Deny("kv1/a")
	_, err = c.Logical().Read("kv1/a")
	assert.Equal(t, 403, status(err))
	fake.Allow("kv1/a")
	fake.Inject(vaultfake.Fault{Path: "kv1/", Status: 429, RetryAfter: 2 * time.Second, Times: 1})
	_, err = c.Logical().Read("kv1/a")
	assert.Equal(t, 429, status(err))
	s, err := c.Logical().Read("kv1/a")
	require.NoError(t, err)
	assert.Equal(t, "FAKE-1", s.Data["value"])
	fake.Seal()
	_, err = c.Logical().Read("kv1/a")
	assert.Equal(t, 503, status(err))
	assert.Equal(t, 4, fake.Calls("GET kv1/a"))
	assert.Equal(t, 0, fake.Calls("GET kv1/b"))
}

// recorder is a DBPlugin that keeps the users it was asked to create and
// drop, and can refuse to create one.
type recorder struct {
	users   map[string]time.Time // username -> VALID UNTIL
	dropped []string
	refuse  bool
}

func (r *recorder) NewUser(username, _ string, exp time.Time) error {
	if r.refuse {
		return errors.New("database down")
	}
	r.users[username] = exp
	return nil
}

func (r *recorder) RenewUser(username string, exp time.Time) error {
	r.users[username] = exp
	return nil
}

func (r *recorder) RevokeUser(username string) error {
	delete(r.users, username)
	r.dropped = append(r.dropped, username)
	return nil
}

// With a DBPlugin the engine creates the user before handing out its
// credentials, extends it at renewal, and drops it when the lease is
// revoked or, through Expire, when its time is up.
func TestDBPluginLifecycle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := fakeclock.New(t0)
	fake := vaultfake.New(clk)
	defer fake.Close()
	rec := &recorder{users: map[string]time.Time{}}
	fake.DBRole("app", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, Plugin: rec})
	c := fake.Client(fake.RootToken())

	a, err := c.Logical().Read("database/creds/app")
	require.NoError(t, err)
	ua := a.Data["username"].(string)
	assert.Equal(t, t0.Add(time.Hour), rec.users[ua], "created with the lease's expiry")
	b, err := c.Logical().Read("database/creds/app")
	require.NoError(t, err)
	ub := b.Data["username"].(string)

	clk.Advance(30 * time.Minute)
	_, err = c.Sys().Renew(a.LeaseID, 3600)
	require.NoError(t, err)
	assert.Equal(t, t0.Add(90*time.Minute), rec.users[ua], "renewal extends the user")

	require.NoError(t, c.Sys().Revoke(b.LeaseID))
	assert.Equal(t, []string{ub}, rec.dropped, "revocation drops the user")

	n, err := fake.Expire()
	require.NoError(t, err)
	assert.Zero(t, n, "nothing has expired yet")
	clk.Advance(time.Hour)
	n, err = fake.Expire()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []string{ub, ua}, rec.dropped, "the expired lease's user is dropped")
	assert.Empty(t, rec.users)

	rec.refuse = true
	_, err = c.Logical().Read("database/creds/app")
	assert.Equal(t, 500, status(err), "no credentials when the user could not be created")
	assert.Len(t, fake.Leases(), 2, "and no lease")
}
