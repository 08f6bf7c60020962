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
